"""A worker forked when `custody archive` starts, that makes extraction ready while the
capture fetches, and then extracts the capture's documents as one of its workers.

A one-page capture spent more than half its time getting extraction ready: trafilatura's
import (with courlan's and htmldate's regexes, compiled anew in every process) and
lingua's first detection (which reads the trigram models of every candidate language of
the text's script). The worker does that on another core, beside the command's own
imports, fetching and WARC writing, and then extracts the documents it is sent.

What it returns is what extraction in the capture's process gives: it runs the same job
(workers.extract_batch: the payload read back from the WARC file, the same trafilatura,
the same lingua detector), and it reads the WARC and writes nothing. Whatever goes
wrong with it (it dies, it is killed, it cannot be forked), the documents it did not
return are extracted in the capture's process, as before.

It takes batches as a process pool does (``submit`` gives a future, which a thread
fulfils as its answers come, in order), so that a crawl's extraction goes on in it
rather than waiting for a new process to import and read the same again: on two cores,
it is the crawl's only worker.

It is forked, not spawned, so that it starts at once with what the command has imported,
and so only from a process running a single thread that has not loaded lingua (whose
thread pool a fork leaves without its threads): the `custody` command at its start.
Elsewhere (a test calling the library, a queue worker) there is none. Ctrl-C is the
capture's to handle (it seals what it has, with the worker's documents), so the worker
ignores it; it ends with the capture (killed: it holds nothing worth keeping) and with
its parent, even one killed outright (PR_SET_PDEATHSIG, and its pipe closed).
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from ..core import faults
from ..core.framed import frame, unframe

if TYPE_CHECKING:
    from concurrent.futures import Future


class WarmWorker:
    def __init__(self, pid: int, conn: _Channel) -> None:
        self.pid: int | None = pid  # None once ended
        self._conn = conn
        self._lock = threading.Lock()
        self._asked: deque[Future[list[Any]]] = deque()  # sent, in order, not answered
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []  # the reader and the writer
        self._alive = True

    @classmethod
    def fork(cls) -> WarmWorker | None:
        """A worker, or None where one cannot be forked safely."""
        if sys.platform != "linux" or not hasattr(os, "fork") or "lingua" in sys.modules \
                or threading.active_count() != 1:
            return None
        import socket

        import lxml.html  # noqa: F401  (the command parses its pages' links with it too)

        from . import workers  # noqa: F401  (imported once for both: the command needs it)

        here, there = (_Channel(end) for end in socket.socketpair())
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            here.close()
            there.close()
            return None
        if pid == 0:  # the worker: never returns into the command's code
            code = 1
            try:
                here.close()
                _serve(there, parent)
                code = 0
            finally:
                os._exit(code)
        there.close()
        return cls(pid, here)

    def accepts(self) -> bool:
        """Whether it may be sent more: not when it has died."""
        return self._alive

    def submit(self, root: str, records: list[dict[str, Any]]) -> Future[list[Any]]:
        """Records to extract, one after another; the future fails with
        BrokenProcessPool if the worker dies before it answers. One thread submits.

        A thread of its own sends them, as a process pool's does: a worker behind the
        crawl fills the socket's buffer, and a send there would hold the crawl in the
        middle of storing a response, where a second Ctrl-C would leave it stored and
        not marked done (fetched again, and sealed twice, by --resume)."""
        from concurrent.futures import Future

        future: Future[list[Any]] = Future()
        message = frame((root, records))
        with self._lock:
            if not self._alive:
                future.set_exception(_broken())
                return future
            self._asked.append(future)
            if not self._threads:
                self._threads = [threading.Thread(target=work, name=f"warm-worker-{name}",
                                                  daemon=True)
                                 for name, work in (("reader", self._read),
                                                    ("writer", self._write))]
                for thread in self._threads:
                    thread.start()
        self._outbox.put(message)
        return future

    def _write(self) -> None:
        while (message := self._outbox.get()) is not None:
            try:
                self._conn.send_framed(message)
            except Exception:  # perhaps cut midway: the worker is ended, and what it was
                self._end()  # asked fails, to be extracted in the caller's process
                return

    @property
    def asked(self) -> int:
        """Batches sent that it has not answered."""
        return len(self._asked)

    def _read(self) -> None:
        """The answers, in the order asked; once none can come (the worker ended, or an
        answer could not be read), the worker is ended and every future still waiting
        fails: none is left unanswered."""
        try:
            while True:
                with self._lock:
                    if not self._asked and not self._alive:
                        return
                answer = self._conn.recv()
                faults.after("extract.warm-answer")
                with self._lock:
                    future = self._asked.popleft()
                future.set_result(answer)
        except Exception:  # an answer cut short, or one that cannot be unpickled
            pass
        finally:
            self._end()
            with self._lock:
                failed, self._asked = list(self._asked), deque()
            for future in failed:
                future.set_exception(_broken())

    def close(self) -> None:
        """End the worker: it keeps nothing, so it is killed, not asked."""
        import signal

        with self._lock:  # once taken here, no other thread signals the pid
            pid, self.pid, self._alive = self.pid, None, False
        if pid is None:
            return
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        self._outbox.put(None)
        for thread in self._threads:  # the reader sees the socket end, and fails what
            thread.join()  # was not answered
        self._conn.close()

    def _end(self) -> None:
        import signal

        with self._lock:  # under it: close() cannot have reaped the pid, to be reused
            self._alive = False
            if self.pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(self.pid, signal.SIGKILL)

    def __enter__(self) -> WarmWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Channel:
    """Pickled messages over a socket, each after its length (multiprocessing's
    Connection, without the 16 ms its import costs before the fork)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def send(self, message: Any) -> None:
        self._sock.sendall(frame(message))

    def send_framed(self, message: bytes) -> None:
        self._sock.sendall(message)

    def recv(self) -> Any:
        return unframe(self._exactly)

    def _exactly(self, size: int) -> bytes:
        parts, left = [], size
        while left:
            part = self._sock.recv(min(left, 1 << 20))
            if not part:
                break
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def poll(self, timeout: float) -> bool:
        import select

        return bool(select.select([self._sock], [], [], timeout)[0])

    def close(self) -> None:
        self._sock.close()


def _serve(conn: _Channel, parent: int) -> None:
    import signal

    from ..core.processes import die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent)
    null = os.open(os.devnull, os.O_RDWR)  # the command's terminal and pipes are not ours
    for fd in (0, 1, 2):
        if fd != conn.fileno():  # (a command started with fd 0 closed gave it to us)
            os.dup2(null, fd)
    from . import workers
    from .language import load_models
    from .prepared import trafilatura

    trafilatura()
    # most pages are in Latin letters, whose candidates are the most models to read:
    # read them while the crawl fetches, until a job comes
    load_models("LATIN", unless=lambda: bool(conn.poll(0)))
    while True:
        try:
            root, records = conn.recv()
        except EOFError:
            return
        conn.send(workers.extract_batch(root, records))


def _broken() -> Exception:
    from concurrent.futures.process import BrokenProcessPool

    return BrokenProcessPool("the warm worker ended")
