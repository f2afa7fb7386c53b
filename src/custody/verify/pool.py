"""Jobs run in forked worker processes, each result handed over when it is asked for.

Verification is a set of independent jobs -- the seals and proofs, the timestamp
tokens, the database, each WARC file's sha256 and its records in parts -- planned once
the manifests are read. ``Pool`` forks one worker per core; each takes the next job
number from a shared queue as it gets free and sends the result back at once, and the
parent, while it waits for a result, takes jobs from the same queue too. A job is a callable taking
nothing (a fork shares the parent's memory, so nothing is pickled); its result must be
marshal-able: tuples, lists, dicts, str, bytes, numbers, None.

Whatever a worker does not deliver -- the job raised, the worker died, the result
could not be sent -- is run in the parent when it is asked for, so that a result is
always the job's own, errors included. Without workers (``workers=0``, one core, no
fork, or threads already running, which a fork would copy unsafely) every job runs in
the parent when asked for: the same results, one after another.
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import os
import select
import struct
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..core import faults

Job = Callable[[], Any]
_FRAME = struct.Struct(">QI?")  # length of the marshalled result, job number, delivered
_JOB = struct.Struct(">I")
_PIPE_ATOMIC = select.PIPE_BUF // _JOB.size * _JOB.size  # a write this small is whole


_PIPES: set[int] = set()  # the ends of pool pipes open in this process, of every pool


def _pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    _PIPES.update((read_end, write_end))
    return read_end, write_end


def _close(fd: int) -> None:
    _PIPES.discard(fd)
    os.close(fd)


def default_workers() -> int:
    """One worker per core this process may use but one, since the parent takes jobs
    too while it waits: one process per core (a worker more only takes turns with the
    others, and holds what it reads besides)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(cores - 1, 0)


def _threads_running() -> bool:
    """Whether threads besides this one run: a fork would copy them unsafely. Without
    the threading module ever imported, none were started from Python."""
    threading = sys.modules.get("threading")
    return threading is not None and threading.active_count() > 1


def _run(job: Job) -> Any:
    return job()


def _serve(queue: int, out: int, jobs: Sequence[Job], parent: int) -> None:
    """The worker: take the next job number from the queue, run it, send its result at
    once, until the queue ends; never returns.

    It ends with its parent: the queue ends when the parent's end of it closes, a write
    to a pipe nobody reads fails, and before each job it looks whether its parent is
    still there.
    """
    code = 0
    try:
        # the parent froze what it held before the fork, so collections here pass over the
        # pages shared with it; they stay on, for what each job leaves in cycles (with
        # them off, that garbage grew with every job, and so with the archive)
        while os.getppid() == parent and len(head := os.read(queue, _JOB.size)) == _JOB.size:
            number = _JOB.unpack(head)[0]
            faults.after("pool.worker-job")
            try:
                data, delivered = marshal.dumps(_run(jobs[number])), True
            except Exception:  # the parent runs it again, and sees the error itself
                data, delivered = b"", False
            frame = memoryview(_FRAME.pack(len(data), number, delivered) + data)
            while frame:
                frame = frame[os.write(out, frame) :]
    except BaseException:  # the parent runs what it did not get
        code = 1
    finally:
        os._exit(code)


class _Worker:
    def __init__(self, queue: int, pool: Pool) -> None:
        read_end, write_end = _pipe()
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:  # the worker: it never returns from here
            try:  # every other pipe end closes: the queue's writing end, or the queue
                for fd in _PIPES - {queue, write_end}:  # would never end for this worker
                    os.close(fd)
            finally:
                _serve(queue, write_end, pool.jobs, parent)
        _close(write_end)
        self.fd = read_end
        self._pending = bytearray()

    def receive(self) -> list[tuple[int, bool, Any]] | None:
        """The results whose frames are complete after one read; None at the end."""
        data = os.read(self.fd, 1 << 20)
        if not data:
            return None
        self._pending += data
        results = []
        while len(self._pending) >= _FRAME.size:
            size, number, delivered = _FRAME.unpack_from(self._pending)
            end = _FRAME.size + size
            if len(self._pending) < end:
                break
            value = marshal.loads(self._pending[_FRAME.size : end]) if delivered else None
            results.append((number, delivered, value))
            del self._pending[:end]
        return results

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(self.pid, 15)  # a worker that already ended is a zombie until waited for
            os.waitpid(self.pid, 0)


class Pool:
    """``jobs`` started at once in ``workers`` forked processes (None: one per core), in
    their order; ``result(n)`` hands over job n's result."""

    def __init__(self, jobs: Sequence[Job], workers: int | None = None) -> None:
        self.jobs = list(jobs)
        self.workers: list[_Worker] = []
        self.queue_end = -1
        self._queue_in = -1  # the parent takes jobs from the queue too, while it waits
        self._queue = b""
        self._results: dict[int, tuple[bool, Any]] = {}
        self._poll: Any = None
        self._watched: dict[int, _Worker | None] = {}  # fd -> its worker; None: the queue
        workers = default_workers() if workers is None else workers
        if workers < 1 or not self.jobs or not hasattr(os, "fork") \
                or not hasattr(select, "poll") or _threads_running():
            return
        # what the parent holds now is left out of its later collections, which would
        # otherwise write to every page the workers share with it, and so copy them
        gc.freeze()
        queue_out, self.queue_end = _pipe()
        os.set_blocking(self.queue_end, False)
        self._queue = b"".join(_JOB.pack(n) for n in range(len(self.jobs)))
        self._feed()
        for _ in range(min(workers, len(self.jobs))):
            try:
                self.workers.append(_Worker(queue_out, self))
            except OSError:  # no more processes to be had: fewer workers, or none
                break
        if self.workers:
            os.set_blocking(queue_out, False)
            self._queue_in = queue_out
        else:
            _close(queue_out)
        self._poll = select.poll()
        for worker in self.workers:
            self._watch(worker.fd, select.POLLIN, worker)
        if not self.workers:  # every job runs here when asked for
            self._queue = b""
            self._close_queue()
        elif self._queue:  # the rest of the queue is fed as it empties
            self._watch(self.queue_end, select.POLLOUT, None)

    def result(self, number: int) -> Any:
        """Job ``number``'s result: from a worker, or run here when no worker delivered it
        (its exceptions then raised here). While it is not there, this process takes
        jobs from the queue and runs them, as a worker would."""
        while number not in self._results and (self._watched or self._queue_in >= 0):
            ready = self._watched and self._poll.poll(0)
            if ready or (not self._take_one() and self._watched):
                self._pump()
        delivered, value = self._results.pop(number, (False, None))
        return value if delivered else _run(self.jobs[number])

    def _take_one(self) -> bool:
        """Run the next job of the queue here; False when the queue is empty."""
        while self._queue_in >= 0:
            try:
                head = os.read(self._queue_in, _JOB.size)
            except BlockingIOError:  # the rest is still to be fed (the queue is open)
                self._feed()
                continue
            if len(head) < _JOB.size:  # the queue ended
                _close(self._queue_in)
                self._queue_in = -1
                return False
            number = _JOB.unpack(head)[0]
            try:
                self._results[number] = (True, _run(self.jobs[number]))
            except Exception:  # run again when asked for, to raise there
                self._results[number] = (False, None)
            return True
        return False

    def _watch(self, fd: int, events: int, worker: _Worker | None) -> None:
        self._poll.register(fd, events)
        self._watched[fd] = worker

    def _unwatch(self, fd: int) -> None:
        self._poll.unregister(fd)
        del self._watched[fd]

    def _pump(self) -> None:
        """Feed the queue and read whatever the workers sent, waiting until one can."""
        for fd, _ in self._poll.poll():
            worker = self._watched[fd]
            if worker is None:
                self._feed()
                continue
            try:
                results = worker.receive()
            except Exception:  # a torn or odd frame: what was not delivered runs here
                results = None
            for number, delivered, value in results or []:
                self._results[number] = (delivered, value)
            if results is None:
                self._unwatch(fd)
                _close(fd)
                worker.fd = -1

    def _feed(self) -> None:
        """Write whole job numbers to the non-blocking queue while it takes them; close it
        once all are written, so that it ends for whoever reads it."""
        while self._queue:
            piece = self._queue[:_PIPE_ATOMIC]
            try:
                os.write(self.queue_end, piece)
            except BlockingIOError:
                return
            except OSError:  # nobody reads it: what is left runs here when asked for
                self._queue = b""
                break
            self._queue = self._queue[len(piece) :]
        self._close_queue()

    def _close_queue(self) -> None:
        if self.queue_end >= 0:
            if self.queue_end in self._watched:
                self._unwatch(self.queue_end)
            _close(self.queue_end)
            self.queue_end = -1

    def close(self) -> None:
        self._close_queue()
        if self._queue_in >= 0:
            _close(self._queue_in)
            self._queue_in = -1
        for worker in self.workers:
            if worker.fd >= 0:
                _close(worker.fd)
            worker.stop()
        self.workers = []
        self._watched = {}
        gc.unfreeze()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
