"""Headless Chromium (Debian's), driven by Playwright from a thread of its own.

Chromium reaches the network only through the recording proxy: every host name it would
resolve is refused (``--host-resolver-rules``), loopback addresses are not exempt from
the proxy (``--proxy-bypass-list=<-loopback>``), QUIC, WebRTC's direct UDP, DNS
prefetching and Chrome's own background traffic are off, and it trusts only the
capture's certificate key. Each page is loaded in a browser context of its own, whose
proxy credentials (given by the page, proxy_login.py) name the visit, so its requests
are told apart from other pages'.

Playwright's driver (a Node process) is custody's child and Chromium the driver's: if
custody is killed outright, the driver's pipe closes and it ends the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ..core.errors import UsageError
from .ca import CaptureCA
from .loop import BrowserLoop
from .page import BEHAVE, CLOSE, OPEN, RECORD, PageVisit, iso, load
from .proxy import RecordingProxy
from .replay_check import Keeper, verdict

T = TypeVar("T")
VIEWPORT = {"width": 1280, "height": 900}

CHROMIUM = "/usr/bin/chromium"  # Debian's; CUSTODY_CHROMIUM names another
MARK = "--custody-capture-pid"  # on the browser's command line: which custody started it
FLAGS = [
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
    "--disable-domain-reliability", "--dns-prefetch-disable", "--no-pings",
    "--metrics-recording-only", "--disable-breakpad", "--disable-dev-shm-usage",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    # a page with a form made Chromium ask Google's autofill servers about it: a request
    # of the browser's own, not the page's (a failure offline; online, the form's
    # signature sent to Google and its answer recorded as the page's)
    "--autofill-server-url=about:invalid",
]


def require_chromium() -> str:
    """The browser's path; UsageError, saying how to install it, when it is missing."""
    path = os.environ.get("CUSTODY_CHROMIUM") or CHROMIUM
    if not Path(path).is_file() or not os.access(path, os.X_OK):
        raise UsageError(f"--browser needs Chromium at {path}: install it with "
                         "`./scripts/setup --browser` or `apt-get install chromium` "
                         "(or set CUSTODY_CHROMIUM)")
    import importlib.util

    if importlib.util.find_spec("playwright") is None:
        raise UsageError("--browser needs the playwright package: pip install playwright")
    return path


class Chromium:
    """One browser for a capture; ``visit`` loads a page, from any thread."""

    def __init__(self, proxy: RecordingProxy, ca: CaptureCA, *, page_timeout: float,
                 tabs: int = 4, cookies: list[dict[str, Any]] | None = None,
                 user_agent: str | None = None, behaviors: list[str] | None = None,
                 behavior_timeout: float = 20.0, replay_check: bool = False,
                 replay_checker: Callable[..., Any] | None = None,
                 volatile: list[str] | None = None) -> None:
        """``cookies``: the archivist's session (core.cookies.for_playwright), set in
        each page's browser context."""
        self.proxy = proxy
        self.tabs = tabs
        self.ca = ca
        self.page_timeout = page_timeout
        self.behaviors = behaviors or []  # run in each page (behaviors.py)
        self.behavior_timeout = behavior_timeout
        self.keeper = Keeper() if replay_check else None  # what the replay check compares
        self.replay_checker = replay_checker  # replay/check.py's check_capture, when given
        self.viewport = dict(VIEWPORT)
        self.volatile = volatile or []  # selectors whose boxes each visit records
        self.cookies = cookies or []
        self.user_agent = user_agent  # the capture's (else Chromium's, which says Headless)
        self._browser_loop = BrowserLoop("custody-browser")
        self._loop = self._browser_loop.loop
        self._playwright: Any = None
        self._browser: Any = None
        self._lock = threading.Lock()
        self._executable = CHROMIUM
        self._stopped = asyncio.Event()  # set in the browser's thread, by stop()
        self._generation = 0  # how many times the browser was started again

    def start(self) -> Chromium:
        self._executable = require_chromium()
        self._browser_loop.start()
        self._run(self._launch(), 60)
        return self

    def visit(self, url: str) -> PageVisit:
        """Load the page, and what it shows and asked for; never raises for the page. A
        browser that crashed or hung is started again for the pages after it."""
        generation = self._generation
        try:
            visit = self._run(load(url, new_context=self.new_context, proxy=self.proxy,
                                   page_timeout=self.page_timeout, stopped=self._stopped,
                                   behaviors=self.behaviors,
                                   behavior_timeout=self.behavior_timeout,
                                   volatile=self.volatile),
                              self.page_timeout + OPEN + RECORD + CLOSE + 15
                              + (self.behavior_timeout + BEHAVE if self.behaviors else 0))
        except Exception as exc:  # the browser itself went wrong: restart it for the next
            visit = PageVisit.failed(url, f"the browser failed: {exc.__class__.__name__}: "
                                          f"{str(exc).splitlines()[0] if str(exc) else ''}")
            self._restart(generation)
            return visit
        if not self._connected():  # it died under the page (killed, out of memory)
            why = f" ({visit.error})" if visit.error else ""
            visit.error = (f"the browser crashed while the page was loaded{why}; it was "
                           "started again for the pages after it")
            visit.screenshot = visit.pdf = visit.dom = None  # nothing it showed is whole
            visit.frames = []
            self._restart(generation)
        if self.keeper is not None and visit.screenshot and not visit.error:
            self.keeper.keep(visit.url, iso(visit.started), visit.screenshot, visit.text or "")
        return visit

    def check_replay(self, files: list[tuple[str, Path]], records: list[dict[str, Any]],
                     started_at: str) -> dict[tuple[str, str], tuple[dict[str, Any],
                                                                 str | None]]:
        """Each page kept, replayed from ``files`` (the capture's WARC files, indexed by
        ``records``) and compared by the replay checker the browser was given (the
        replay engine's, replay/check.py): by (url, started_at), what was found and the
        note it gives."""
        kept = self.keeper.kept if self.keeper is not None else []
        if not kept:
            return {}
        if self.replay_checker is None:
            result = {"error": "no replay engine was given to this capture's browser"}
            return {(k.url, k.started_at): (result, verdict(result)) for k in kept}
        found: dict[tuple[str, str], tuple[dict[str, Any], str | None]] = \
            self.replay_checker(self, kept, files, records, started_at)
        return found

    @property
    def browser(self) -> Any:
        """Playwright's browser, for what runs in the browser's thread (run_in_browser)."""
        return self._browser

    def run_in_browser(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """A coroutine run in the browser's thread, its result within ``timeout``."""
        return self._run(coroutine, timeout)

    def _connected(self) -> bool:
        browser = self._browser
        return browser is not None and bool(browser.is_connected())

    def stop(self) -> None:
        """Pages loading now stop loading, and are recorded as they are (from any thread,
        a signal handler too); pages after this are not loaded."""
        self._loop.call_soon_threadsafe(self._stopped.set)

    def late(self) -> list[Any]:
        """Requests whose fetch ended after their page's visit did (each once): the
        capture stores them as it stores the visit's."""
        return self.proxy.take_late()

    @property
    def fetching(self) -> int:
        return self.proxy.fetching

    def close(self) -> None:
        if self.keeper is not None:
            self.keeper.close()
        self._browser_loop.close(self._shutdown)

    # -- in the browser's thread ------------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        return self._browser_loop.run(coroutine, timeout)

    async def _launch(self) -> None:
        from playwright.async_api import async_playwright

        self._playwright = await async_playwright().start()
        args = [*FLAGS, f"--ignore-certificate-errors-spki-list={self.ca.spki_hash}",
                f"{MARK}={os.getpid()}"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
        if self.user_agent:  # (the contexts' own reaches pages, not what the browser asks)
            args.append(f"--user-agent={self.user_agent}")
        self._browser = await self._playwright.chromium.launch(
            executable_path=self._executable, args=args, proxy={"server": "per-context"},
            handle_sigint=False, handle_sigterm=False, handle_sighup=False)

    async def _shutdown(self) -> None:
        if self._browser is not None:
            await self._browser.close()
            self._browser = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None

    async def new_context(self) -> Any:
        """A context through the recording proxy; its page answers the proxy's challenge
        itself (proxy_login), not Playwright, which would pause every request."""
        context = await self._browser.new_context(
            proxy={"server": self.proxy.url},
            viewport=VIEWPORT, accept_downloads=False,
            service_workers="allow", java_script_enabled=True, user_agent=self.user_agent)
        if self.cookies:
            await context.add_cookies(self.cookies)
        return context

    def _restart(self, generation: int) -> None:
        """Start the browser again, unless another page's visit already did since
        ``generation`` (pages loading together all see it fail)."""
        with self._lock:
            if generation != self._generation or self._stopped.is_set():
                return
            with contextlib.suppress(Exception):  # it was broken already
                self._run(self._shutdown(), 20)
            with contextlib.suppress(Exception):  # the next visit says it failed
                self._run(self._launch(), 60)
            self._generation += 1
