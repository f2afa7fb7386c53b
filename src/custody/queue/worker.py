"""`custody worker`: take jobs from the queue, capture each as one sealed capture.

A worker runs in a lane of the shared archive (its name): its WARC files and captures
are its own, signed with its own key; every seal goes through the shared seal lock, so
the hash chain and the ledger have one order across all workers. Before a job is
captured, the archive is asked what an earlier holder of the job left
(``.custody/jobs/JOB.json``): a sealed capture is published (ledger, log, database) and
the job is done without fetching anything; an unsealed one is set aside in
``.custody/abandoned/`` and the job is captured afresh.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.archive import Archive
from ..core.errors import CustodyError, JobRefused, QueueError, StoreError
from ..seal import journal
from . import connection, names
from .acceptance import Accepted, Gatekeeper, Permits
from .gate import HostGate
from .jobs import Queue, Taken
from .remote_index import RemoteIndex
from .sealing import LostSeal, SharedSeal
from .status import printable


@dataclass
class WorkerStats:
    jobs: int = 0
    done: int = 0
    failed: int = 0
    taken_over: int = 0
    lost: int = 0
    refused: int = 0
    pages: int = 0
    captures: list[str] = field(default_factory=list)


class Worker:
    def __init__(self, root: Path, url: str, *, name: str, key: Any,
                 visibility: float = 60.0, open_visitor: Any = None, open_media: Any = None,
                 say: Callable[[str], None] | None = None, db_url: str | None = None,
                 store_url: str | None = None, permits: Permits | None = None) -> None:
        self.url = url
        self.name = name
        self.key = key
        self.visibility = visibility
        self.open_visitor = open_visitor
        self.open_media = open_media
        self.client = connection.connect(url)
        self.patient = connection.Patient(url, say)
        self.say = self.patient.say
        self.queue = Queue(self.client, self.patient)
        beating = self.patient(lambda: self.client.get(names.worker(name)))
        if isinstance(beating, str) and '"role": "watch scheduler"' in beating:
            from ..core.errors import UsageError

            raise UsageError("a watch scheduler of that name is live on this queue: give "
                             "the worker a name of its own (--name)", where=name)
        self.patient(self.queue.ensure_group)
        self.taken: Taken | None = None
        self._warcs_aside: list[str] = []  # captures set aside whose WARCs are to follow
        self.mirror: Any = None  # the archive kept in an object store, this folder its copy
        if store_url is not None:
            from ..store.mirror import Mirror
            from ..store.s3 import Store

            self.mirror = Mirror(Store(store_url, say=self.say), root)
            self.mirror.claim("worker")
        self.seal = SharedSeal(self.client, self.patient, root, holds_job=self._holds_job,
                               owner=name, mirror=self.mirror, adopt=self._adopt)
        self.archive = Archive(root, lane=name, shared=self.seal,
                               mirrored=self.mirror is not None)
        self.gatekeeper = Gatekeeper(self.archive, permits or Permits(),
                                     refresh=self._refresh if self.mirror else None)
        # the index in PostgreSQL, copied to after each seal
        self.remote = None if db_url is None else \
            RemoteIndex(db_url, self.archive, say=self.say)
        self.stats = WorkerStats()
        self.gate_asks = 0
        self._stop = threading.Event()

    def join_store(self) -> None:
        """Make this folder a copy of the store's archive (sending it there first when the
        store holds none), before the key is checked against its allowed_signers."""
        if self.mirror is None:
            return
        import os

        signers = self.archive.allowed_signers
        wait = float(os.environ.get("CUSTODY_STORE_WAIT", "60"))
        deadline, told = time.monotonic() + wait, False
        while not (signers.exists() and signers.read_bytes().strip()) and \
                not self.mirror.seeded():  # another worker may be sending the archive now
            if time.monotonic() >= deadline:
                break  # _seed says what to do
            if not told:
                self.say("the store holds no archive yet; waiting for the first worker to "
                         "send one")
                told = True
            time.sleep(0.5)
        with self.archive.sealing():
            pass

    def _refresh(self) -> None:
        """This copy's allowed_signers and custody log as the store holds them now."""
        with self.archive.sealing():
            pass

    def _accept(self, job_id: str, fields: dict[str, Any]) -> Accepted:
        try:
            return self.gatekeeper.accept(job_id, fields)
        except JobRefused as exc:
            self.stats.refused += 1
            self.say(f"job {job_id[:40]!r} refused: {printable(str(exc))}")
            raise

    def _holds_job(self) -> bool:
        taken = self.taken
        return taken is None or self.queue.holds(taken)

    # -- the loop --------------------------------------------------------------------------

    def run(self, *, exit_when_idle: float | None = None, max_jobs: int | None = None) -> None:
        import redis

        beating = threading.Thread(target=self._beat, daemon=True, name="heartbeat")
        beating.start()
        try:
            self._loop(exit_when_idle, max_jobs)
        except redis.ResponseError as exc:  # a job's own keys are checked; these are not
            if "NOGROUP" in str(exc) or "no longer exists" in str(exc):
                raise QueueError("the queue's Redis no longer holds the queue (its stream "
                                 "or consumer group is gone: restarted without its data? "
                                 "run it with appendonly yes); the jobs it held must be "
                                 "queued again", where=connection.shown(self.url)) from None
            raise QueueError(f"the queue's Redis refused a command ({exc}); its keys were "
                             "written by something other than custody",
                             where=connection.shown(self.url)) from None
        finally:
            self._stop.set()
            beating.join(timeout=5)
            with contextlib.suppress(CustodyError, redis.RedisError):
                self.queue.leave(self.name)

    def _loop(self, exit_when_idle: float | None, max_jobs: int | None) -> None:
        idle_since = time.monotonic()
        with self.archive.lock():
            self._heal()
            if self.remote is not None:
                self.remote.copy(None)
            while not self._stop.is_set():
                if max_jobs is not None and self.stats.jobs >= max_jobs:
                    break
                taken = self.queue.next(self.name, self._accept,
                                        visibility=self.visibility, block=0.5)
                if taken is None:
                    if exit_when_idle is not None and \
                            time.monotonic() - idle_since >= exit_when_idle:
                        break
                    continue
                self.taken = taken
                try:
                    self._work(taken)
                finally:
                    self.taken = None
                    self._set_warcs_aside()
                idle_since = time.monotonic()

    def stop(self) -> None:
        self._stop.set()

    def _set_warcs_aside(self) -> None:
        from .aside import set_aside_warcs

        while self._warcs_aside:
            set_aside_warcs(self.archive, self._warcs_aside.pop())

    def _beat(self) -> None:
        import redis

        told = ""  # the job whose loss was said: once is enough
        while True:
            taken = self.taken
            try:
                if not self.queue.beat(self.name, taken, ttl=self.visibility) and \
                        taken is not None and told != taken.job.id:
                    told = taken.job.id
                    self.say(f"job {taken.job.id} was taken over by another worker; it "
                             "will not be sealed here")
            except redis.RedisError:
                pass
            if self._stop.wait(max(self.visibility / 4, 0.2)):
                return

    def _heal(self) -> None:
        """What a worker that died mid-seal may have torn: a ledger line, a log line, a
        checkpoint or log head behind, the database's rows of a sealed capture (under the
        seal lock: another worker's seal is never half seen)."""
        from ..seal.collector import collector_of
        from ..seal.history import History
        from ..seal.recovery import heal

        if self.mirror is not None:  # first what the store holds, settled and sent
            with self.archive.sealing():
                pass
        principal = collector_of(self.archive, self.key)["operator"]
        with self.archive.sealing():
            history = History.open(self.archive.root, write=True)
            if self.mirror is not None:  # sealed here, never sent: not in the store's ledger
                from ..seal import manifest
                from ..seal.ledger import Ledger

                known = Ledger(self.archive.manifests_dir).leaf_ids()
                for path in manifest.paths(self.archive.manifests_dir):
                    capture_id = path.name.removesuffix(".json")
                    if capture_id not in known:
                        self._set_aside(capture_id)
            heal(self.archive, history, key=self.key, principal=principal)

    # -- one job ---------------------------------------------------------------------------

    def _work(self, taken: Taken) -> None:
        from ..capture import run as capture
        from ..seal.manifest import manifest_path

        self.stats.jobs += 1
        job = taken.job
        if taken.taken_over_from:
            self.stats.taken_over += 1
            self.say(f"took over job {job.id} ({job.host}) from {taken.taken_over_from}")
        done = capture.read_job_marker(self.archive, job.id, done=True)
        if done is not None and manifest_path(self.archive.manifests_dir,
                                              done["capture_id"]).exists():
            self.say(f"job {job.id} was done already, sealed as {done['capture_id']}: its "
                     "state in the queue was set back by something other than a worker; "
                     "nothing fetched again")
            self._finish(taken, "done", done["capture_id"], "")
            return
        left = capture.read_job_marker(self.archive, job.id)
        if left is None and self.mirror is not None:  # left by a worker on another machine
            left = self.mirror.job_marker(job.id)
        if left is not None:
            sealed = self._what_was_left(left)
            if sealed is not None:
                self._finish(taken, "done", sealed, "")
                return
        settings = job.settings  # checked, with this worker's own files (acceptance)
        lease = max(settings.timeout, settings.page_timeout if settings.browser else 0) + 30
        gate = HostGate(self.client, self.patient, lease=lease, owner=self.name,
                        concurrency=1 if settings.delay else settings.concurrency,
                        delay=settings.delay)
        try:
            result = capture.start(self.archive, job.urls, key=self.key, settings=settings,
                                   job=job.id, gate=gate, open_visitor=self.open_visitor,
                                   open_media=self.open_media)
        except LostSeal as exc:
            self.stats.lost += 1
            self.say(f"job {job.id}: not sealed here: {exc}")
            # this worker's own capture, never the job marker's: that may name the
            # capture the job's new holder is making now
            if exc.capture_id is not None and (self.mirror is not None or not manifest_path(
                    self.archive.manifests_dir, exc.capture_id).exists()):
                # (a sealed one is the job's new holder's)
                self._set_aside(exc.capture_id, warcs="later")
            return
        except StoreError:
            raise  # the store's, not the job's: the worker stops, the job goes to another
        except CustodyError as exc:
            self._finish(taken, "failed", "", str(exc))
            return
        finally:
            self.gate_asks += gate.asks
        self.stats.pages += result.resources
        reason = "; ".join(f"{f['url']}: {f['reason']}" for f in result.failures[:5])
        outcome = "failed" if result.status in ("failed", "interrupted") else "done"
        if result.status == "interrupted":
            reason = f"interrupted ({result.left} URLs left); sealed as {result.capture_id}"
            self._stop.set()
        self._finish(taken, outcome, result.capture_id, reason)

    def _finish(self, taken: Taken, outcome: str, capture_id: str, reason: str) -> None:
        from ..capture import run as capture

        if self.queue.finish(taken, outcome, capture_id=capture_id, reason=reason):
            if outcome == "done":
                self.stats.done += 1
            else:
                self.stats.failed += 1
            if capture_id:
                self.stats.captures.append(capture_id)
                if self.remote is not None:
                    self.remote.copy(capture_id)
            capture.job_done(self.archive, taken.job.id, capture_id)
            if self.mirror is not None:
                self.mirror.forget_job(taken.job.id)
        else:  # another worker holds it now, and finds the sealed capture it left
            self.say(f"job {taken.job.id}: sealed as {capture_id}, but taken over meanwhile "
                     "by another worker, which will find it sealed")

    def _what_was_left(self, marker: dict[str, Any]) -> str | None:
        """The capture an earlier holder of the job sealed (now published whole), or None
        when it left nothing sealed (what it left is set aside)."""
        from ..index import db
        from ..seal import manifest
        from ..seal.reindex import index_sealed
        from ..seal.sealing import publish

        capture_id = marker["capture_id"]
        path = manifest.manifest_path(self.archive.manifests_dir, capture_id)
        if self.mirror is not None:
            with self.archive.sealing():  # the store's ledger, with what was left settled
                sealed_there = self.mirror.in_ledger(capture_id)
            if not sealed_there:
                self._set_aside(capture_id, warcs="never")
                self.mirror.forget_job(marker["job"])
                return None
            self.say(f"job {marker['job']}: {marker.get('worker')} had sealed it as "
                     f"{capture_id} in the store; fetched nothing again")
            return capture_id
        if not path.exists():
            self._set_aside(capture_id, warcs="never")
            return None
        from ..seal.collector import collector_of
        from ..seal.history import History

        with self.archive.sealing():
            principal = collector_of(self.archive, self.key)["operator"]
            publish(self.archive, History.open(self.archive.root, write=True), capture_id,
                    key=self.key, principal=principal)
            database = db.connect(self.archive.db_path)
            try:
                if capture_id not in db.capture_ids(database):
                    index_sealed(self.archive, database, manifest.read(path))
            finally:
                database.conn.close()
            journal.end(self.archive, capture_id)
        self.say(f"job {marker['job']}: {marker.get('worker')} had sealed it as {capture_id}; "
                 "published it, fetched nothing again")
        return capture_id

    def _adopt(self, capture_id: str) -> bool:
        """Publish (ledger leaf, checkpoint, log event) a capture a worker that died had
        sent to the store whole, when it is the next in the chain; whether it was."""
        from ..seal import manifest
        from ..seal.collector import collector_of
        from ..seal.history import History
        from ..seal.sealing import in_ledger, publish

        path = manifest.manifest_path(self.archive.manifests_dir, capture_id)
        history = History.open(self.archive.root, write=True)
        sealed = manifest.read(path, lazy=True)
        if not in_ledger(self.archive, history, sealed):
            sequence, previous = history.head()
            chain = sealed.head.get("chain") or {}
            if sealed.sequence != sequence + 1 or chain.get("previous_sha256") != previous:
                return False
        principal = collector_of(self.archive, self.key)["operator"]
        publish(self.archive, history, capture_id, key=self.key, principal=principal)
        self.say(f"{capture_id}: sent whole to the store by a worker that stopped before its "
                 "ledger leaf; published it")
        return True

    def _set_aside(self, capture_id: str, *, warcs: str = "now") -> None:
        """``warcs``: its WARC files too "now"; "later", once the job's work is over (this
        worker's own capture, whose extraction may read them until then); or "never" (an
        earlier holder's, which may still be alive and writing them: verify notes them as
        left by an interrupted capture)."""
        from .aside import set_aside

        set_aside(self.archive, capture_id, self.mirror, warcs=warcs == "now")
        if warcs == "later":
            self._warcs_aside.append(capture_id)
        self.say(f"{capture_id}: an unsealed capture of a job taken over; set aside, the job "
                 "is captured afresh")
