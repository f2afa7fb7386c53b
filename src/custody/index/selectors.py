"""The selectors of each document (emails, phone numbers, handles, profile URLs, crypto
addresses: extract/selectors.py), kept in custody.db beside its text.

Derived from ``documents.text``, which verify holds to the sealed digest: written when a
capture's documents are indexed (and so by ``custody reindex``), filled once for the
documents of a database made before the table was, and compared with the texts again by
``custody verify``. Looked up by value (which pages hold it) and by capture or case (what
they hold), each through an index.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS selectors (document_id INTEGER NOT NULL, capture_id TEXT NOT "
    "NULL, kind TEXT NOT NULL, value TEXT NOT NULL, shown TEXT NOT NULL, position INTEGER NOT "
    "NULL, count INTEGER NOT NULL, PRIMARY KEY (document_id, kind, value)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS selectors_value ON selectors (kind, value)",
    "CREATE INDEX IF NOT EXISTS selectors_capture ON selectors (capture_id, kind, value)",
)
COLUMNS = ("document_id", "capture_id", "kind", "value", "shown", "position", "count")

Row = tuple[int, str, str, str, str, int, int]


def ensure(conn: sqlite3.Connection) -> None:
    """The table, filled for every document when it is new (a database made before it)."""
    new = not has_table(conn)
    for statement in SCHEMA:
        conn.execute(statement)
    if new:
        add(conn, conn.execute("SELECT id, capture_id, text FROM documents")
            if _has_documents(conn) else [])


def has_table(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                        "name = 'selectors'").fetchone() is not None


def _has_documents(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                        "name = 'documents'").fetchone() is not None


def rows_of(document_id: int, capture_id: str, text: str | None) -> Iterator[Row]:
    """The rows one document's text gives."""
    from ..extract.selectors import find  # (its patterns compiled only when used)

    for found in find(text or ""):
        yield (document_id, capture_id, found.kind, found.value, found.shown, found.start,
               found.count)


def add(conn: sqlite3.Connection, documents: Iterable[tuple[int, str, str | None]]) -> None:
    """Index the selectors of documents given as (id, capture id, text)."""
    conn.executemany(
        f"INSERT OR REPLACE INTO selectors ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (row for doc_id, capture_id, text in documents
         for row in rows_of(doc_id, capture_id, text)))


def index_capture(conn: sqlite3.Connection, capture_id: str) -> None:
    conn.execute("DELETE FROM selectors WHERE capture_id = ?", [capture_id])
    add(conn, conn.execute("SELECT id, capture_id, text FROM documents WHERE capture_id = ?",
                           [capture_id]))
