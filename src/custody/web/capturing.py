"""Captures asked for in the workbench: run by the library (custody.capture.run.start, as
`custody archive` runs it), one at a time, each in a process of its own, never in the
request; or put on the shared Redis queue when the server was given one.

A process, not a thread: a capture holds the archive's writer lock for its whole crawl
and its seal, signals and the sealing lock are per process, and a browser capture's
Chromium and extraction's workers are its children -- when it ends, for whatever
reason, all of that ends with it and the server goes on. It tells the server how it
goes (pages fetched, queued, failed, bytes) through a pipe; the server sees "sealing"
in the archive's sealing journal, and the result when it is sent.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue
from typing import Any

from ..core.archive import Archive
from ..core.errors import CustodyError, UsageError
from .events import Recorder

log = logging.getLogger("custody.serve")
KEPT = 200  # finished jobs kept for their pages


@dataclass
class Job:
    id: str
    seeds: list[str]
    settings: dict[str, Any]
    account: str
    asked_at: str
    state: str = "queued"  # queued, fetching, sealing, done, failed
    progress: dict[str, Any] = field(default_factory=dict)
    capture_id: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    queued_jobs: list[str] = field(default_factory=list)  # on the Redis queue
    cookies_file: str | None = None  # an uploaded cookies.txt, removed when done
    case: str | None = None  # the case its capture goes into once sealed
    filed: str = ""  # how adding it to the case went

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "seeds": self.seeds,
                "progress": self.progress, "capture_id": self.capture_id,
                "result": self.result, "error": self.error,
                "queued_jobs": self.queued_jobs, "case": self.case, "filed": self.filed}


def _child(root: str, seeds: list[str], settings: dict[str, Any],
           logins: list[list[str]], key: bytes | None, conn: Any) -> None:
    """The capture, in its own process."""
    from ..core.processes import die_with_parent

    die_with_parent(os.getppid())
    try:
        from ..capture import run
        from ..capture.settings import Settings
        from ..core.agent import agent_fingerprint, agent_key

        if key is not None:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            signing: Any = Ed25519PrivateKey.from_private_bytes(key)
        else:
            fingerprint = agent_fingerprint()
            if fingerprint is None:
                raise UsageError("no key to sign the capture with")
            signing = agent_key(fingerprint)
        chosen = Settings.from_json(settings)
        last = [0.0]

        seen: list[Any] = [None, 0]

        def progress(stats: Any, queued: int, force: bool = False) -> None:
            seen[0], seen[1] = stats, queued
            now = time.monotonic()
            if force or now - last[0] >= 0.25:
                last[0] = now
                conn.send(("progress", {"fetched": stats.fetched, "queued": queued,
                                        "failed": stats.failed, "bytes": stats.bytes,
                                        "seconds": round(stats.elapsed, 1)}))

        def visitor(fetcher: Any, given: Any) -> Any:
            from ..browser.session import open_visitor
            from ..replay.check import check_capture

            return open_visitor(fetcher, given, check_capture)

        def media(fetcher: Any, given: Any) -> Any:
            from ..media.session import open_media

            return open_media(fetcher, given)

        result = run.start(Archive.open(root), seeds, key=signing, settings=chosen,
                           on_progress=progress, open_visitor=visitor, open_media=media,
                           logins=logins)
        if seen[0] is not None:  # the last counts, which the quarter-second limit held back
            progress(seen[0], 0, force=True)
        conn.send(("done", {"capture_id": result.capture_id, "status": result.status,
                            "resources": result.resources, "documents": result.documents,
                            "failures": result.failures, "notes": result.notes,
                            "stopped": result.stopped}))
    except BaseException as exc:  # every end is told to the server, then the process ends
        conn.send(("failed", f"{type(exc).__name__}: {exc}" if not str(exc) or
                   type(exc).__name__ not in ("UsageError", "ArchiveLocked", "KeyProblem",
                                              "InvalidURL", "ArchiveError")
                   else str(exc)))
    finally:
        conn.close()


class Captures:
    """The capture jobs of this server: a queue worked by one thread, each job's state
    kept for its page."""

    def __init__(self, archive: Archive, recorder: Recorder, *, key_bytes: bytes | None,
                 queue_url: str | None = None, db_url: str | None = None) -> None:
        self.archive = archive
        self.recorder = recorder
        self.key_bytes = key_bytes
        self.queue_url = queue_url
        self.remote: Any = None  # --db: each capture sealed here copied into the shared index
        if db_url is not None:
            from ..queue.remote_index import RemoteIndex

            self.remote = RemoteIndex(db_url, archive, say=log.warning)
            # what an earlier run sealed here while PostgreSQL was away, copied now
            threading.Thread(target=self._catch_up, name="custody-index-start",
                             daemon=True).start()
        self.jobs: dict[str, Job] = {}
        self._waiting: Queue[Job | None] = Queue()
        self._lock = threading.Lock()
        self._context = multiprocessing.get_context("spawn")
        self._thread = threading.Thread(target=self._work, name="custody-captures",
                                        daemon=True)
        self._thread.start()
        self._current: Any = None

    def submit(self, seeds: list[str], settings: dict[str, Any], logins: list[list[str]],
               account: str, cookies_file: str | None = None,
               case: str | None = None) -> Job:
        from datetime import UTC, datetime

        job = Job(uuid.uuid4().hex, seeds, settings, account,
                  datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                  cookies_file=cookies_file, case=case)
        job.progress["logins"] = len(logins)
        with self._lock:
            self.jobs[job.id] = job
            for old in [j for j in self.jobs.values() if j.state in ("done", "failed")][
                    :-KEPT]:
                del self.jobs[old.id]
        if self.queue_url is not None:
            self._enqueue(job)
        else:
            job.progress["_logins"] = logins  # (never shown: the page reads to_json)
            self._waiting.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def recent(self) -> list[Job]:
        return list(reversed(self.jobs.values()))

    def _enqueue(self, job: Job) -> None:
        from ..queue.connection import connect
        from ..queue.jobs import Queue as JobQueue

        client = connect(self.queue_url or "")
        if self.recorder.key is None:
            raise UsageError("no archivist's key to sign the queued jobs with")
        queued = JobQueue(client).enqueue(job.seeds, job.settings, 50, key=self.recorder.key)
        job.queued_jobs = [q.id for q in queued]
        job.state = "queued"
        self.recorder.record("capture-asked", job.account, {
            "seeds": job.seeds[:100], "seed_count": len(job.seeds), "asked_at": job.asked_at,
            "queue_jobs": job.queued_jobs})

    def _work(self) -> None:
        while True:
            job = self._waiting.get()
            if job is None:
                return
            try:
                self._run(job)
            except Exception as exc:  # the worker goes on to the next job
                log.exception("capture job %s", job.id)
                job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
            finally:
                if job.cookies_file:
                    Path(job.cookies_file).unlink(missing_ok=True)

    def _run(self, job: Job) -> None:
        from ..seal import journal

        logins = job.progress.pop("_logins", [])
        asked = {"seeds": job.seeds[:100], "seed_count": len(job.seeds),
                 "asked_at": job.asked_at, "request": job.id}
        if self.recorder.can_sign:  # who asked, before anything is fetched
            self.recorder.record("capture-asked", job.account, asked)
        receive, send = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_child, args=(str(self.archive.root), job.seeds, job.settings, logins,
                                 self.key_bytes, send), name="custody-capture", daemon=True)
        job.state = "fetching"
        sealed = False
        process.start()
        send.close()
        self._current = process
        try:
            while True:
                if receive.poll(0.5):
                    try:
                        kind, body = receive.recv()
                    except EOFError:
                        kind, body = "failed", "the capture process ended without a word"
                    if kind == "progress":
                        job.progress.update(body)
                        continue
                    if kind == "done":  # shown done once it is logged (and in its case)
                        job.result, job.capture_id, sealed = body, body["capture_id"], True
                        job.state = "sealing"
                    else:
                        job.state, job.error = "failed", str(body)
                    break
                if not process.is_alive() and not receive.poll(0):
                    job.state = "failed"
                    job.error = f"the capture process ended (exit code {process.exitcode})"
                    break
                if job.state == "fetching" and journal.pending(self.archive):
                    job.state = "sealing"
        finally:
            process.join(30)
            receive.close()
            self._current = None
        if self.recorder.can_sign:  # what the request became: its capture, or why none
            if sealed:
                self.recorder.record("capture-delivered", job.account,
                                     {"request": job.id, "capture_id": job.capture_id})
            else:
                self.recorder.record("capture-failed", job.account,
                                     {"request": job.id, "error": job.error[:500]})
        if sealed:
            self._file(job, [job.capture_id])
            if self.remote is not None:  # listed with the team's (a PostgreSQL away: later)
                self.remote.copy(job.capture_id)
                self._catch_up(copy=False)
            job.state = "done"

    def _catch_up(self, copy: bool = True) -> None:
        """Copy into the shared index what custody.db holds and it lacks (``copy``), and
        while it is away, try again every 30 s."""
        if copy:
            self.remote.copy(None)
        self.remote.catch_up(float(os.environ.get("CUSTODY_TEST_INDEX_RETRY") or 30))

    def _file(self, job: Job, capture_ids: list[str]) -> None:
        """Add the job's sealed captures to the case it asked for, as `custody case add`
        does (a signed event naming the account); why not, when it could not be."""
        with self._lock:  # (the queue's jobs are followed by each request for the page)
            if job.case is None or job.filed or not capture_ids:
                return
            job.filed = "being added to the case"
        from ..annotate import Signer, add_to_case

        if self.recorder.key is None or self.recorder.principal is None:
            job.filed = "not added to the case: no archivist's key"
            return
        try:
            add_to_case(self.archive, job.case, capture_ids,
                        signer=Signer(self.recorder.key, self.recorder.principal,
                                      account=job.account))
            job.filed = "added to the case"
        except CustodyError as exc:
            job.filed = f"not added to the case: {exc}"
            log.warning("capture job %s: %s", job.id, job.filed)

    def queue_states(self, job: Job) -> dict[str, dict[str, str]]:
        """The Redis jobs' states (pending, inflight, done, failed, gone) and captures;
        the job follows them: done when each is over, its capture when there is one."""
        if not job.queued_jobs or self.queue_url is None:
            return {}
        from ..queue import names
        from ..queue.connection import connect

        client = connect(self.queue_url)
        out = {}
        for queued in job.queued_jobs:
            state, capture, reason = client.hmget(names.job(queued),
                                                  ["state", "capture_id", "reason"])
            out[queued] = {"state": state or "gone", "capture_id": capture or "",
                           "reason": reason or ""}
        states = {v["state"] for v in out.values()}
        if states <= {"done", "failed", "gone"}:
            captures = [v["capture_id"] for v in out.values() if v["capture_id"]]
            job.state = "done" if "done" in states else "failed"
            job.capture_id = captures[0] if len(captures) == 1 else ""
            job.error = "; ".join(v["reason"] for v in out.values() if v["reason"])
            self._file(job, captures)
        elif "inflight" in states:
            job.state = "fetching"
        return out

    def close(self) -> None:
        self._waiting.put(None)
        process = self._current
        if process is not None and process.is_alive():
            process.terminate()  # the capture seals what it has (SIGTERM), as Ctrl-C does
            process.join(30)
