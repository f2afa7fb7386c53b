"""Worker processes that end with the process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any


def die_with_parent(parent: int) -> None:
    """Worker start-up: end with the parent, even when it is killed outright (kill -9)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: the kernel signals us then
    except (OSError, AttributeError):
        pass  # not Linux: workers end when their pipe closes
    if os.getppid() != parent:  # the parent died before we could ask
        os._exit(0)


def serve_child(command: list[str], *, cwd: Path | None = None, output: Any = None) -> int:
    """Run a server as our child until it ends or we are told to stop: Ctrl-C and SIGTERM
    are passed on to it and waited for, and it ends with us even when we are killed
    outright; ``output``, a file, takes what it prints. Its exit code, or 0 when it was
    stopped."""
    parent = os.getpid()
    child = subprocess.Popen(command, cwd=cwd, stdout=output, stderr=output,
                             preexec_fn=lambda: die_with_parent(parent))
    stopped: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        stopped.append(signum)
        child.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            child.kill()
            child.wait()
    return 0 if stopped else code
