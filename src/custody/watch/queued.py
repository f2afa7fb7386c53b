"""A watch's runs as jobs on the Redis queue (``custody watch run --queue``): the
scheduler puts each due run on the queue, signed with its key, for any worker on any
machine to capture and seal (custody.queue), and compares the sealed capture once the
job is done.

A run's job id is made from its watch and its interval's number, and a job is put at
most once: a scheduler killed between claiming a run and putting it, or two that both
believed they led, put one job, and it is sealed once. What Redis says a job became is
anyone's word: a capture is compared only when the archive holds it sealed, with the
job's id in its manifest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..capture.settings import Settings
from ..core.archive import Archive
from ..core.capture_ids import check_capture_id
from ..core.errors import CustodyError, QueueError
from ..queue.acceptance import host_of
from ..queue.jobs import Job, Queue
from ..seal.manifest import manifest_path
from .leader import Leadership


def job_id(watch_id: str, number: int) -> str:
    """The queue job of the watch's run in interval ``number`` (as custody.queue makes
    ids: 32 hex digits)."""
    return hashlib.sha256(f"custody-watch/{watch_id}/{number}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Seen:
    """Where a run's job is: ``waiting`` (pending or in flight), ``done`` (its capture,
    sealed), ``failed`` (why), or ``absent`` (the queue never had it, or lost it)."""

    state: str
    capture_id: str | None = None
    reason: str = ""


class LostLead(QueueError):
    """Another scheduler leads now: this one puts nothing more."""


class QueuedRuns:
    def __init__(self, archive: Archive, client: Any, patient: Any, key: Any,
                 leadership: Leadership) -> None:
        self.archive = archive
        self.queue = Queue(client, patient)
        self.key = key
        self.leadership = leadership

    def send(self, job: str, url: str, settings: Settings) -> bool:
        """The run's job put on the queue (False: it was there already)."""
        if not self.leadership.still():
            raise LostLead("another watch scheduler leads now; this one stands by")
        data = settings.to_json()
        return self.queue.put(Job(job, host_of(url), [url], data), key=self.key)

    def look(self, job: str) -> Seen:
        found = self.queue.look(job)
        if not found:
            return Seen("absent")
        state = found["state"]
        if state in ("pending", "inflight"):
            return Seen("waiting")
        if state == "failed":
            return Seen("failed", reason=f"the queue's job failed: {found['reason'][:300]}")
        if state != "done":
            return Seen("failed", reason=f"the queue holds the job in a state custody does "
                                         f"not write ({state[:40]!r})")
        capture_id = found["capture_id"]
        if not self._sealed_for(capture_id, job):
            return Seen("failed", reason="the queue says the job is done, but the archive "
                                         "holds no capture sealed for it "
                                         f"({capture_id[:60]!r})")
        return Seen("done", capture_id)

    def _sealed_for(self, capture_id: str, job: str) -> bool:
        try:
            path = manifest_path(self.archive.manifests_dir, check_capture_id(capture_id))
            head = json.loads(path.read_bytes())
        except (CustodyError, OSError, ValueError):
            return False
        made_by = head.get("job") if isinstance(head, dict) else None
        return isinstance(made_by, dict) and made_by.get("id") == job
