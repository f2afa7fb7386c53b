"""The captures list: newest first (to the second a capture began: its id's order),
filtered, a page at a time, at any size of archive.

Paging is by key, never by offset: a page is "the next N captures older than the last
one shown" (``after``) or "newer than the first" (``before``), found by the captures'
primary key, whose ids begin with the capture's UTC start time -- so the first page and
the thousandth cost the same, and a date range is a range of keys. The other filters
are sets of capture ids read from an index (documents by language, resources by URL),
asked of each capture in key order until a page is full. A site is a host name, with
or without its ``www.``; its subdomains are other sites.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ..core.errors import NotFound, UsageError
from ..index.search import check_date, check_language

PAGE = 50
STATUSES = ("complete", "partial", "interrupted", "imported", "imported-damaged")
_ID_PREFIX = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


@dataclass
class Filters:
    site: str | None = None
    lang: str | None = None
    since: str | None = None  # YYYY-MM-DD or an ISO time, UTC
    until: str | None = None
    status: str | None = None
    imported: str | None = None  # "yes", "no" or None
    case: str | None = None  # a case's id (or its name, made its id by checked())
    tag: str | None = None

    @classmethod
    def from_query(cls, query: Any) -> Filters:
        def value(name: str) -> str | None:
            found = (query.get(name) or "").strip()
            return found or None

        return cls(site=value("site"), lang=value("lang"), since=value("since"),
                   until=value("until"), status=value("status"), imported=value("imported"),
                   case=value("case"), tag=value("tag"))

    def checked(self, conn: sqlite3.Connection | None = None) -> Filters:
        """The filters made canonical; UsageError naming the one that is not well formed
        (or, given the database, a case there is not)."""
        self.lang = check_language(self.lang)
        self.since = check_date(self.since, "since")
        self.until = check_date(self.until, "until")
        if self.status is not None and self.status not in STATUSES:
            raise UsageError(f"status {self.status!r}: one of {', '.join(STATUSES)}")
        if self.imported not in (None, "yes", "no"):
            raise UsageError("imported: yes or no")
        if self.site is not None:
            host = self.site.lower().strip().strip("/")
            host = host.removeprefix("https://").removeprefix("http://").split("/")[0]
            if not host or any(c in host for c in " %_\\\"'"):
                raise UsageError(f"site {self.site!r}: give a host name, as example.org")
            self.site = host
        if self.tag is not None and len(self.tag) > 200:
            raise UsageError("tag: at most 200 characters")
        if self.case is not None and conn is not None:
            from ..annotate.cases import find_case

            try:
                self.case = find_case(conn, self.case).id
            except NotFound as exc:
                raise UsageError(f"case {self.case!r}: there is no such case") from exc
        return self

    def as_query(self) -> dict[str, str]:
        return {k: v for k, v in (("site", self.site), ("lang", self.lang),
                                  ("since", self.since), ("until", self.until),
                                  ("status", self.status), ("imported", self.imported),
                                  ("case", self.case), ("tag", self.tag))
                if v}


@dataclass
class Row:
    id: str
    seed_url: str
    final_url: str
    started_at: str
    status: str
    responses: int
    documents: int
    failures: int
    title: str | None
    language: str | None
    operator: str


@dataclass
class Page:
    rows: list[Row]
    newer: str | None = None  # the first id shown, when there are newer captures
    older: str | None = None  # the last id shown, when there are older ones
    filters: Filters = field(default_factory=Filters)


def site_ranges(site: str) -> list[str]:
    """The URL ranges of a site's pages, as (from, before) pairs in one list: http and
    https, with or without its ``www.``, a path or a port after the host."""
    ranges = []
    for scheme in ("http", "https"):
        for host in dict.fromkeys([site, site.removeprefix("www."),
                                   "www." + site.removeprefix("www.")]):
            base = f"{scheme}://{host}"
            ranges += [base + "/", base + "0", base + ":", base + ";"]  # path or :port
    return ranges


def id_key(value: str) -> str:
    """A date or time (as check_date gives it) as the start of a capture id."""
    digits = re.sub(r"[^0-9]", "", value)
    if len(digits) == 8:
        return digits
    return f"{digits[:8]}T{digits[8:14]}Z"


COMMON = 2000  # rows of a value past which a page of its captures is found by asking each


def common(conn: sqlite3.Connection, rows: str, params: list[Any]) -> bool:
    """Whether more than COMMON rows have the value (counted no further, in the index)."""
    return conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {rows} LIMIT ?)",
                        [*params, COMMON + 1]).fetchone()[0] > COMMON


IMPORTED = {"yes": "c.status LIKE 'imported%'",  # the imported filter, as SQL
            "no": "c.status NOT LIKE 'imported%'"}


def time_bounds(filters: Filters) -> list[tuple[str, str]]:
    """The date filters as bounds on the capture ids, (operator, key): ids begin with
    the capture's UTC start time."""
    bounds = []
    if filters.since:
        bounds.append((">=", id_key(filters.since)))
    if filters.until:
        end = filters.until
        if len(end) == 10:  # a whole day: up to its end
            next_day = (date.fromisoformat(end) + timedelta(days=1)).isoformat()
            bounds.append(("<", id_key(next_day)))
        else:
            bounds.append(("<=", id_key(end) + "\uffff"))
    return bounds


def where(conn: sqlite3.Connection, filters: Filters) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for operator, key in time_bounds(filters):
        clauses.append(f"c.id {operator} ?")
        params.append(key)
    if filters.status:  # a rare status read from its index once (captures_status)
        if common(conn, "captures WHERE status = ?", [filters.status]):
            clauses.append("c.status = ?")
        else:  # (the statistics of a status most captures share would choose a scan)
            indexed = " INDEXED BY captures_status" if conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'captures_status'").fetchone() else ""
            clauses.append(f"+c.id IN (SELECT id FROM captures{indexed} WHERE status = ?)")
        params.append(filters.status)
    if filters.imported:
        clauses.append(IMPORTED[filters.imported])
    # a language or a site is asked of each capture in key order, through its rows'
    # index, when many captures have it (a page fills after a few); when few do, the few
    # are read from the value's own index once, and each capture is asked of that set
    # (the unary + keeps SQLite from walking the set and sorting it instead)
    if filters.lang:
        if common(conn, "documents WHERE language = ?", [filters.lang]):
            clauses.append("EXISTS (SELECT 1 FROM documents d WHERE d.capture_id = c.id "
                           "AND +d.language = ?)")
        else:
            clauses.append("+c.id IN (SELECT capture_id FROM documents WHERE language = ?)")
        params.append(filters.lang)
    if filters.site:
        ranges = site_ranges(filters.site)
        urls = " OR ".join("(url >= ? AND url < ?)" for _ in range(len(ranges) // 2))
        if common(conn, f"resources WHERE {urls}", ranges):
            clauses.append("EXISTS (SELECT 1 FROM resources r WHERE r.capture_id = c.id AND ("
                           + urls.replace("url", "+r.url") + "))")
        else:
            clauses.append(f"+c.id IN (SELECT capture_id FROM resources WHERE {urls})")
        params += ranges
    # a tag's or a case's captures: from its own index (tags_tag; the primary key of
    # case_captures), read once when few, asked of each capture in key order when many
    if filters.tag:
        from ..index.annotation import fold

        key = fold(filters.tag)
        if common(conn, "tags WHERE tag_key = ?", [key]):
            clauses.append("EXISTS (SELECT 1 FROM tags t WHERE t.capture_id = c.id AND "
                           "t.tag_key = ?)")
        else:
            clauses.append("+c.id IN (SELECT capture_id FROM tags WHERE tag_key = ?)")
        params.append(key)
    if filters.case:
        if common(conn, "case_captures WHERE case_id = ?", [filters.case]):
            clauses.append("EXISTS (SELECT 1 FROM case_captures k WHERE k.case_id = ? AND "
                           "k.capture_id = c.id)")
        else:
            clauses.append("+c.id IN (SELECT capture_id FROM case_captures WHERE "
                           "case_id = ?)")
        params.append(filters.case)
    return clauses, params


_FIRST = ("coalesce((SELECT d.{0} FROM documents d WHERE d.capture_id = c.id AND "
          "d.url = c.final_url AND d.title <> '' LIMIT 1), (SELECT d.{0} FROM documents d "
          "WHERE d.capture_id = c.id AND d.title <> '' ORDER BY d.id LIMIT 1))")
COLUMNS = ("c.id, c.seed_url, c.final_url, c.started_at, c.status, c.responses, "
            "c.documents, c.failures, "
            # the title of the page the capture's URL led to, else of its first page
            f"{_FIRST.format('title')}, {_FIRST.format('language')}, c.operator")


def captures(conn: sqlite3.Connection, filters: Filters, *, after: str | None = None,
             before: str | None = None, size: int = PAGE) -> Page:
    """A page of captures, newest first: those older than ``after``, or newer than
    ``before``, or the newest."""
    check_keys(after, before)
    clauses, params = where(conn, filters)
    if before is not None:
        clauses.append("c.id > ?")
        params.append(before)
        order = "ASC"
    else:
        if after is not None:
            clauses.append("c.id < ?")
            params.append(after)
        order = "DESC"
    sql = (f"SELECT {COLUMNS} FROM captures c"
           + (" WHERE " + " AND ".join(clauses) if clauses else "")
           + f" ORDER BY c.id {order} LIMIT ?")
    found = [Row(*row) for row in conn.execute(sql, [*params, size + 1]).fetchall()]
    return paged(found, filters, after=after, before=before, size=size)


def check_keys(*keys: str | None) -> None:
    for key in keys:
        if key is not None and not _ID_PREFIX.match(key):
            raise UsageError(f"{key!r} is not a capture id")


def paged(found: list[Row], filters: Filters, *, after: str | None, before: str | None,
          size: int) -> Page:
    """A page from up to ``size`` + 1 rows read in key order (ascending when paging
    ``before``): whether there are newer and older captures, by the one more."""
    more = len(found) > size
    found = found[:size]
    if before is not None:
        found.reverse()
        return Page(found, newer=found[0].id if more and found else None,
                    older=found[-1].id if found else None, filters=filters)
    return Page(found, newer=found[0].id if after is not None and found else None,
                older=found[-1].id if more and found else None, filters=filters)


def rows_of(conn: sqlite3.Connection, ids: list[str]) -> dict[str, Row]:
    """The rows custody.db gives these captures (those it holds)."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return {row[0]: Row(*row) for row in conn.execute(
        f"SELECT {COLUMNS} FROM captures c WHERE c.id IN ({marks})", ids)}


@dataclass
class Labels:
    cases: list[tuple[str, str]] = field(default_factory=list)  # (id, name)
    tags: list[str] = field(default_factory=list)


def labels(conn: sqlite3.Connection, ids: list[str]) -> dict[str, Labels]:
    """The cases and tags of the captures shown: two lookups by index for a page."""
    out = {cid: Labels() for cid in ids}
    if not ids or not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'tags'") \
            .fetchone():  # (a custody.db older than cases: custody reindex adds them)
        return out
    marks = ",".join("?" * len(ids))
    for cid, case_id, name in conn.execute(
            f"SELECT cc.capture_id, k.id, k.name FROM case_captures cc JOIN cases k ON "
            f"k.id = cc.case_id WHERE cc.capture_id IN ({marks}) ORDER BY k.name_key", ids):
        out[cid].cases.append((case_id, name))
    for cid, tag in conn.execute(f"SELECT capture_id, tag FROM tags WHERE capture_id IN "
                                 f"({marks}) ORDER BY tag_key", ids):
        out[cid].tags.append(tag)
    return out


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM captures").fetchone()[0])
