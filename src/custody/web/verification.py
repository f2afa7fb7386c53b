"""Verification in the workbench: each capture's badge, read from the custody log, and
"verify now", run in the background by the library's verify.

A capture's badge is the outcome of the newest ``verified`` event that names it (the
workbench's "verify now", and ``custody verify ID``), or of a verification of the whole
archive made since it was sealed, when nothing failed in it (a failed one does not say
which capture failed; an incomplete one, which could not be checked, so each is shown
incomplete). The events are found through custody.db's index of the log and each
read from the log itself, held to the sha256 the index kept (seal/log_events.py).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..core.archive import Archive
from ..index import events as indexed
from ..seal.log_events import read_placed
from .events import Recorder

log = logging.getLogger("custody.serve")


@dataclass
class Badge:
    status: str  # passed, failed, incomplete, or "" (never verified)
    at: str = ""
    by: str = ""


def _read(archive: Archive, row: tuple[int, int, int, str]) -> dict[str, Any]:
    line = read_placed(archive.root, indexed.Placed(*row))
    if line is None:
        return {}
    try:
        entry = json.loads(line)
    except ValueError:
        return {}
    return entry if isinstance(entry, dict) else {}


def badges(archive: Archive, conn: sqlite3.Connection,
           captures: list[tuple[str, str]]) -> dict[str, Badge]:
    """Each capture's badge; ``captures`` as (id, sealed at)."""
    out = {cid: Badge("") for cid, _ in captures}
    if not captures or not indexed.has_table(conn):
        return out
    marks = ",".join("?" * len(captures))
    rows = conn.execute(
        "SELECT c.capture_id, max(e.seq) FROM log_event_captures c JOIN log_events e "
        f"ON e.seq = c.seq WHERE c.capture_id IN ({marks}) AND e.event = 'verified' "
        "GROUP BY c.capture_id", [cid for cid, _ in captures]).fetchall()
    for cid, seq in rows:
        row = conn.execute("SELECT seq, offset, length, sha256 FROM log_events WHERE seq = ?",
                           [seq]).fetchone()
        entry = _read(archive, row) if row else {}
        details = entry.get("details") or {}
        if isinstance(details, dict) and details.get("status"):
            out[cid] = Badge(str(details["status"]), str(entry.get("at") or ""),
                             str(details.get("account") or entry.get("who") or ""))
    whole = _last_whole(archive, conn)
    # (incomplete: nothing failed, and what could not be checked -- a timestamp still
    # pending offline -- is not said capture by capture: each is shown incomplete)
    if whole is not None and whole.status in ("passed", "incomplete"):
        for cid, sealed_at in captures:
            if whole.at >= (sealed_at or "") and whole.at > out[cid].at:
                out[cid] = whole
    return out


def _last_whole(archive: Archive, conn: sqlite3.Connection) -> Badge | None:
    """The newest verification of the whole archive (among the last few verifications)."""
    rows = conn.execute("SELECT seq, offset, length, sha256 FROM log_events WHERE "
                        "event = 'verified' ORDER BY at DESC LIMIT 20").fetchall()
    for row in rows:
        entry = _read(archive, row)
        details = entry.get("details") or {}
        if isinstance(details, dict) and not details.get("capture_ids"):
            return Badge(str(details.get("status") or ""), str(entry.get("at") or ""),
                         str(details.get("account") or entry.get("who") or ""))
    return None


@dataclass
class Check:
    id: str
    capture_id: str
    account: str
    state: str = "running"  # running, done, error
    status: str = ""  # passed, failed, incomplete
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: str = ""


class Verifier:
    """`verify ID` in a background thread, one at a time; its outcome kept for the page
    to ask for, and logged."""

    def __init__(self, archive: Archive, recorder: Recorder) -> None:
        self.archive = archive
        self.recorder = recorder
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="custody-verify")
        self.checks: dict[str, Check] = {}
        self._lock = threading.Lock()

    def start(self, capture_id: str, account: str) -> Check:
        check = Check(uuid.uuid4().hex, capture_id, account)
        with self._lock:
            self.checks[check.id] = check
            if len(self.checks) > 1000:  # keep the newest
                for old in list(self.checks)[:-1000]:
                    del self.checks[old]
        self.pool.submit(self._run, check)
        return check

    def get(self, check_id: str) -> Check | None:
        return self.checks.get(check_id)

    def _run(self, check: Check) -> None:
        from ..core.errors import CustodyError
        from ..verify.report import FAILED, PASSED, UNCHECKED
        from ..verify.run import verify

        try:
            # in this process (jobs=0): forking a threaded server is not safe
            report = verify(self.archive, [check.capture_id], jobs=0, summarize=True)
            check.counts = {o: report.count(o) for o in (PASSED, FAILED, UNCHECKED)}
            check.problems = [f"{c.outcome}: {c.check} {c.subject}: {c.detail}"
                              for c in report.checks if c.outcome != PASSED][:200]
            check.status = report.status
            if self.recorder.can_sign:
                self.recorder.record("verified", check.account, {
                    "status": report.status, "captures": 1, "failed": report.count(FAILED),
                    "capture_ids": [check.capture_id]})
            check.state = "done"
        except CustodyError as exc:
            check.state, check.error = "error", str(exc)
        except Exception as exc:  # a bug must show on the page, not end the worker
            log.exception("verify %s", check.capture_id)
            check.state, check.error = "error", f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
