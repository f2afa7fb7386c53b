"""The scheduler's working state, ``.custody/watch/state.db``: when each watch is next due,
the run under way, what each run compared with, the notification targets and what was
delivered to each. Not evidence (the watches and changes are, in the custody log): it
says what to do next, and survives kill -9 because every step is one SQLite transaction,
committed with ``synchronous = FULL`` before the step it allows.

A run of a watch is claimed (its interval's number, and the job name its capture is
given) before the capture starts, and cleared in the transaction that records its
result; a claim found on start-up is a run that died, resolved by what the archive
holds (custody.watch.runner). The file holds the webhook secrets, so it is made
readable by its owner alone.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..core import faults
from ..core.archive import Archive
from ..core.errors import ArchiveLocked

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS schedule (watch_id TEXT PRIMARY KEY, next_due REAL NOT NULL, "
    "done_slot INTEGER, claim_slot INTEGER, claim_job TEXT, claim_at REAL, last_capture "
    "TEXT, text_capture TEXT, last_started REAL, last_finished REAL, last_outcome TEXT, "
    "failures INTEGER NOT NULL DEFAULT 0, active INTEGER NOT NULL DEFAULT 1)",
    "CREATE INDEX IF NOT EXISTS schedule_due ON schedule (active, next_due)",
    "CREATE INDEX IF NOT EXISTS schedule_claimed ON schedule (claim_job) WHERE claim_job IS "
    "NOT NULL",
    "CREATE TABLE IF NOT EXISTS targets (name TEXT PRIMARY KEY, url TEXT NOT NULL, secret "
    "TEXT, added_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS deliveries (change_seq INTEGER NOT NULL, target TEXT NOT "
    "NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, delivery_id TEXT, "
    "sent_at REAL, error TEXT, PRIMARY KEY (change_seq, target)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state, target)",
)


@dataclass
class Slot:
    """A watch's place in the schedule."""

    watch_id: str
    next_due: float
    done_slot: int | None
    claim_slot: int | None
    claim_job: str | None
    last_capture: str | None
    text_capture: str | None
    last_outcome: str | None
    failures: int


def folder(archive: Archive) -> Path:
    return archive.root / ".custody" / "watch"


class WatchState:
    def __init__(self, archive: Archive) -> None:
        where = folder(archive)
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = where / "state.db"
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        for statement in SCHEMA:
            self.conn.execute(statement)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def step(self, fault: str | None = None) -> Iterator[sqlite3.Connection]:
        """One durable step: committed whole or not at all (then ``fault`` names the
        point a test may kill the process after)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        if fault is not None:
            faults.after(fault)

    # -- the schedule ----------------------------------------------------------------------

    def slots(self) -> dict[str, Slot]:
        rows = self.conn.execute(
            "SELECT watch_id, next_due, done_slot, claim_slot, claim_job, last_capture, "
            "text_capture, last_outcome, failures FROM schedule").fetchall()
        return {row[0]: Slot(*row) for row in rows}

    def slot(self, watch_id: str) -> Slot | None:
        row = self.conn.execute(
            "SELECT watch_id, next_due, done_slot, claim_slot, claim_job, last_capture, "
            "text_capture, last_outcome, failures FROM schedule WHERE watch_id = ?",
            [watch_id]).fetchone()
        return Slot(*row) if row else None

    def due(self, now: float, limit: int = 1000) -> list[str]:
        """The watches due, those whose last run answered first: a site that hangs or
        fails waits behind the others. A watch whose run is under way is not due."""
        return [r[0] for r in self.conn.execute(
            "SELECT watch_id FROM (SELECT watch_id, next_due, failures FROM schedule WHERE "
            "active = 1 AND next_due <= ? AND claim_job IS NULL ORDER BY next_due LIMIT ?) "
            "ORDER BY failures > 0, "
            "next_due", [now, limit])]

    def next_due(self) -> float | None:
        row = self.conn.execute("SELECT min(next_due) FROM schedule WHERE active = 1 AND "
                                "claim_job IS NULL").fetchone()
        return row[0]

    def claimed(self) -> dict[str, str]:
        """The runs under way (or cut short): each watch's claimed job."""
        return dict(self.conn.execute(
            "SELECT watch_id, claim_job FROM schedule WHERE claim_job IS NOT NULL"))

    # -- targets ---------------------------------------------------------------------------

    def targets(self) -> dict[str, tuple[str, str | None]]:
        return {r[0]: (r[1], r[2]) for r in self.conn.execute(
            "SELECT name, url, secret FROM targets ORDER BY name")}

    # -- deliveries ------------------------------------------------------------------------

    def undelivered(self) -> dict[str, list[int]]:
        """The changes each target has not had yet, by target, oldest first."""
        found: dict[str, list[int]] = {}
        for seq, target in self.conn.execute(
                "SELECT change_seq, target FROM deliveries WHERE state IN ('pending', "
                "'sending') ORDER BY target, change_seq"):
            found.setdefault(target, []).append(seq)
        return found


@contextmanager
def scheduler_lock(archive: Archive) -> Iterator[None]:
    """One scheduler per archive (``watch run`` and ``watch run --once`` alike)."""
    where = folder(archive)
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(where / "scheduler.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ArchiveLocked("a watch scheduler runs on this archive already",
                                where=str(archive.root)) from exc
        yield
    finally:
        os.close(fd)
