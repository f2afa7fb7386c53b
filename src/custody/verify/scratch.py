"""Sets of names as many as the captures, kept on disk while verify runs, so that its
memory does not grow with the archive: the WARC files the manifests seal, the captures
the ledger names and those with a manifest, the queue jobs captures were made for.
SQLite's private temporary database, with a small page cache, holds them; what is asked
of it is membership and difference.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from types import TracebackType

CACHE_KIB = 2048  # SQLite's page cache for the sets: the whole of their memory
_TABLES = ("sealed_files", "leaves", "manifests", "checked")


class Scratch:
    def __init__(self) -> None:
        # "": SQLite's private temporary database, a file it unlinks as soon as it opens
        # it (in TMPDIR), so that nothing is left behind however verify ends
        self.conn = sqlite3.connect("")
        self.conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        for table in _TABLES:
            self.conn.execute(f"CREATE TABLE {table} (name TEXT PRIMARY KEY) WITHOUT ROWID")
        self.conn.execute("CREATE TABLE jobs (job TEXT, capture TEXT, PRIMARY KEY (job, "
                          "capture)) WITHOUT ROWID")  # (queue_jobs.py)

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def add(self, table: str, names: Iterable[str]) -> None:
        assert table in _TABLES
        self.conn.executemany(f"INSERT OR IGNORE INTO {table} VALUES (?)",
                              ((name,) for name in names))

    def has(self, table: str, name: str) -> bool:
        assert table in _TABLES
        return self.conn.execute(f"SELECT 1 FROM {table} WHERE name = ?",
                                 (name,)).fetchone() is not None

    def only_in(self, table: str, other: str) -> Iterator[str]:
        """The names of ``table`` that ``other`` lacks, in order."""
        assert table in _TABLES and other in _TABLES
        for (name,) in self.conn.execute(
                f"SELECT name FROM {table} WHERE name NOT IN (SELECT name FROM {other}) "
                "ORDER BY name"):
            yield name

    def count(self, table: str) -> int:
        assert table in _TABLES
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
