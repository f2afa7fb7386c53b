"""The captures, newest first, filtered and paged: what `custody list` prints and the
workbench's list shows.

Each filter is an indexed lookup: a site or a language is read from its facet's index
(index/listing.py) in the order of the list, a case's or a tag's captures from theirs, a
status or a time from the captures' own; so a page costs index lookups at 100,000
captures as at a hundred, and the total shown beside it counts index entries. A page's
rows are then completed (title, cases, tags, notes) with a few lookups each.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..core.archive import Archive
from ..core.errors import UsageError
from ..index.annotation import fold
from ..index.listing import site_key
from ..index.search import check_date, check_language
from .cases import find_case
from .recording import reading

STATUSES = ("complete", "partial", "failed", "interrupted", "imported", "imported-damaged")
LIMIT_MAX = 1_000


@dataclass
class CaptureFilters:
    case: str | None = None  # a case's id or name
    tag: str | None = None
    site: str | None = None  # a host; its subdomains count too
    since: str | None = None  # YYYY-MM-DD or an ISO time, UTC: started at or after
    until: str | None = None  # started before the end of that day (or that time)
    language: str | None = None  # a page in this language (ISO 639-1)
    status: str | None = None
    imported: bool | None = None  # True: imported files only; False: captures made here


@dataclass(frozen=True)
class CaptureRow:
    id: str
    started_at: str
    finished_at: str | None
    seed_url: str
    final_url: str | None
    status: str
    imported: bool
    responses: int | None
    documents: int | None
    failures: int | None
    operator: str | None
    title: str | None  # of its final URL's page, or else of its first page
    language: str | None
    cases: list[str] = field(default_factory=list)  # names
    tags: list[str] = field(default_factory=list)
    notes: int = 0  # standing notes


@dataclass(frozen=True)
class CapturePage:
    total: int  # captures that match, on every page
    limit: int
    offset: int
    captures: list[CaptureRow]


@dataclass(frozen=True)
class Query:
    """The filters as SQL: what to read (``captures c``, or one facet's index joined to
    it), the conditions, their values, and the order that reads the index as it lies."""

    source: str
    where: str
    params: list[Any]
    order: str
    counted: str  # what the total counts: the facet's index alone, when no clause needs c

def query_of(conn: sqlite3.Connection, filters: CaptureFilters) -> Query:
    """The filters as SQL (UsageError for one that is not well formed; NotFound for a case
    there is not). A site or a language is read from its facet's index, newest first, so
    a page of a filter that matches most captures stops at the page's end; when both are
    given, the one with fewer captures leads, the other is looked up."""
    facets: list[tuple[str, str]] = []
    if filters.site is not None:
        key = site_key(_host(filters.site))
        if not key:
            raise UsageError(f"--site {filters.site!r} is not a host name")
        facets.append(("site", key))
    if filters.language is not None:
        facets.append(("lang", str(check_language(filters.language))))
    clauses: list[str] = []
    params: list[Any] = []
    if len(facets) > 1:
        facets.sort(key=lambda f: conn.execute(
            "SELECT count(*) FROM capture_facets WHERE kind = ? AND value = ?", f).fetchone()[0])
    if facets:
        source, order = "capture_facets f JOIN captures c ON c.id = f.capture_id", \
            "f.started_at DESC, f.capture_id DESC"
        clauses.append("f.kind = ? AND f.value = ?")
        params += facets[0]
        time, cid = "f.started_at", "f.capture_id"
    else:
        source, order = "captures c", "c.started_at DESC, c.id DESC"
        time, cid = "c.started_at", "c.id"
    for kind, value in facets[1:]:
        clauses.append(f"EXISTS (SELECT 1 FROM capture_facets g WHERE g.capture_id = {cid} "
                       "AND g.kind = ? AND g.value = ?)")
        params += [kind, value]
    if filters.case is not None:
        clauses.append(f"{cid} IN (SELECT capture_id FROM case_captures WHERE case_id = ?)")
        params.append(find_case(conn, filters.case).id)
    if filters.tag is not None:
        clauses.append(f"{cid} IN (SELECT capture_id FROM tags WHERE tag_key = ?)")
        params.append(fold(filters.tag))
    since = check_date(filters.since, "--since")
    if since is not None:
        clauses.append(f"{time} >= ?")
        params.append(since)
    until = check_date(filters.until, "--until")
    if until is not None and len(until) == 10:  # a date takes in the whole day
        clauses.append(f"{time} < ?")
        params.append(_day_after(until))
    elif until is not None:
        clauses.append(f"{time} <= ?")
        params.append(until)
    if filters.status is not None:
        if filters.status not in STATUSES:
            raise UsageError(f"a capture's status is one of {', '.join(STATUSES)}; not "
                             f"{filters.status!r}")
        clauses.append("c.status = ?")
        params.append(filters.status)
    if filters.imported is not None:
        clauses.append("c.status " + ("IN" if filters.imported else "NOT IN") +
                       " ('imported', 'imported-damaged')")
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    on_captures = filters.status is not None or filters.imported is not None
    counted = "capture_facets f" if facets and not on_captures else source
    return Query(source, where, params, order, counted)


def _host(site: str) -> str:
    text = site.strip().lower()
    for scheme in ("https://", "http://"):
        text = text.removeprefix(scheme)
    return text.split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]


def _day_after(day: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def list_captures(archive: Archive, filters: CaptureFilters | None = None, *,
                  limit: int = 50, offset: int = 0) -> CapturePage:
    """A page of the captures that pass the filters, newest first."""
    if not 1 <= limit <= LIMIT_MAX or offset < 0:
        raise UsageError(f"a page holds 1 to {LIMIT_MAX} captures, from an offset of 0 or more")
    with reading(archive) as conn:
        q = query_of(conn, filters or CaptureFilters())
        total = conn.execute(f"SELECT count(*) FROM {q.counted}{q.where}",
                             q.params).fetchone()[0]
        rows = conn.execute(
            "SELECT c.id, c.started_at, c.finished_at, c.seed_url, c.final_url, c.status, "
            "c.status IN ('imported', 'imported-damaged'), c.responses, c.documents, "
            f"c.failures, c.operator FROM {q.source}{q.where} ORDER BY {q.order} "
            "LIMIT ? OFFSET ?", [*q.params, limit, offset]).fetchall()
        captures = complete_rows(conn, rows)
    return CapturePage(total, limit, offset, captures)


def complete_rows(conn: sqlite3.Connection, rows: list[Any]) -> list[CaptureRow]:
    """Rows of (id, started_at, finished_at, seed_url, final_url, status, imported,
    responses, documents, failures, operator) with their title, cases, tags and notes."""
    ids = [row[0] for row in rows]
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    titles = {row[0]: _title(conn, row[0], row[4]) for row in rows}
    cases: dict[str, list[str]] = {}
    for cid, name in conn.execute(
            f"SELECT cc.capture_id, k.name FROM case_captures cc JOIN cases k ON k.id = "
            f"cc.case_id WHERE cc.capture_id IN ({marks}) ORDER BY k.name_key", ids):
        cases.setdefault(cid, []).append(name)
    tags: dict[str, list[str]] = {}
    for cid, tag in conn.execute(f"SELECT capture_id, tag FROM tags WHERE capture_id IN "
                                 f"({marks}) ORDER BY tag_key", ids):
        tags.setdefault(cid, []).append(tag)
    notes = dict(conn.execute(
        f"SELECT capture_id, count(*) FROM notes WHERE capture_id IN ({marks}) AND "
        "retracted_seq IS NULL AND superseded_by IS NULL GROUP BY capture_id", ids).fetchall())
    return [CaptureRow(id=row[0], started_at=row[1], finished_at=row[2], seed_url=row[3],
                       final_url=row[4], status=row[5], imported=bool(row[6]),
                       responses=row[7], documents=row[8], failures=row[9], operator=row[10],
                       title=titles[row[0]][0], language=titles[row[0]][1],
                       cases=cases.get(row[0], []), tags=tags.get(row[0], []),
                       notes=notes.get(row[0], 0)) for row in rows]


def _title(conn: sqlite3.Connection, capture_id: str,
           final_url: str | None) -> tuple[str | None, str | None]:
    """The title and language of the capture's final page, or else of its first one: two
    lookups by index, whatever the number of pages."""
    row = conn.execute("SELECT title, language FROM documents WHERE url = ? AND "
                       "capture_id = ? ORDER BY id LIMIT 1", [final_url, capture_id]).fetchone()
    if row is None:
        row = conn.execute("SELECT title, language FROM documents WHERE capture_id = ? "
                           "ORDER BY id LIMIT 1", [capture_id]).fetchone()
    return (row[0], row[1]) if row else (None, None)
