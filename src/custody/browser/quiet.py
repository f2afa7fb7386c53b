"""Network quiet: no request of a page's context under way, nor begun or ended, for a while.

Playwright's ``networkidle`` load state fires once per navigation: asked for again
after the page was scrolled, it answers at once, before the lazy images the scroll set
off have loaded. So custody counts the context's requests itself (the page's, its
frames', its service worker's) and waits, from the moment it is asked, until none has
been under way, begun or ended for ``QUIET`` seconds -- at most a cap, since a page may
never be quiet (a feed, a request that never answers).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

QUIET = 0.5  # seconds without a request under way, begun or ended (as networkidle)
QUIET_CAP = 10.0  # seconds waited for the network to go quiet after load, at most
POLL = 0.05


class NetworkWatch:
    """The requests under way in one browser context."""

    def __init__(self) -> None:
        self._open: set[int] = set()
        self._changed = time.monotonic()

    def attach(self, context: Any) -> NetworkWatch:
        context.on("request", self._begun)
        context.on("requestfinished", self._ended)
        context.on("requestfailed", self._ended)
        return self

    def _begun(self, request: Any) -> None:
        self._open.add(id(request))
        self._changed = time.monotonic()

    def _ended(self, request: Any) -> None:
        self._open.discard(id(request))
        self._changed = time.monotonic()

    @property
    def under_way(self) -> int:
        return len(self._open)

    async def quiet(self, cap: float, *, window: float = QUIET) -> bool:
        """Wait until the network has been quiet for ``window`` seconds counted from now
        (a request the page is about to make has that long to begin), or ``cap`` seconds
        have passed: whether it was quiet."""
        start = time.monotonic()
        end = start + cap
        while True:
            now = time.monotonic()
            since = max(self._changed, start)
            if not self._open and now - since >= window:
                return True
            if now >= end:
                return False
            await asyncio.sleep(min(POLL, max(0.0, end - now)))
