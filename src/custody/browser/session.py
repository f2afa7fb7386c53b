"""A capture's browser, start to finish: its certificate authority, its recording proxy
on the capture's Fetcher, and Chromium behind it; all gone when the capture ends."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..capture.fetch import Fetcher
from ..capture.settings import Settings
from ..core import scratch
from ..core.cookies import for_playwright
from . import behaviors
from .ca import CaptureCA
from .chromium import Chromium
from .proxy import RecordingProxy

TABS = 4  # pages loaded at once, at most: each is a renderer process
CA_PREFIX = "custody-ca-"  # the capture's certificate keys, in a folder of its owner's


@contextmanager
def open_visitor(fetcher: Fetcher, settings: Settings,
                 replay_checker: Callable[..., Any] | None = None,
                 say: Callable[[str], None] | None = None) -> Iterator[Any]:
    """The visitor a capture with --browser loads its pages with (capture.run), a
    Chromium; with --interactive, the person's session (interactive.py), which ``say``s
    what it did. ``replay_checker`` replays its pages before sealing (replay/check.py's)."""
    folder = scratch.make(CA_PREFIX)  # and those a custody killed outright left, removed
    proxy = None
    chromium: Any = None
    try:
        ca = CaptureCA(folder)
        # a person at the browser can answer a site's challenge to log in; headless, a
        # challenge would hold the page until its time ran out (relay.py)
        proxy = RecordingProxy(fetcher, ca, challenges=settings.interactive).start()
        jar = fetcher.cookies
        if settings.interactive:
            from .interactive import InteractiveSession

            chromium = InteractiveSession(proxy, ca, folder=folder, say=say or _said,
                                          user_agent=settings.user_agent or None,
                                          cookies=for_playwright(jar) if jar is not None else [])
            yield chromium.start()
            return
        if settings.behaviors:
            behaviors.script()  # installed, or the capture stops here, saying so
        chromium = Chromium(proxy, ca, page_timeout=settings.page_timeout,
                            behaviors=settings.behaviors,
                            behavior_timeout=settings.behavior_timeout,
                            replay_check=settings.replay_check,
                            replay_checker=replay_checker,
                            volatile=settings.volatile,
                            tabs=min(TABS, settings.concurrency),
                            user_agent=settings.user_agent or None,
                            cookies=for_playwright(jar) if jar is not None else []).start()
        yield chromium
    finally:
        if chromium is not None:
            chromium.close()
        if proxy is not None:
            proxy.close()
        shutil.rmtree(folder, ignore_errors=True)


def _said(line: str) -> None:
    import sys

    print(f"custody: {line}", file=sys.stderr, flush=True)
