"""A worker's copy of what it seals into the index in PostgreSQL (``custody worker
--db``, and the workbench's own captures with ``custody serve --db``), which never holds
a seal up: when PostgreSQL is away it says so once, seals on into custody.db, and copies
what is missing once PostgreSQL answers again. It never removes anything there: the
index is the team's, and holds other machines' captures."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from ..core.archive import Archive
from ..core.errors import CustodyError

STALLED = 60.0  # seconds a capture's copy may take before PostgreSQL is taken for away


class RemoteIndex:
    def __init__(self, url: str, archive: Archive, *, say: Callable[[str], None]) -> None:
        self.url = url
        self.archive = archive
        self.say = say
        self._db: Any = None
        self.behind = False
        self._lock = threading.Lock()  # (the workbench's catching up runs in a thread)
        self._retrying = False

    def copy(self, capture_id: str | None) -> None:
        with self._lock:
            self._copy(capture_id)

    def catch_up(self, every: float = 30.0) -> None:
        """While behind, try again every ``every`` seconds in a thread of its own (for the
        workbench, which may make no other capture for a long time)."""
        with self._lock:
            if self._retrying or not self.behind:
                return
            self._retrying = True

        def run() -> None:
            import time

            try:
                while self.behind:
                    time.sleep(every)
                    self.copy(None)
            finally:
                self._retrying = False

        threading.Thread(target=run, name="custody-index-catch-up", daemon=True).start()

    def _copy(self, capture_id: str | None) -> None:
        """Copy a sealed capture (None: whatever custody.db has that PostgreSQL lacks)
        into the PostgreSQL index. Sealing never waits for it: when PostgreSQL is away,
        the copy is made after the next job that finds it back (or by `reindex --db`)."""
        import sqlite3

        import psycopg

        from ..index import postgres

        # a server that stops answering altogether must not hold the worker up
        watchdog = postgres.Watchdog(STALLED)
        try:
            if self._db is None or self._db.closed:
                self._db = postgres.connect(self.url)
            watchdog.watch(self._db)
            local = sqlite3.connect(f"file:{self.archive.db_path}?mode=ro", uri=True,
                                    timeout=30)
            try:
                if capture_id is None or self.behind:  # what it lacks; never removing
                    postgres.sync(self._db, local, watchdog=watchdog)  # (others' are there)
                else:  # (one this custody.db lacks is left as the index has it)
                    postgres.publish(self._db, local, capture_id)
            finally:
                local.close()
                watchdog.stop()
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

