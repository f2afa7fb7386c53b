"""WARC files read back in worker processes while verification checks the rest.

Reading every file back -- inflating each record to recompute its digests -- is the
longest part of verification. ``Scans`` starts it at once in forked workers, one per
core, while the parent checks signatures, timestamps, the ledger and the database,
and hands each file's ``Scan`` over when verification reaches it.

A file is cut into parts at its sealed record places, so that one large file keeps
every core busy: each worker inflates the records of its parts (each place must hold
exactly one whole gzip member), and one reads the whole file for its sha256. The parts
are put together only when that sha256 is the sealed one and every place held; in any
other case -- an altered file, a worker that failed -- the parent walks the file
itself, member by member, so that what changed is found and located.

Where fork is missing, where threads already run (a forked copy of them is unsafe), or
on a single core, each file is scanned in-process when it is asked for: same results.
"""

from __future__ import annotations

import marshal
import os
import selectors
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .warcscan import Member, Scan, contiguous, file_sha256, read_members, scan

_FRAME = struct.Struct(">Q")
_MIN_PART = 4 * 1024 * 1024  # smaller parts cost more in hand-over than they save
Layout = list[tuple[int, int]]


@dataclass
class _File:
    path: Path
    sha256: str | None  # sealed
    layout: Layout | None  # sealed record places, when they cover the file
    jobs: list[int] = field(default_factory=list)


def _run(job: tuple[Any, ...]) -> Any:
    """One job in a worker: ("sha256", path) or ("members", path, layout)."""
    path = Path(job[1])
    try:
        if job[0] == "sha256":
            return ("sha256", *file_sha256(path))
        members = read_members(path, job[2])
        return ("members", None if members is None else [
            (m.offset, m.length, m.member_sha256, m.headers, m.block_sha256, m.error)
            for m in members])
    except OSError as exc:
        return ("oserror", exc.errno, exc.strerror or str(exc))


def _serve(fd: int, jobs: list[tuple[int, tuple[Any, ...]]], parent: int) -> None:
    """The worker: run each job in turn and send its result at once; never returns."""
    code = 0
    try:
        import gc

        gc.disable()  # collections would touch, and so copy, every page shared with the parent
        from .children import die_with_parent

        die_with_parent(parent)
        with os.fdopen(fd, "wb", buffering=0) as out:
            for number, job in jobs:
                data = marshal.dumps((number, _run(job)))
                out.write(_FRAME.pack(len(data)) + data)
    except BaseException:  # the parent scans what it did not get
        code = 1
    finally:
        os._exit(code)


class _Worker:
    def __init__(self, jobs: list[tuple[int, tuple[Any, ...]]], pool: Scans) -> None:
        read_end, write_end = os.pipe()
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(read_end)
            for sibling in pool.workers:  # pipes of the workers forked before this one
                os.close(sibling.fd)
            _serve(write_end, jobs, parent)
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


def _drain(workers: list[_Worker], pool: Scans) -> None:
    """One thread reads every worker's results as they come, so no worker waits on a full
    pipe while the parent is busy elsewhere."""
    with selectors.DefaultSelector() as selector:
        for worker in workers:
            selector.register(worker.fd, selectors.EVENT_READ, worker)
        while selector.get_map():
            for key, _ in selector.select():
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


class Scans:
    """Scans of files given as (path, sealed sha256 or None, sealed record places or None),
    started at once; ``get`` hands each over."""

    def __init__(self, files: list[tuple[Path, str | None, Layout | None]],
                 workers: int | None = None) -> None:
        self._files = {path: _File(path, sha256, layout if layout and contiguous(layout)
                                   else None) for path, sha256, layout in files}
        self._results: dict[int, Any] = {}
        self._owner: dict[int, _Worker] = {}
        self._changed = threading.Condition()
        self.workers: list[_Worker] = []
        if workers is None:  # on one core a worker would only take turns with us
            workers = cores if (cores := os.cpu_count() or 1) > 1 else 0
        if workers < 1 or not files or not hasattr(os, "fork") or threading.active_count() > 1:
            return
        shares = _deal(_plan(list(self._files.values()), workers), workers)
        for share in shares:
            if share:
                worker = _Worker(share, self)
                self.workers.append(worker)
                for number, _ in share:
                    self._owner[number] = worker
        if self.workers:  # the thread only once every worker is forked
            threading.Thread(target=_drain, args=(self.workers, self), daemon=True).start()

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
        results = []
        with self._changed:
            for number in entry.jobs:
                worker = self._owner[number]
                while number not in self._results and not worker.done:
                    self._changed.wait()
                results.append(self._results.pop(number, None))
        return _assemble(entry, results) or scan(path, entry.sha256, entry.layout)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []

    def __enter__(self) -> Scans:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plan(files: list[_File], workers: int) -> list[tuple[int, int, tuple[Any, ...]]]:
    """Jobs as (number, cost, job): per file its sha256, and its records in parts."""
    total = sum(_size(f.path) for f in files)
    part = max(_MIN_PART, -(-total // workers))
    jobs: list[tuple[int, int, tuple[Any, ...]]] = []
    for f in files:
        if f.layout is None:
            continue  # walked in-process when asked for: there is no sealed layout to cut
        f.jobs.append(len(jobs))
        jobs.append((len(jobs), _size(f.path) // 8, ("sha256", str(f.path))))
        start, cut = 0, 0
        for i, (offset, length) in enumerate(f.layout):
            if offset + length - cut >= part or i == len(f.layout) - 1:
                f.jobs.append(len(jobs))
                jobs.append((len(jobs), offset + length - cut,
                             ("members", str(f.path), f.layout[start : i + 1])))
                start, cut = i + 1, offset + length
    return jobs


def _deal(jobs: list[tuple[int, int, tuple[Any, ...]]],
          workers: int) -> list[list[tuple[int, tuple[Any, ...]]]]:
    """Jobs dealt out largest first to the least loaded worker, each share in job order."""
    shares: list[list[tuple[int, tuple[Any, ...]]]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for number, cost, job in sorted(jobs, key=lambda j: -j[1]):
        least = loads.index(min(loads))
        shares[least].append((number, job))
        loads[least] += cost
    return [sorted(share) for share in shares]


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
