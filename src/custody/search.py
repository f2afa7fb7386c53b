"""Full-text search over the documents' titles and text (SQLite FTS5, ranked by bm25)."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from .db import run_query
from .errors import QueryError

_SQL = """
SELECT d.url, d.title, d.capture_id, c.started_at AS captured_at,
       snippet(documents_fts, 1, '[', ']', '…', 16) AS snippet
FROM documents_fts
JOIN documents d ON d.rowid = documents_fts.rowid
JOIN captures c ON c.id = d.capture_id
WHERE documents_fts MATCH ?
ORDER BY bm25(documents_fts)
LIMIT ?
"""


def _quoted(words: str) -> str:
    """Each word as an FTS5 string, for input that is not valid FTS5 syntax."""
    tokens = re.findall(r"\w+", words)
    return " ".join('"' + t.replace('"', '""') + '"' for t in tokens)


def search(conn: sqlite3.Connection, words: str, *, limit: int = 20) -> list[dict[str, Any]]:
    if not words.strip():
        raise QueryError("nothing to search for")
    try:
        columns, rows = run_query(conn, _SQL, [words, limit])
    except QueryError as exc:
        if "fts5" not in str(exc) and "syntax" not in str(exc):
            raise
        fallback = _quoted(words)
        if not fallback:
            return []
        columns, rows = run_query(conn, _SQL, [fallback, limit])
    return [dict(zip(columns, row, strict=True)) for row in rows]
