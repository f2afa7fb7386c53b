"""WARC files read back, and timestamps checked, in worker processes while verification
checks the rest.

Reading every file back -- inflating each record to recompute its digests -- is the
longest part of verification, and checking an RFC 3161 token the next (its libraries
alone take a while to load). ``Scans`` starts both at once in forked workers, one per
core, while the parent checks signatures, the ledger and the database, and hands each
result over when verification reaches it.

A file is cut into parts at its sealed record places, so that one large file keeps
every core busy: one job reads the whole file for its sha256, the others inflate the
records of a part each (each place must hold exactly one whole gzip member). Workers
take the jobs in order from a queue as they get free. The parts are put together only
when that sha256 is the sealed one and every place held; in any other case -- an
altered file, a worker that failed -- the parent walks the file itself, member by
member, so that what changed is found and located.

Where fork is missing, where threads already run (a forked copy of them is unsafe), or
on a single core, each file is scanned in-process when it is asked for: same results.
"""

from __future__ import annotations

import marshal
import os
import select
import selectors
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .warcscan import Member, Scan, contiguous, file_sha256, read_members, scan

_FRAME = struct.Struct(">Q")
_JOB = struct.Struct(">I")
_PIPE_ATOMIC = select.PIPE_BUF // _JOB.size * _JOB.size  # a write this small is whole
_MIN_PART = 256 * 1024  # smaller parts cost more in hand-over than they save
_MAX_PART = 64 * 1024 * 1024
Layout = list[tuple[int, int]]


@dataclass
class _File:
    path: Path
    sha256: str | None  # sealed
    layout: Layout | None  # sealed record places, when they cover the file
    jobs: list[int] = field(default_factory=list)


def _run(job: tuple[Any, ...]) -> Any:
    """One job in a worker: ("sha256", path), ("members", path, layout), or
    ("token", token path, manifest path, archive root)."""
    path = Path(job[1])
    try:
        if job[0] == "token":
            return _check_token(path, Path(job[2]), Path(job[3]))
        if job[0] == "sha256":
            return ("sha256", *file_sha256(path))
        members = read_members(path, job[2])
        return ("members", None if members is None else [
            (m.offset, m.length, m.member_sha256, m.headers, m.block_sha256, m.error)
            for m in members])
    except OSError as exc:
        return ("oserror", exc.errno, exc.strerror or str(exc))


def _check_token(token: Path, manifest_path: Path, root: Path) -> Any:
    """A timestamp token checked against the archive's trusted roots; None when the roots
    cannot be read (the parent then checks it, and notes why)."""
    from .config import load
    from .errors import UsageError
    from .timestamp import check_token, load_certificates

    try:
        roots = load_certificates(load(root).tsa_roots)
    except (OSError, ValueError, UsageError):
        return None
    result = check_token(token.read_bytes(), manifest_path.read_bytes(), roots)
    gen_time = result.gen_time.isoformat() if result.gen_time else None
    return ("token", result.outcome, result.detail, gen_time)


def _serve(queue: int, out: int, jobs: list[tuple[Any, ...]], parent: int) -> None:
    """The worker: take the next job number from the queue, run it, send its result at
    once, until the queue is empty; never returns.

    It ends with its parent: a write to a pipe nobody reads fails, and before each job
    it looks whether its parent is still there (parts are bounded, so it soon looks).
    """
    code = 0
    try:
        import gc

        gc.disable()  # collections would touch, and so copy, every page shared with the parent
        while os.getppid() == parent and len(head := os.read(queue, _JOB.size)) == _JOB.size:
            number = _JOB.unpack(head)[0]
            data = marshal.dumps((number, _run(jobs[number])))
            frame = memoryview(_FRAME.pack(len(data)) + data)
            while frame:
                frame = frame[os.write(out, frame) :]
    except BaseException:  # the parent scans what it did not get
        code = 1
    finally:
        os._exit(code)


class _Worker:
    def __init__(self, queue: int, jobs: list[tuple[Any, ...]], pool: Scans) -> None:
        read_end, write_end = os.pipe()
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(read_end)
            os.close(pool.queue_end)  # or the queue would never end for this worker
            for sibling in pool.workers:  # pipes of the workers forked before this one
                os.close(sibling.fd)
            _serve(queue, write_end, jobs, parent)
        os.close(write_end)
        self.fd = read_end
        self.done = False
        self._pending = bytearray()

    def receive(self) -> list[tuple[int, Any]] | None:
        """The results whose frames are complete after one read; None at the end."""
        data = os.read(self.fd, 1 << 20)
        if not data:
            return None
        self._pending += data
        results = []
        while len(self._pending) >= _FRAME.size:
            size = _FRAME.unpack_from(self._pending)[0]
            if len(self._pending) < _FRAME.size + size:
                break
            results.append(marshal.loads(self._pending[_FRAME.size : _FRAME.size + size]))
            del self._pending[: _FRAME.size + size]
        return results

    def stop(self) -> None:
        try:
            if not self.done:
                os.kill(self.pid, 15)
            os.waitpid(self.pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass


def _drain(pool: Scans, queue: bytes) -> None:
    """One thread feeds the rest of the job queue and reads every worker's results as they
    come, so that no worker waits on a full pipe while the parent is busy elsewhere."""
    with selectors.DefaultSelector() as selector:
        for worker in pool.workers:
            selector.register(worker.fd, selectors.EVENT_READ, worker)
        if queue:
            selector.register(pool.queue_end, selectors.EVENT_WRITE, None)
        else:
            os.close(pool.queue_end)
        while selector.get_map():
            for key, _ in selector.select():
                if key.data is None:
                    queue = _feed(pool.queue_end, queue)
                    if not queue:
                        selector.unregister(pool.queue_end)
                        os.close(pool.queue_end)
                    continue
                worker = key.data
                try:
                    results = worker.receive()
                except Exception:  # a torn or odd frame: what was not delivered
                    results = None  # is scanned in-process
                for number, result in results or []:
                    pool.deliver(number, result)
                if results is None:
                    selector.unregister(worker.fd)
                    os.close(worker.fd)
                    pool.worker_ended(worker)


def _feed(fd: int, queue: bytes) -> bytes:
    """Write whole job numbers to the non-blocking queue while it takes them; the rest."""
    while queue:
        piece = queue[:_PIPE_ATOMIC]
        try:
            os.write(fd, piece)
        except BlockingIOError:
            break
        except OSError:  # every worker is gone: the parent scans what is left
            return b""
        queue = queue[len(piece) :]
    return queue


class Scans:
    """Scans of files given as (path, sealed sha256 or None, sealed record places or None),
    started at once; ``get`` hands each over."""

    def __init__(self, files: list[tuple[Path, str | None, Layout | None]],
                 workers: int | None = None, *,
                 tokens: list[tuple[Path, Path]] | None = None, root: Path | None = None,
                 ) -> None:
        """``tokens`` (token path, manifest path) are checked too, against the trusted
        roots of the archive at ``root``."""
        self._files = {path: _File(path, sha256, layout if layout and contiguous(layout)
                                   else None) for path, sha256, layout in files}
        self._tokens: dict[Path, int] = {}
        self._results: dict[int, Any] = {}
        self._changed = threading.Condition()
        self.workers: list[_Worker] = []
        self.queue_end = -1
        if workers is None:  # on one core a worker would only take turns with us
            workers = cores if (cores := os.cpu_count() or 1) > 1 else 0
        if workers < 1 or not hasattr(os, "fork") or threading.active_count() > 1:
            return
        jobs: list[tuple[Any, ...]] = []
        for token, manifest_path in (tokens or []) if root is not None else []:
            self._tokens[token] = len(jobs)
            jobs.append(("token", str(token), str(manifest_path), str(root)))
        _plan(list(self._files.values()), workers, jobs)
        if not jobs:
            return
        queue_out, self.queue_end = os.pipe()
        os.set_blocking(self.queue_end, False)
        rest = _feed(self.queue_end, b"".join(_JOB.pack(n) for n in range(len(jobs))))
        for _ in range(min(workers, len(jobs))):
            try:
                self.workers.append(_Worker(queue_out, jobs, self))
            except OSError:  # no more processes to be had: fewer workers, or none
                break
        os.close(queue_out)
        if not self.workers:
            os.close(self.queue_end)
            return
        # the thread only once every worker is forked
        threading.Thread(target=_drain, args=(self, rest), daemon=True).start()

    def deliver(self, number: int, result: Any) -> None:
        with self._changed:
            self._results[number] = result
            self._changed.notify_all()

    def worker_ended(self, worker: _Worker) -> None:
        with self._changed:
            worker.done = True
            self._changed.notify_all()

    def get(self, path: Path) -> Scan:
        """The file's scan; raises OSError when it cannot be read."""
        entry = self._files.get(path) or _File(path, None, None)
        results = [self._result(number) for number in entry.jobs]
        return _assemble(entry, results) or scan(path, entry.sha256, entry.layout)

    def token(self, path: Path) -> tuple[str, str, str | None] | None:
        """A token's check as (outcome, detail, genTime in ISO 8601), when a worker made
        it; None when the caller must check it."""
        number = self._tokens.pop(path, None)
        result = self._result(number) if number is not None else None
        return tuple(result[1:]) if result and result[0] == "token" else None  # type: ignore[return-value]

    def _result(self, number: int) -> Any:
        with self._changed:
            while number not in self._results and not all(w.done for w in self.workers):
                self._changed.wait()
            return self._results.pop(number, None)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []

    def __enter__(self) -> Scans:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plan(files: list[_File], workers: int, jobs: list[tuple[Any, ...]]) -> None:
    """More jobs, numbered by their place in the list: per file its sha256, then its
    records in parts. Workers take them in turn as they get free, and parts are small
    enough that each worker takes several -- text (slow to inflate) and photos (stored,
    quick) then fall to every worker alike -- and bounded, so that a worker whose parent
    was killed notices soon."""
    total = sum(_size(f.path) for f in files)
    part = min(_MAX_PART, max(_MIN_PART, total // (workers * 16)))
    for f in files:
        if f.layout is None:
            continue  # walked in-process when asked for: there is no sealed layout to cut
        f.jobs.append(len(jobs))
        jobs.append(("sha256", str(f.path)))
        start, cut = 0, 0
        for i, (offset, length) in enumerate(f.layout):
            if offset + length - cut >= part or i == len(f.layout) - 1:
                f.jobs.append(len(jobs))
                jobs.append(("members", str(f.path), f.layout[start : i + 1]))
                start, cut = i + 1, offset + length


def _assemble(entry: _File, results: list[Any]) -> Scan | None:
    """The file's scan from its jobs' results; None when the parent must walk it."""
    if not results or any(r is None for r in results):
        return None
    for result in results:
        if result[0] == "oserror":
            raise OSError(result[1], result[2], str(entry.path))
    _, size, digest = results[0]
    if digest != entry.sha256 or entry.layout is None or size != sum(n for _, n in entry.layout):
        return None
    members: list[Member] = []
    for _, part in results[1:]:
        if part is None:
            return None
        members.extend(Member(*fields) for fields in part)
    return Scan(size, digest, members)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
