"""Which page asked for a URL: the browser's request events, remembered by URL (oldest
first), so that each exchange the recording proxy makes is told to the page that asked
for it. An interactive session's tabs all share one proxy visit; this tells them apart."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

MOST = 20_000  # requests remembered at once; past it, exchanges go to the newest page


class Asked:
    def __init__(self) -> None:
        self._by_url: dict[str, deque[Any]] = {}
        self._count = 0
        self._lock = threading.Lock()  # the session's thread adds; the capture's takes

    def add(self, url: str, page: Any, *, first: bool = False) -> None:
        """``page`` asked for ``url`` (``first``: before any other that did, as far as is
        known: a guess made earlier is not as good)."""
        with self._lock:
            if self._count < MOST:
                asked = self._by_url.setdefault(url, deque())
                (asked.appendleft if first else asked.append)(page)
                self._count += 1

    def owner(self, url: str) -> Any:
        """The page that asked for ``url`` earliest and has not had it yet (None: none)."""
        with self._lock:
            asked = self._by_url.get(url)
            if not asked:
                return None
            page = asked.popleft()
            self._count -= 1
            if not asked:
                del self._by_url[url]
            return page
