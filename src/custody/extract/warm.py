"""A worker forked when `custody archive` starts, that makes extraction ready while the
capture fetches, and extracts the capture's first documents.

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
import sys
from typing import Any

from ..core.framed import frame, unframe


class WarmWorker:
    def __init__(self, pid: int, conn: _Channel) -> None:
        self.pid: int | None = pid  # None once ended
        self._conn = conn
        self._sent: list[tuple[str, dict[str, Any]]] = []  # (root, record), in order
        self._alive = True

    @classmethod
    def fork(cls) -> WarmWorker | None:
        """A worker, or None where one cannot be forked safely."""
        import threading

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

    def put(self, root: str, record: dict[str, Any]) -> None:
        """Extract a record now, beside the crawl."""
        self._sent.append((root, record))
        if self._alive:
            try:
                self._conn.send((root, [record]))
            except (OSError, ValueError):
                self._alive = False

    def take(self) -> tuple[list[Any], list[tuple[str, dict[str, Any]]]]:
        """What the worker extracted of the records put, in their order, and the records
        it did not (it died): those are the caller's to extract."""
        done: list[Any] = []
        for index in range(len(self._sent)):
            if self._alive:
                try:
                    done += self._conn.recv()
                    continue
                except (OSError, EOFError, ValueError, TypeError, AttributeError,
                        ImportError, IndexError):  # what unpickling a cut message raises
                    self._alive = False
            left = self._sent[index:]
            self._sent = []
            return done, left
        self._sent = []
        return done, []

    def close(self) -> None:
        """End the worker: it keeps nothing, so it is killed, not asked."""
        import signal

        if self.pid is None:
            return
        self._alive = False
        self._conn.close()
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self.pid = None

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
