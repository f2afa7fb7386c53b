"""``custody watch run --queue``: the scheduler of a team's archive, one across machines.

Each machine that may schedule runs it; the one that holds the leadership
(custody.watch.leader) puts the due runs on the queue and compares what the workers
sealed, and the others stand by, ready within a lease. The archive is the team's shared
folder, as for the workers: the scheduler reads the sealed captures there and appends
its signed events (watches' changes, captures added to a case) to the custody log under
the queue's seal lock, in one order with the workers' seals, in a lane of its own (its
name). Its working state (``.custody/watch/state.db``) is in the shared folder too, so a
standby that takes over finds where its predecessor left every run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.archive import Archive
from ..core.errors import ArchiveLocked, QueueError, UsageError
from ..queue import connection, names
from ..queue.sealing import SharedSeal
from .leader import KEY, Leadership, holder
from .queued import QueuedRuns
from .runner import Pass, Runner
from .state import scheduler_lock

log = logging.getLogger("custody.watch")


class Scheduler:
    """A scheduler of the archive at ``root`` on the queue at ``url``, named ``name``;
    ``make_runner(archive, queued)`` makes its Runner (the CLI's options)."""

    def __init__(self, root: Path, url: str, *, name: str, key: Any,
                 make_runner: Callable[[Archive, QueuedRuns], Runner],
                 lease: float, say: Callable[[str], None] | None = None) -> None:
        self.url = url
        self.client = connection.connect(url)
        self.patient = connection.Patient(url, say)
        beating = self.patient(lambda: self.client.get(names.worker(name)))
        if beating and '"role": "watch scheduler"' not in beating:
            raise UsageError("a worker of that name is live on this queue: give the "
                             "scheduler a name of its own (--name)", where=name)
        self.leadership = Leadership(self.client, name, lease=lease)
        seal = SharedSeal(self.client, self.patient, root, owner=name,
                          holds_job=self.leadership.still)
        self.archive = Archive(root, lane=name, shared=seal)
        self.runner = make_runner(self.archive, QueuedRuns(
            self.archive, self.client, self.patient, key, self.leadership))
        self.lease = lease

    def close(self) -> None:
        self.leadership.release()
        self.runner.close()

    def once(self) -> Pass:
        """One pass, when no other scheduler leads (ArchiveLocked when one does)."""
        if not self.patient(self.leadership.take):
            leader = holder(self.client)
            if leader is not None and leader.startswith("("):
                raise QueueError(f"the queue's key {KEY} was written by something other "
                                 "than custody: delete it", where=connection.shown(self.url))
            raise ArchiveLocked(f"the watch scheduler {leader!r} leads on this queue; its "
                                "runs are its own", where=connection.shown(self.url))
        try:
            with scheduler_lock(self.archive):
                return self.runner.run_due()
        finally:
            self.leadership.release()

    def serve(self, should_stop: Callable[[], bool], *, poll: float = 5.0) -> None:
        """Lead when no other does, stand by while one does, until ``should_stop``."""
        said: str | None = None
        while not should_stop() and not self.runner.interrupted:
            if not self.patient(self.leadership.take):
                leader = holder(self.client)
                if leader != said:
                    log.info("watch: standing by; %s leads", leader)
                    said = leader
                time.sleep(min(1.0, self.lease / 3))
                continue
            said = None
            log.info("watch: %s leads the watch schedule of %s", self.leadership.name,
                     self.archive.root)
            try:
                with scheduler_lock(self.archive):
                    self.runner.loop(lambda: should_stop() or not self.leadership.leads,
                                     poll=poll)
            except ArchiveLocked:  # a scheduler without --queue, or a leader that was paused
                log.warning("watch: another scheduler holds this archive's scheduler lock "
                            "(one without --queue, or a leader that was paused and has not "
                            "stopped yet); standing by")
                self.leadership.release()
                time.sleep(min(5.0, self.lease))
                continue
            finally:
                lost = not self.leadership.leads
                self.leadership.release()
            if lost:
                log.warning("watch: %s no longer leads (its lease ran out); standing by",
                            self.leadership.name)
