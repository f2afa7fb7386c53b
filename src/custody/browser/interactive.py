"""Capture while browsing (``archive --interactive``): a Chromium window on the
archivist's display, through the capture's recording proxy, where a person logs in,
scrolls, opens comments and solves a challenge. Every request is recorded; every page
shown (each document a tab showed, tabs.py) is a visit of the capture. What happens is
handed on as events (``take``) as it happens -- each exchange when it ends, each mark
when it is taken, each page when its tab leaves it -- so that a long session is written
to the WARC as it goes (capture/browsing.py).

Each page is photographed as it loads (the window's view) and whenever the person marks
it (marking.py); the session ends when the last window of pages is closed, with the
toolbar's "Finish and seal", or with Ctrl-C in the terminal (``stop``).

The browser is Chromium with custody's own profile folder, made for the session and
removed after it (the archivist's cookies are put in it, as for --browser), without
Chromium's "controlled by automated software" bar and flag. Requests are told to their
page by the browser's own request events, matched to the proxy's exchanges by URL
(asked.py); a service worker's goes to the page that began last, and one no page or
worker asked for is Chromium's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ..core.errors import UsageError, first_line
from .ca import CaptureCA
from .chromium import require_chromium
from .headed import launch, require_display
from .loop import BrowserLoop
from .marking import Mark, listen, open_toolbar, photograph, show
from .page import PageVisit, iso
from .proxy import RecordingProxy, Seen
from .tabs import Pages, Tab, note

T = TypeVar("T")
Event = tuple[str, Any, PageVisit | None]  # what ``take`` hands on
SETTLE = 0.2  # seconds after a page's load before it is photographed
SHOT = 12.0  # seconds to photograph a page and read its DOM, at most


class InteractiveSession:
    """The capture's visitor when a person browses: ``open`` the seeds, then ``take``
    the pages left, until ``over``."""

    tabs = 1

    def __init__(self, proxy: RecordingProxy, ca: CaptureCA, *, folder: Path,
                 cookies: list[dict[str, Any]], user_agent: str | None,
                 say: Callable[[str], None]) -> None:
        self.proxy = proxy
        self.ca = ca
        self.folder = folder  # the profile folder lives in it
        self.cookies = cookies
        self.user_agent = user_agent
        self.say = _never_failing(say)  # a line for the person, on the terminal
        self.capture = ""
        self.visit_id = proxy.open_visit()
        self._browser_loop = BrowserLoop("custody-interactive")
        self._loop = self._browser_loop.loop
        self._playwright: Any = None
        self._context: Any = None
        self._toolbar: Any = None
        self._toolbar_coming = False  # the next page opened is the toolbar (marking.py)
        self._tabs: dict[Any, Tab] = {}
        self._pages = Pages()
        self._events: queue.Queue[Event] = queue.Queue()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._ending = False
        self._over = threading.Event()

    def start(self) -> InteractiveSession:
        require_display()
        self._executable = require_chromium()
        self._browser_loop.start()
        try:
            self._run(self._launch(), 60)
        except Exception as exc:  # no X server there, a browser that would not start
            lines = str(exc).splitlines()
            why = next((line.rsplit("] ", 1)[-1].strip() for line in lines
                        if "X server" in line or "display" in line.lower()), first_line(exc))
            raise UsageError(f"the browser window could not be opened: {why}") from None
        return self

    def open(self, seeds: list[str], capture: str) -> None:
        """The toolbar, then each seed in a tab (the first in the window's own)."""
        self.capture = capture
        self._run(self._open(seeds), 60)

    def take(self, timeout: float) -> list[Event]:
        """What happened since the last call (waiting up to ``timeout``), in order:
        ("exchange", a Seen, its page's visit or None), ("mark", a Mark, its visit),
        ("left", None, a visit its tab left, whole)."""
        self._assign(self.proxy.take_late())  # ended after the session did
        taken = []
        with contextlib.suppress(queue.Empty):
            taken.append(self._events.get(timeout=timeout))
            while True:
                taken.append(self._events.get_nowait())
        return taken

    @property
    def over(self) -> bool:
        return self._over.is_set()

    def stop(self) -> None:
        """End the session (Ctrl-C): the page in front photographed, every page handed on."""
        self._loop.call_soon_threadsafe(self._later, self._end("ended from the terminal"))

    def late(self) -> list[Seen]:
        return []  # every exchange is an event of ``take``

    fetching = property(lambda self: self.proxy.fetching)

    def close(self) -> None:
        self._browser_loop.close(self._shutdown)

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        return self._browser_loop.run(coroutine, timeout)

    # -- in the session's thread --------------------------------------------------------

    def _later(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _launch(self) -> None:
        from playwright.async_api import async_playwright

        self._playwright = await async_playwright().start()
        self._context = await launch(self._playwright, self._executable, self.folder,
                                     self.proxy, self.visit_id, self.ca, self.user_agent)
        if self.cookies:
            await self._context.add_cookies(self.cookies)
        self._context.on("request", self._request)
        self._context.on("close", lambda _: self._later(self._end("the browser closed")))
        for page in self._context.pages:
            await self._listen(self._adopt(page))
        self._context.on("page", lambda page: self._later(self._listen(self._adopt(page))))
        self._later(self._pump())

    async def _open(self, seeds: list[str]) -> None:
        first = self._context.pages[0] if self._context.pages else None
        if first is not None:  # a window of its own, which no page can reach
            try:
                self._toolbar = await open_toolbar(self._context, first, self.capture,
                                                   self._toolbar_said, self._toolbar_next)
                self._tabs.pop(self._toolbar, None)
            except Exception as exc:  # the shortcut still marks
                self.say(f"the toolbar window could not be opened: {first_line(exc)}")
        for n, url in enumerate(seeds):
            page = first if n == 0 and first is not None else await self._context.new_page()
            await self._listen(self._adopt(page))
            try:
                await page.goto(url, wait_until="commit", timeout=30_000)
            except Exception as exc:  # the page says so in its window; its visit too
                self.say(f"{url}: {first_line(exc)}")

    def _toolbar_next(self, coming: bool) -> None:
        self._toolbar_coming = coming

    def _adopt(self, page: Any) -> Tab | None:
        """A tab of the person's, known from its first request on (a tab a page opens may
        ask for its page before the context says it is there)."""
        if self._toolbar_coming and self._toolbar is None:
            self._toolbar = page
        if page is self._toolbar:
            return None
        if page in self._tabs:
            return self._tabs[page]
        tab = self._tabs[page] = Tab(page, front=time.monotonic())
        # what the page shows, from Playwright until the tab's own DevTools session (which
        # says it as it happens, not as it is when read) is listening
        page.on("framenavigated", lambda frame: None if frame.parent_frame is not None or
                tab.session not in (None, True) else self._pages.navigated(tab, frame.url))
        page.on("load", lambda _: self._later(self._settled_shot(tab)))
        page.on("close", lambda _: self._closed(tab))
        page.on("dialog", lambda d: note(tab, f"{d.type}: {d.message[:200]}"))
        page.on("download", lambda d: self._downloaded(tab, d.url))
        page.on("crash", lambda _: note(tab, "the page crashed"))
        if self._pages.opened(tab, page.url):  # (its load may be over too)
            self._later(self._settled_shot(tab))
        return tab

    async def _listen(self, tab: Tab | None) -> None:
        if tab is None or tab.session is not None:
            return
        tab.session = True  # being set up
        try:
            tab.session = await listen(self._context, tab.page, lambda e: self._called(tab, e),
                                       lambda url, new: self._pages.shown(tab, url, new))
        except Exception as exc:  # closed already; or a page the browser keeps to itself
            tab.session = None
            note(tab, f"the mark shortcut could not be set in this tab: "
                            f"{first_line(exc)}")

    def _downloaded(self, tab: Tab, url: str) -> None:
        """A download the browser refused: a navigation that showed no page (the tab still
        shows the page it was on), noted there."""
        self._pages.drop(tab)
        if tab.current is not None:
            tab.current.downloads.append(url)

    def _request(self, request: Any) -> None:
        try:
            page = request.frame.page
        except Exception:  # a service worker's: no page; the page that began last's
            page = None
        tab = self._tabs.get(page) or (self._adopt(page) if page is not None and not
                                       self._ending else None)
        if tab is not None:
            self._later(self._listen(tab))
        self._pages.requested(tab, request)

    def _called(self, tab: Tab, event: dict[str, Any]) -> None:
        tab.front = time.monotonic()
        if event.get("payload") == "mark":
            self._later(self._shot(tab, "marked"))

    def _toolbar_said(self, action: str) -> None:
        if action == "finish":
            self._later(self._end("finished from the toolbar"))
        elif action == "mark":
            front = self._front()
            if front is not None:
                self._later(self._shot(front, "marked"))
            else:
                self._later(self._show("no page to mark"))

    def _front(self) -> Tab | None:
        open_tabs = [t for t in self._tabs.values() if not t.page.is_closed()]
        return max(open_tabs, key=lambda t: t.front, default=None)

    async def _settled_shot(self, tab: Tab) -> None:
        visit = tab.current
        await asyncio.sleep(SETTLE)
        if visit is not None and visit is tab.current and not self._pages.state(visit).loaded:
            self._pages.state(visit).loaded = True
            await self._shot(tab, "loaded")

    async def _shot(self, tab: Tab, why: str) -> None:
        """The page as the person sees it now: the window's view, the DOM, the time."""
        visit = tab.current
        if visit is None or not self._pages.state(visit).committed or tab.page.is_closed():
            if why == "marked":
                self.say("nothing to mark: the page in front is no web page (yet)")
                await self._show("nothing to mark: the page in front is no web page (yet)")
            return
        state = self._pages.state(visit)
        state.shooting += 1
        try:
            at = datetime.now(UTC)
            page = tab.page
            url = page.url
            picture, dom, title, scroll = await photograph(page, tab.session, SHOT)
            if tab.current is not None and tab.current is not visit:  # another page came (a tab
                # closed meanwhile, or the session ending, keeps the mark: it shows this page)
                if why == "marked":
                    self.say(f"{url}: the page changed while it was marked; mark it again")
                else:
                    visit.notes.append(f"not photographed {why}: another page came first")
                return
            if picture is None and why != "marked":
                visit.notes.append(f"could not be photographed {why} ({iso(at)})")
                return
            assert visit.marks is not None
            mark = Mark(at, why, url, title, picture, dom, scroll)
            visit.marks.append(mark)
            self._hand_on()  # the page's own answer goes first: the mark is tied to it
            self._events.put(("mark", mark, visit))
            if why == "marked":
                line = (f"marked {url} at {at:%H:%M:%S} UTC" if picture is not None else
                        f"{url}: the mark at {at:%H:%M:%S} UTC has no picture (the "
                        "browser would not take one)")
                self.say(line)
                await self._show(line)
        finally:
            state.shooting -= 1

    async def _show(self, line: str) -> None:
        if self._toolbar is not None:
            await show(self._toolbar, line)

    def _closed(self, tab: Tab) -> None:
        self._pages.drop(tab)
        self._pages.leave(tab)
        self._tabs.pop(tab.page, None)
        if not self._tabs and not self._ending:
            self._later(self._end("its last window was closed"))

    async def _pump(self) -> None:
        while not self._over.is_set():
            try:
                self._hand_on()
            except Exception as exc:  # a bug here must not stop the session's recording
                self.say(f"could not hand on what was recorded: {first_line(exc)}")
            await asyncio.sleep(0.25)

    def _hand_on(self, *, closing: bool = False) -> None:
        """The proxy's exchanges so far, each handed on at once with its page (so that
        what was fetched is written as it comes); then the pages left, once photographed."""
        seen, refused = self.proxy.take_seen(self.visit_id)
        self._assign(seen)
        if refused and self._pages.latest is not None:
            self._pages.latest.refused.extend(refused)
        for visit in list(self._pages.leaving):
            if self._pages.state(visit).shooting and not closing:
                continue
            self._pages.leaving.remove(visit)
            visit.finished = datetime.now(UTC)
            self._events.put(("left", None, visit))

    def _assign(self, seen: list[Seen]) -> None:
        for one in seen:
            owner = self._pages.owner(one.exchange.url)
            if owner is None:  # no page nor worker asked: Chromium's own (a favicon, too)
                one.own = True
                owner = self._pages.latest
            one.page = owner.url if owner is not None else one.page
            self._events.put(("exchange", one, owner))

    async def _end(self, why: str) -> None:
        if self._ending:
            return
        self._ending = True
        try:
            await self._ending_steps(why)
        finally:  # the capture seals what it has, whatever went wrong here
            self._over.set()

    async def _ending_steps(self, why: str) -> None:
        self.say(f"the session ended ({why}): sealing")
        front = self._front()
        if front is not None and "closed" not in why:
            await self._shot(front, "at the end")
        for tab in list(self._tabs.values()):
            self._pages.drop(tab)
            self._pages.leave(tab)
        waited = time.monotonic() + SHOT + 3  # marks being taken are kept
        while time.monotonic() < waited and any(
                self._pages.state(v).shooting > 0 for v in self._pages.leaving):
            await asyncio.sleep(0.05)
        gathered = await asyncio.to_thread(self.proxy.close_visit, self.visit_id, grace=2.0)
        self._assign(gathered.seen)
        if gathered.refused and self._pages.latest is not None:
            self._pages.latest.refused.extend(gathered.refused)
        self._hand_on(closing=True)
        await self._shutdown()

    async def _shutdown(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.close(), 15)
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(playwright.stop(), 10)


def _never_failing(say: Callable[[str], None]) -> Callable[[str], None]:
    """``say``, whose failure (a terminal gone: a closed pipe) stops nothing."""
    def said(line: str) -> None:
        with contextlib.suppress(Exception):
            say(line)
    return said
