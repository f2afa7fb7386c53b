"""Full-text search: ranked by bm25, with filters, and snippets from the original text.

The query is folded and stemmed as the documents were (textindex.py); FTS5 finds and
ranks the documents, and the snippet is cut from the document's own text, so it shows
the words as they were written, not as they were indexed.

Ranking costs a bm25 score for every document that matches: a common word in a large
archive matches hundreds of thousands. So the documents ranked are the newest WINDOW
that match (all of them when fewer do): FTS5 finds those in rowid order, which is the
order they were indexed, without scoring any, and only they are scored. A search that
reached the window says so (``Found.windowed``), and ``window=None`` ranks every match.
A page that is two documents of one capture (the text its server sent, and the DOM its
browser rendered) is one hit: the better ranked.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from ..core.errors import UsageError
from .query import run_query
from .query_syntax import QuerySyntaxError, compile_query
from .textindex import snippet_parts


@dataclass
class Filters:
    site: str | None = None  # host, or a domain whose subdomains count too
    lang: str | None = None
    since: str | None = None  # ISO date or time, UTC; compared with captured_at
    until: str | None = None
    capture: str | None = None


def where_clause(filters: Filters) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if filters.site:
        host = filters.site.lower().strip("/").removeprefix("https://").removeprefix("http://")
        patterns = [f"{scheme}://{sub}{host}{end}%" for scheme in ("http", "https")
                    for sub in ("", "%.") for end in ("/", ":")]
        clauses.append("(" + " OR ".join("d.url LIKE ?" for _ in patterns) + ")")
        params += patterns
    if filters.lang:
        clauses.append("d.language = ?")
        params.append(filters.lang)
    if filters.since:
        clauses.append("coalesce(r.fetched_at, c.started_at) >= ?")
        params.append(filters.since)
    if filters.until:
        clauses.append("coalesce(r.fetched_at, c.started_at) < ?")
        params.append(_day_after(filters.until))
    if filters.capture:
        clauses.append("d.capture_id = ?")
        params.append(filters.capture)
    return "".join(f" AND {c}" for c in clauses), params


def _day_after(value: str) -> str:
    """--until 2026-11-21 means up to the end of that day."""
    from datetime import date, timedelta

    try:
        return (date.fromisoformat(value) + timedelta(days=1)).isoformat()
    except ValueError:
        return value


def check_language(code: str | None) -> str | None:
    """A --lang value: an ISO 639-1 code of a language custody names documents with."""
    from ..extract.language import CANDIDATES

    if code is None:
        return None
    wanted = code.strip().lower()
    if wanted not in CANDIDATES:
        raise UsageError(f"--lang {code!r} is not a language custody names documents with; "
                         f"give an ISO 639-1 code: {', '.join(sorted(CANDIDATES))}")
    return wanted


def check_date(value: str | None, option: str) -> str | None:
    """A --since or --until value, as ISO 8601 in UTC (a date, or a date and time); a
    UsageError saying so for anything else, rather than a filter that matches nothing."""
    from datetime import UTC, date, datetime

    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"{option} {value!r} is not a date: give YYYY-MM-DD, or a time as "
                         "2026-11-21T10:15:00Z (UTC)") from exc
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


def prepare(words: str, filters: Filters) -> tuple[str, str, list[Any]]:
    """The query compiled (FTS5's syntax), and the filters checked and made SQL: a tail
    of ``AND`` clauses with ``?`` placeholders, and their values. UsageError for a query
    or a filter that is not well formed. PostgreSQL's search (postgres.py) starts here
    too."""
    filters.lang = check_language(filters.lang)
    filters.since = check_date(filters.since, "--since")
    filters.until = check_date(filters.until, "--until")
    try:
        expression = compile_query(words)
    except QuerySyntaxError as exc:
        raise UsageError(f"search {words!r}: {exc}") from exc
    where, params = where_clause(filters)
    return expression, where, params


def hits(rows: list[Any], words: str, *, marked: bool = False) -> list[dict[str, Any]]:
    """Rows of (url, title, capture id, when, text, language, imported) as search hits,
    each with a snippet cut from its own text (``marked``: also as pieces, each with
    whether it matched, for a page to mark up)."""
    out = []
    for url, title, capture_id, captured_at, text, language, imported, *_ in rows:
        parts = snippet_parts(text or "", words, language)
        hit = {"url": url, "title": title, "capture_id": capture_id,
               "captured_at": captured_at, "language": language,
               "snippet": "".join(f"[{p}]" if matched else p for p, matched in parts),
               "imported": bool(imported)}
        if marked:
            hit["marked"] = parts
        out.append(hit)
    return out


WINDOW = 5000  # the newest matches ranked (see the docstring above)


class Found(list[dict[str, Any]]):
    """The hits; ``windowed``: more documents matched than were ranked (the newest
    WINDOW were)."""

    windowed: bool = False


def found_in(rows: list[Any], words: str, window: int | None, *,
             marked: bool = False) -> Found:
    """Found from rows as hits() takes them, each ending with how many documents matched
    (counted up to ``window`` + 1): windowed when more than ``window`` did."""
    found = Found(hits(rows, words, marked=marked))
    found.windowed = window is not None and bool(rows) and int(rows[0][-1]) > window
    return found


_MATCHES = ("FROM search_index s JOIN documents d ON d.id = s.rowid "
            "JOIN captures c ON c.id = d.capture_id "
            "LEFT JOIN resources r ON r.id = d.resource_id WHERE search_index MATCH ?")


def search(conn: sqlite3.Connection, words: str, *, limit: int = 20,
           filters: Filters | None = None, timeout: float | None = None,
           marked: bool = False, offset: int = 0, window: int | None = WINDOW) -> Found:
    expression, where, params = prepare(words, filters or Filters())
    offset = max(0, offset)
    since = None
    if window is not None and window > 0 and offset + limit <= window:
        # the window's oldest document, and whether one more matches: found in rowid
        # order, no document scored
        _, rows = run_query(conn, f"SELECT s.rowid {_MATCHES}{where} ORDER BY s.rowid DESC "
                            "LIMIT 2 OFFSET ?", [expression, *params, window - 1],
                            timeout=timeout)
        if len(rows) == 2:
            since = rows[0][0]
    within = " AND s.rowid >= ?" if since is not None else ""
    # each page of a capture once: the better ranked of its documents; the text is read
    # for the hits shown only. When: for an imported file, the time its record gives
    sql = (f"WITH ranked AS (SELECT d.id AS id, s.rank AS score, row_number() OVER "
           f"(PARTITION BY d.capture_id, d.url ORDER BY s.rank, d.id) AS n "
           f"{_MATCHES}{where}{within}) "
           "SELECT d.url, d.title, d.capture_id, coalesce(r.fetched_at, c.started_at), d.text, "
           "d.language, c.status LIKE 'imported%' FROM ranked k "
           "JOIN documents d ON d.id = k.id JOIN captures c ON c.id = d.capture_id "
           "LEFT JOIN resources r ON r.id = d.resource_id "
           "WHERE k.n = 1 ORDER BY k.score, k.id LIMIT ? OFFSET ?")
    _, rows = run_query(conn, sql, [expression, *params,
                                    *([since] if since is not None else []), limit, offset],
                        timeout=timeout)
    found = Found(hits(rows, words, marked=marked))
    found.windowed = since is not None
    return found
