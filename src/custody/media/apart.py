"""yt-dlp in a process of its own, so that it and the capture run on two cores.

yt-dlp is Python through and through (it parses, joins and writes every segment in
Python), and so is the capture's side of a download: the recording proxy relaying each
response and the sink writing it to the WARC. In one process they take turns on one
interpreter lock; in two, the download goes as fast as yt-dlp alone goes, the recording
beside it.

A worker (``python -m custody.media.apart``) starts when `custody archive --media` does
(or when a capture's media collector opens), loading yt-dlp while the capture sets up and
fetches its first page, and then runs one download at a time. What the capture tells it
(a download's arguments; stop) crosses its stdin, and each result (a ytdlp.MediaResult)
its stdout, pickled, each after its length. Everything it fetches still goes through the
capture's proxy. It ignores Ctrl-C, which the capture handles: stop ends its download at
the next piece, as in-process. The collector ends it when the capture closes; it ends by
itself when its stdin closes, or within a quarter of a second of its parent's death
(kill -9 included).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

from ..core.framed import frame, unframe
from .ytdlp import MediaResult, download, media_files

_WATCH = 0.25  # seconds between looks at whether the parent still lives


def _send(out: IO[bytes], value: Any) -> None:
    out.write(frame(value))
    out.flush()


def _receive(source: IO[bytes]) -> Any:
    """The next value, or None at the end of the stream (or a cut one)."""
    try:
        return unframe(source.read)
    except EOFError:
        return None


class Worker:
    """One worker process, used by one download at a time."""

    def __init__(self) -> None:
        package = Path(__file__).resolve().parent.parent.parent  # custody's own, as ours
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(package), *filter(None, [os.environ.get("PYTHONPATH")])]))
        # what it says (a failure's last line); closed in close()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        self._proc = subprocess.Popen(
            # -P: nothing imported from the folder custody runs in (a stray yt_dlp.py)
            [sys.executable, "-P", "-m", "custody.media.apart", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env)
        self._telling = threading.Lock()  # a download's request and a stop, told apart

    def download(self, request: dict[str, Any], stopped: threading.Event) -> MediaResult:
        """Run one download (download's arguments, but ``stop``) and return its result;
        a worker that died gives a result that says so, with the files it left."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._tell(("download", request))
            if stopped.is_set():
                self.stop()
            result = _receive(self._proc.stdout)
        except OSError:
            result = None
        if isinstance(result, MediaResult):
            return result
        folder = Path(request["folder"])
        failed = MediaResult(page=request["url"], folder=folder, tried=[request["url"]])
        failed.error = f"yt-dlp's process ended before its download did ({self._why()})"
        failed.files = media_files(folder, {}) if folder.is_dir() else []
        failed.found = bool(failed.files)
        return failed

    def _why(self) -> str:
        try:
            code = self._proc.wait(timeout=2)  # its end closed the pipe: reaped soon after
        except subprocess.TimeoutExpired:
            return "it did not answer"
        try:
            self._log.seek(0)
            lines = self._log.read().decode(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        said = f": {lines[-1][:200]}" if lines else ""
        return (f"killed by signal {-code}" if code < 0 else f"exit code {code}") + said

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def stop(self) -> None:
        """End the download under way at its next piece (and any later one at once)."""
        with contextlib.suppress(OSError):
            self._tell(("stop", None))

    def _tell(self, message: tuple[str, Any]) -> None:
        assert self._proc.stdin is not None
        with self._telling:
            _send(self._proc.stdin, message)

    def close(self) -> None:
        """End the worker: it holds nothing once its results are read (what it wrote is
        in the download's folder), so it is not waited for to wind yt-dlp down."""
        self._proc.kill()
        self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout, self._log):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


_spare: list[Worker] = []  # started before the capture opens its media collector


def prestart() -> None:
    """Start a worker now, for the capture about to run (archive --media): yt-dlp loads
    while the command sets up."""
    if not _spare:
        _spare.append(Worker())
        atexit.register(_close_spare)


def worker() -> Worker:
    """The worker started beforehand, if it lives, or a new one."""
    while _spare:
        spare = _spare.pop()
        if spare.alive:
            return spare
        spare.close()
    return Worker()


def _close_spare() -> None:
    while _spare:
        _spare.pop().close()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH)
    os._exit(1)


def _listen(source: IO[bytes], requests: queue.SimpleQueue[Any],
            stop: threading.Event) -> None:
    """Read what the capture says, as it says it: a download to run, or stop (which
    its stdin's end means too)."""
    while (message := _receive(source)) is not None:
        kind, request = message
        if kind == "stop":
            stop.set()
        else:
            requests.put(request)
    stop.set()
    requests.put(None)


def main(parent: int) -> None:
    """Serve the capture, then leave at once (the thread reading stdin may still be
    reading: an ordinary exit would wait for it); a failure's last line is in the log."""
    code = 1
    try:
        _serve(parent)
        code = 0
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _serve(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the capture's to handle
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    stop = threading.Event()
    requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threading.Thread(target=_listen, args=(sys.stdin.buffer, requests, stop),
                     daemon=True).start()
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what anything prints goes to the log, never into the results
    import yt_dlp  # noqa: F401  (loaded while the capture fetches its first page)

    while (request := requests.get()) is not None:
        try:
            result = download(**request, stop=stop)
        except BaseException as exc:  # never leave the capture waiting
            result = MediaResult(page=request["url"], folder=Path(request["folder"]),
                                 error=f"yt-dlp failed: {exc.__class__.__name__}: {exc}")
        _send(results, result)


if __name__ == "__main__":
    main(int(sys.argv[1]))
