"""Two digests of the same bytes at once, on two cores.

A record's bytes are hashed twice as they are written (the file's sha256 and its
member's) and twice before (its block's and its payload's): four passes of sha256,
most of the cost of storing a large file once the network is done with it. hashlib
lets go of the interpreter's lock while it hashes a buffer, so a piece large enough
to be worth a thread's wake-up goes to one digest here and to the other in a helper
thread meanwhile. The digests are the same either way; only the wall time differs.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_ALONE = 256 * 1024  # bytes below which both digests are taken here, one after the other
_helpers: dict[int, ThreadPoolExecutor] = {}  # by process: a forked child makes its own


def update_both(first: Any, second: Any, data: bytes | memoryview) -> None:
    """``first.update(data)`` and ``second.update(data)``."""
    if len(data) < _ALONE or (os.cpu_count() or 1) < 2:
        first.update(data)
        second.update(data)
        return
    helper = _helpers.get(os.getpid())
    if helper is None:
        helper = _helpers[os.getpid()] = ThreadPoolExecutor(1, "custody-digest")
    other = helper.submit(second.update, data)
    try:
        first.update(data)
    finally:
        other.result()
