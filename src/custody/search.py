"""Full-text search: ranked by bm25, with filters, and snippets from the original text.

The query is folded and stemmed as the documents were (textindex.py); FTS5 finds and
ranks the documents, and the snippet is cut from the document's own text, so it shows
the words as they were written, not as they were indexed.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from .db import run_query
from .errors import QueryError
from .textindex import compile_query, plain_query, snippet


@dataclass
class Filters:
    site: str | None = None  # host, or a domain whose subdomains count too
    lang: str | None = None
    since: str | None = None  # ISO date or time, UTC; compared with captured_at
    until: str | None = None
    capture: str | None = None


def _where(filters: Filters) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if filters.site:
        host = filters.site.lower().strip("/").removeprefix("https://").removeprefix("http://")
        patterns = [f"{scheme}://{sub}{host}{end}%" for scheme in ("http", "https")
                    for sub in ("", "%.") for end in ("/", ":")]
        clauses.append("(" + " OR ".join("d.url LIKE ?" for _ in patterns) + ")")
        params += patterns
    if filters.lang:
        clauses.append("(d.language = ? OR d.language LIKE ?)")
        params += [filters.lang.lower(), filters.lang.lower() + "-%"]
    if filters.since:
        clauses.append("c.started_at >= ?")
        params.append(filters.since)
    if filters.until:
        clauses.append("c.started_at < ?")
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


def search(conn: sqlite3.Connection, words: str, *, limit: int = 20,
           filters: Filters | None = None) -> list[dict[str, Any]]:
    if not words.strip():
        raise QueryError("nothing to search for")
    where, params = _where(filters or Filters())
    sql = ("SELECT d.url, d.title, d.capture_id, c.started_at AS captured_at, d.text, "
           "d.language FROM search_index s JOIN documents d ON d.id = s.rowid "
           "JOIN captures c ON c.id = d.capture_id WHERE search_index MATCH ?"
           f"{where} ORDER BY s.rank LIMIT ?")
    expression = compile_query(words)
    rows: list[Any] = []
    if expression:
        try:
            _, rows = run_query(conn, sql, [expression, *params, limit])
        except QueryError as exc:
            if "fts5" not in str(exc) and "syntax" not in str(exc):
                raise
            expression = ""
    if not expression:  # not FTS5 syntax (a lone NOT, an open bracket): the words, ANDed
        fallback = plain_query(words)
        if not fallback:
            return []
        _, rows = run_query(conn, sql, [fallback, *params, limit])
    return [
        {"url": url, "title": title, "capture_id": capture_id, "captured_at": captured_at,
         "language": language, "snippet": snippet(text or "", words, language)}
        for url, title, capture_id, captured_at, text, language in rows
    ]
