"""A watch's runs as jobs on the Redis queue (``custody watch run --queue``): the
scheduler puts each due run on the queue, signed with its key, for any worker on any
machine to capture and seal (custody.queue), and compares the sealed capture once the
job is over.

A run's job id is made from its watch and its interval's number, and a job is put at
most once: a scheduler killed between claiming a run and putting it, or two that both
believed they led, put one job, and it is sealed once. What Redis says a job became is
anyone's word: a capture is compared only when the archive holds it sealed, with the
job's id in its manifest. A job the queue does not hold (never put, or lost with a
Redis that restarted empty) is looked for in the archive before it is put again: a
capture sealed for it is compared, and nothing is captured twice.

A job that failed with a capture sealed (the site gave no answer: a name that no longer
resolves, a refused connection) is compared like any other, so that a watch says the
page is gone, or that the site was down for a while, as without the queue. A job the
queue keeps waiting longer than ``STALE`` (or the watch's interval, if longer) fails the
run, and the next interval's run is put: a job whose message was lost, or an id someone
put first, holds no watch up for good.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..capture.settings import Settings
from ..core.archive import Archive
from ..core.capture_ids import check_capture_id
from ..core.errors import CustodyError, QueueError
from ..queue.acceptance import host_of
from ..queue.jobs import Job, Queue
from ..seal.manifest import manifest_path
from .leader import Leadership
from .outcome import Outcome
from .schedule import due_time
from .state import WatchState
from .watches import Watch

log = logging.getLogger("custody.watch")

STALE = 3600.0  # seconds a run's job may wait on the queue (at least its watch's interval)
SKEW = 600.0  # seconds: clocks of the scheduler's and the workers' machines may differ


def job_id(watch_id: str, number: int) -> str:
    """The queue job of the watch's run in interval ``number`` (as custody.queue makes
    ids: 32 hex digits)."""
    return hashlib.sha256(f"custody-watch/{watch_id}/{number}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Seen:
    """Where a run's job is: ``waiting`` (pending or in flight), ``done`` (its capture,
    sealed), ``failed`` (why, with nothing sealed), or ``absent`` (not on the queue)."""

    state: str
    capture_id: str | None = None
    reason: str = ""


class LostLead(QueueError):
    """This scheduler no longer leads: it puts nothing more."""


class QueuedRuns:
    def __init__(self, archive: Archive, client: Any, patient: Any, key: Any,
                 leadership: Leadership) -> None:
        self.archive = archive
        self.queue = Queue(client, patient)
        self.key = key
        self.leadership = leadership

    def send(self, job: str, url: str, settings: Settings) -> bool:
        """The run's job put on the queue (False: a job of its id was there already)."""
        if not self.leadership.still():
            raise LostLead("this scheduler no longer leads (its lease in Redis is gone or "
                           "another's): it stands by")
        data = settings.to_json()
        return self.queue.put(Job(job, host_of(url), [url], data), key=self.key)

    def look(self, job: str) -> Seen:
        import redis

        try:
            found = self.queue.look(job)
        except redis.ResponseError as exc:  # a key of another type put under the job's id
            return Seen("failed", reason=f"the queue's key for the job is not custody's "
                                         f"({str(exc)[:100]})")
        if not found:
            return Seen("absent")
        state = found["state"]
        if state in ("pending", "inflight"):
            return Seen("waiting")
        capture_id = found["capture_id"]
        if state in ("done", "failed") and capture_id and self.sealed_for(capture_id, job):
            return Seen("done", capture_id)  # (a failed capture says the site did not answer)
        if state == "failed":
            return Seen("failed", reason=f"the queue's job failed: {found['reason'][:300]}")
        if state != "done":
            return Seen("failed", reason=f"the queue holds the job in a state custody does "
                                         f"not write ({state[:40]!r})")
        return Seen("failed", reason="the queue says the job is done, but the archive holds "
                                     f"no capture sealed for it ({capture_id[:60]!r})")

    def sealed_for(self, capture_id: str, job: str) -> bool:
        try:
            path = manifest_path(self.archive.manifests_dir, check_capture_id(capture_id))
            head = json.loads(path.read_bytes())
        except (CustodyError, OSError, ValueError):
            return False
        made_by = head.get("job") if isinstance(head, dict) else None
        return isinstance(made_by, dict) and made_by.get("id") == job

    def found_sealed(self, job: str, url: str, since: float) -> str | None:
        """A capture of ``url`` sealed for the job since ``since`` (the run's claim), when
        the queue has forgotten the job (None: there is none)."""
        import sqlite3

        from ..annotate.recording import reading

        moment = datetime.fromtimestamp(since - SKEW, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        try:
            with reading(self.archive) as conn:
                ids = [r[0] for r in conn.execute(  # (any URL: the manifests say)
                    "SELECT id FROM captures WHERE started_at >= ? ORDER BY seed_url = ? "
                    "DESC, started_at", [moment, url])]
        except (CustodyError, sqlite3.Error):
            return None
        return next((i for i in ids if self.sealed_for(i, job)), None)


class Follower:
    """The scheduler's side of its queued runs, for custody.watch.runner: ``send`` a
    claimed run, ``follow`` it until it is over (``finish``: compared and recorded;
    ``release``: failed, made again at ``next_due``)."""

    def __init__(self, runs: QueuedRuns, state: WatchState, *,
                 finish: Callable[[Watch, int, str, str], Outcome],
                 release: Callable[[Watch, float, str], Outcome],
                 sealed: Callable[[str], bool], settings: Callable[[Watch], Settings],
                 clock: Callable[[], float]) -> None:
        self.runs = runs
        self.state = state
        self.finish, self.release, self.sealed = finish, release, sealed
        self.settings, self.clock = settings, clock

    def send(self, watch: Watch, number: int, job: str) -> Outcome:
        """The claimed run put on the queue (once: its job's id is the run's own); the
        workers' own files serve it (a CA bundle), never the job's."""
        self.runs.send(job, watch.url, self.settings(watch))
        log.info("watch %s: queued as job %s (interval %d)", watch.id, job, number)
        with self.state.step() as conn:
            conn.execute("UPDATE schedule SET last_outcome = 'queued' WHERE watch_id = ?",
                         [watch.id])
        return Outcome(watch.id, watch.url, None, "queued")

    def take_over(self, watch: Watch) -> Outcome | None:
        """A run a scheduler without --queue claimed and did not finish (it was stopped):
        its capture compared when it sealed one, else the run put on the queue."""
        from ..capture.run import read_job_marker

        row = self.state.conn.execute("SELECT claim_slot, claim_job FROM schedule WHERE "
                                      "watch_id = ?", [watch.id]).fetchone()
        marker = read_job_marker(self.runs.archive, str(row[1]))
        capture_id = str(marker["capture_id"]) if marker else None
        if capture_id is not None and self.sealed(capture_id):
            return self.finish(watch, int(row[0]), str(row[1]), capture_id)
        log.warning("watch %s: a run a scheduler without --queue began sealed nothing "
                    "(`custody archive` settles what it left); it is queued", watch.id)
        with self.state.step() as conn:
            conn.execute("UPDATE schedule SET claim_slot = NULL, claim_job = NULL, claim_at = "
                         "NULL, next_due = min(next_due, ?) WHERE watch_id = ?",
                         [self.clock(), watch.id])
        return None

    def follow(self, watch: Watch) -> Outcome | None:
        """A queued run: compared once over, failed when it failed with nothing sealed or
        waited too long, looked for in the archive and else put again when the queue does
        not hold it; None while it waits."""
        row = self.state.conn.execute("SELECT claim_slot, claim_job, claim_at FROM schedule "
                                      "WHERE watch_id = ?", [watch.id]).fetchone()
        number, job, claimed_at = int(row[0]), str(row[1]), float(row[2] or 0)
        seen = self.runs.look(job)
        if seen.state == "absent":
            capture_id = self.runs.found_sealed(job, watch.url, claimed_at)
            if capture_id is None:
                return self.send(watch, number, job)
            seen = Seen("done", capture_id)
        if seen.state == "waiting" and self.clock() - claimed_at > max(STALE, watch.every):
            seen = Seen("failed", reason=f"its job {job} waited on the queue for more than "
                                         f"{max(STALE, watch.every):.0f} s (no worker took "
                                         "it, or its message is lost); the next interval's "
                                         "run is queued")
        if seen.state == "failed":
            log.error("watch %s: %s", watch.id, seen.reason)
            return self.release(watch, due_time(watch.id, watch.every, number + 1),
                                seen.reason)
        if seen.state == "done" and seen.capture_id and self.sealed(seen.capture_id):
            return self.finish(watch, number, job, seen.capture_id)
        return None  # waiting (or sealed, and not yet in custody.db: the next pass)
