"""A worker's copy of what it seals into the index in PostgreSQL (``custody worker
--db``), which never holds a seal up: when PostgreSQL is away the worker says so once,
seals on into custody.db, and copies what is missing once PostgreSQL answers again."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from ..core.archive import Archive
from ..core.errors import CustodyError


class RemoteIndex:
    def __init__(self, url: str, archive: Archive, *, mirrored: bool,
                 say: Callable[[str], None]) -> None:
        self.url = url
        self.archive = archive
        self.mirrored = mirrored  # a working copy of a stored archive holds its own captures
        self.say = say
        self._db: Any = None
        self.behind = False

    def copy(self, capture_id: str | None) -> None:
        """Copy a sealed capture (None: whatever custody.db has that PostgreSQL lacks)
        into the PostgreSQL index. Sealing never waits for it: when PostgreSQL is away,
        the copy is made after the next job that finds it back (or by `reindex --db`)."""
        import sqlite3

        import psycopg

        from ..index import postgres

        try:
            if self._db is None or self._db.closed:
                self._db = postgres.connect(self.url)
            local = sqlite3.connect(f"file:{self.archive.db_path}?mode=ro", uri=True,
                                    timeout=30)
            try:
                if capture_id is None or self.behind:
                    # a folder of a stored archive holds its own captures only
                    postgres.sync(self._db, local, remove=not self.mirrored)
                elif not self.mirrored or _indexed_here(local, capture_id):
                    postgres.publish(self._db, local, capture_id)
            finally:
                local.close()
        except (psycopg.Error, CustodyError, sqlite3.Error) as exc:
            if not self.behind:
                self.say(f"the PostgreSQL index is not reachable ({exc}); captures are "
                         "sealed and kept in custody.db, and copied there once it is back")
            self.behind = True
            if self._db is not None:
                with contextlib.suppress(Exception):
                    self._db.close()
            self._db = None
            return
        if self.behind:
            self.say("the PostgreSQL index is reachable again, and up to date")
        self.behind = False


def _indexed_here(local: Any, capture_id: str) -> bool:
    """Whether this folder's custody.db has the capture (one adopted from the store was
    indexed by the worker that sealed it, which copies it when it comes back)."""
    return local.execute("SELECT 1 FROM captures WHERE id = ?", [capture_id]).fetchone() \
        is not None
