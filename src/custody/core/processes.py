"""Worker processes that end with the process that started them."""

from __future__ import annotations

import os


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
