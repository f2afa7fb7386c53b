"""The workbench over a team's shared index (``custody serve --db postgresql://...``): the
captures list, its filters and search read from PostgreSQL, which every worker copies
its sealed captures into, so the workbench shows what was sealed on any machine.

What is this archive's own stays read from it: cases and tags (signed events in its
custody log, indexed in its custody.db) filter and label the list, and a capture's page
is made from its sealed files. A capture the shared index holds and this folder does not
(sealed by a worker into the object store, not pulled here yet) gets a page from the
index's rows, which says so and how to bring its files here.

The same SQL as custody.db's, with every comparison of ids and URLs in the "C"
collation (code point order, as SQLite compares), whatever locale the server was made
with; each page is one read-only transaction with a statement timeout, on connections
kept between requests."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ArchiveError, first_line
from ..index import postgres
from . import listing

TIMEOUT = 10.0  # seconds a page's statements may take (CUSTODY_TEST_INDEX_TIMEOUT: tests)
KEPT = 4  # idle connections kept


class IndexAway(ArchiveError):
    """The shared index did not answer, or refused a read."""


class SharedIndex:
    def __init__(self, url: str) -> None:
        self.url = postgres.check_url(url)
        self.shown = postgres.shown(url)
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self.timeout = float(os.environ.get("CUSTODY_TEST_INDEX_TIMEOUT") or TIMEOUT)

    def open(self) -> None:
        """Connect once (the tables are made when the index is new): ArchiveError when
        PostgreSQL does not answer, before the workbench starts."""
        self._idle.append(postgres.connect(self.url))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """A connection in a read-only transaction; IndexAway, one line, when PostgreSQL
        is away or refuses (the connection is then dropped, and the next page connects
        again)."""
        import psycopg

        conn = None
        watchdog = postgres.Watchdog(self.timeout + 5)  # a server that stops answering
        try:
            conn = self._ready(watchdog)
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                conn.execute(f"SET LOCAL statement_timeout = {int(self.timeout * 1000)}")
                yield conn
        except psycopg.Error as exc:
            self._drop(conn)
            raise IndexAway("the shared index (PostgreSQL) did not answer: "
                            f"{first_line(exc, 300)}",
                            where=self.shown) from exc
        except BaseException:
            self._drop(conn)
            raise
        finally:
            watchdog.stop()
        with self._lock:
            if len(self._idle) < KEPT:
                self._idle.append(conn)
                return
        conn.close()

    def _ready(self, watchdog: postgres.Watchdog) -> Any:
        """A kept connection that still answers, else a new one (a PostgreSQL that was
        restarted leaves every kept connection dead: they all go)."""
        import psycopg

        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is not None:
            watchdog.watch(conn, most=5.0)  # (a kept connection's check is quick or dead)
            try:
                conn.execute("SELECT 1")
                return conn
            except psycopg.Error:
                self._drop(conn)
                self.close()
        conn = psycopg.connect(self.url, connect_timeout=5, autocommit=True)
        watchdog.watch(conn)
        return conn

    def _drop(self, conn: Any) -> None:
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def captures(self, filters: listing.Filters, chosen: list[str] | None, *,
                 after: str | None = None, before: str | None = None,
                 size: int = listing.PAGE) -> listing.Page:
        """A page of captures, newest first, as listing.captures gives custody.db's.
        ``chosen``: the capture ids a case or a tag of this archive names (None: any)."""
        listing.check_keys(after, before)
        clauses, params = where(filters, chosen)
        order = "DESC"
        if before is not None:
            clauses.append('c.id COLLATE "C" > %s')
            params.append(before)
            order = "ASC"
        elif after is not None:
            clauses.append('c.id COLLATE "C" < %s')
            params.append(after)
        sql = (f"SELECT {listing.COLUMNS} FROM captures c"
               + (" WHERE " + " AND ".join(clauses) if clauses else "")
               + f' ORDER BY c.id COLLATE "C" {order} LIMIT %s')
        with self.reading() as conn:
            rows = conn.execute(sql, [*params, size + 1]).fetchall()
        found = [_row(*row) for row in rows]
        return listing.paged(found, filters, after=after, before=before, size=size)

    def count(self) -> int:
        """The index's rows (those of ids custody never makes too: a count by the id
        pattern reads every row, 0.3 s at 100,000)."""
        with self.reading() as conn:
            return int(conn.execute("SELECT count(*) FROM captures").fetchone()[0])

    def search(self, words: str, filters: Any, *, limit: int, offset: int) -> Any:
        """custody search in the shared index: hits with marked snippets, the newest
        WINDOW matches ranked as in custody.db (all of them for a page past it)."""
        from ..index.postgres_search import search_rows
        from ..index.search import WINDOW, found_in

        window = WINDOW if offset + limit <= WINDOW else None
        with self.reading() as conn:
            rows = search_rows(conn, words, filters, window=window, limit=limit,
                               offset=offset)
        return found_in(rows, words, window, marked=True)

    def capture(self, capture_id: str) -> Held | None:
        """What the shared index holds of a capture; None when it holds nothing."""
        with self.reading() as conn:
            row = conn.execute(
                f"SELECT {', '.join(postgres.CAPTURE_COLUMNS)} FROM captures WHERE id = %s",
                [capture_id]).fetchone()
            if row is None:
                return None
            held = Held({k: "" if v is None else v[:URL_MOST] if isinstance(v, str) else v
                         for k, v in zip(postgres.CAPTURE_COLUMNS, row, strict=True)})
            held.pages = [dict(zip(("url", "title", "language", "source", "text_sha256",
                                    "fetched_at"), r, strict=True)) for r in conn.execute(
                "SELECT d.url, d.title, d.language, d.source, d.text_sha256, r.fetched_at "
                "FROM documents d LEFT JOIN resources r ON r.id = d.resource_id "
                "WHERE d.capture_id = %s ORDER BY d.id", [capture_id])]
            held.failures = [dict(zip(("url", "kind", "reason"), r, strict=True))
                             for r in conn.execute(
                "SELECT url, kind, reason FROM failures WHERE capture_id = %s ORDER BY id",
                [capture_id])]
        for row_of in (*held.pages, *held.failures):  # whatever the index holds, shown
            for name, value in row_of.items():
                row_of[name] = (value or "")[:TITLE_MOST if name == "title" else URL_MOST]
        final = held.row.get("final_url")  # as the list titles it: the page it led to
        titled = [p for p in held.pages if p["title"]]
        chosen = next((p for p in titled if p["url"] == final), titled[0] if titled else None)
        if chosen is not None:
            held.title, held.language = chosen["title"], chosen["language"]
        return held


CAPTURE_ID = r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$"
TITLE_MOST = 2000  # characters of a title the index gives (custody cuts <title> there)
URL_MOST = 4000  # characters of a URL the index gives, shown


def _row(cid: str, seed: str | None, final: str | None, started: str | None,
         status: str | None, responses: int | None, documents: int | None,
         failures: int | None, title: str | None, language: str | None,
         operator: str | None) -> listing.Row:
    """A list row from the index's columns, whatever it holds: anyone who can write to
    the index can write NULLs and megabytes there."""
    seed, final = (seed or "")[:URL_MOST], (final or seed or "")[:URL_MOST]
    return listing.Row(cid, seed, final, (started or "")[:40], (status or "")[:40],
                       responses or 0, documents or 0, failures or 0,
                       title[:TITLE_MOST] if title else None,
                       language[:20] if language else None, (operator or "")[:500])


@dataclass
class Held:
    """A capture as the shared index holds it: its captures row, its pages' documents
    and its failures."""

    row: dict[str, Any]
    pages: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    title: str | None = None  # of the page its URL led to, else of its first page
    language: str | None = None


def where(filters: listing.Filters, chosen: list[str] | None) -> tuple[list[str], list[Any]]:
    """listing.where's filters in PostgreSQL's SQL, ids and URLs compared by code point."""
    clauses: list[str] = ['c.id COLLATE "C" ~ %s']  # rows of no capture custody made: out
    params: list[Any] = [CAPTURE_ID]
    for operator, key in listing.time_bounds(filters):
        clauses.append(f'c.id COLLATE "C" {operator} %s')
        params.append(key)
    if filters.status:
        clauses.append("c.status = %s")
        params.append(filters.status)
    if filters.imported:
        clauses.append(listing.IMPORTED[filters.imported].replace("%", "%%"))
    if filters.lang:
        clauses.append("EXISTS (SELECT 1 FROM documents d WHERE d.capture_id = c.id AND "
                       "d.language = %s)")
        params.append(filters.lang)
    if filters.site:
        ranges = listing.site_ranges(filters.site)
        urls = " OR ".join('(r.url COLLATE "C" >= %s AND r.url COLLATE "C" < %s)'
                           for _ in range(len(ranges) // 2))
        clauses.append(f"EXISTS (SELECT 1 FROM resources r WHERE r.capture_id = c.id AND "
                       f"({urls}))")
        params += ranges
    if chosen is not None:
        clauses.append("c.id = ANY(%s)")
        params.append(chosen)
    return clauses, params


def chosen_here(conn: sqlite3.Connection | None, filters: listing.Filters) -> list[str] | None:
    """The capture ids this archive's case and tag filters name (None: no such filter);
    cases and tags are this archive's own signed events, in its custody.db."""
    if not filters.case and not filters.tag:
        return None
    if conn is None or conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'tags'") \
            .fetchone() is None:  # (no custody.db, or one older than cases and tags)
        return []
    from ..index.annotation import fold

    sets = []
    if filters.case:
        sets.append({r[0] for r in conn.execute(
            "SELECT capture_id FROM case_captures WHERE case_id = ?", [filters.case])})
    if filters.tag:
        sets.append({r[0] for r in conn.execute(
            "SELECT capture_id FROM tags WHERE tag_key = ?", [fold(filters.tag)])})
    return sorted(set.intersection(*sets))
