"""Loading one page as a person would see it, within its time: then what it shows.

The page is opened in a context of its own, given until ``--page-timeout`` to load and
for its network to go quiet, scrolled to the bottom (a bounded number of steps, so an
infinite feed ends) so that lazy content loads. Then it is stopped where it is -- a
script still running is ended, no script runs again, loading stops -- so that what is
recorded shows one moment: photographed whole (a PNG, its height bounded), serialised as
the DOM its scripts made, and printed to PDF, within RECORD seconds more. Dialogs
(alert, confirm, prompt, beforeunload) are dismissed, pop-up windows closed, downloads
refused, and each is noted, with console errors and failed requests. Every step has its
own bound: a page that loops forever in a script, never answers, or navigates away
again and again ends with what was recorded and a note saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..core.errors import first_line
from . import behaviors
from .acting import BOXES, Acts, behave
from .proxy_login import ProxyLogin
from .quiet import QUIET_CAP, NetworkWatch

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .proxy import RecordingProxy, Seen

SCROLL_STEPS = 30  # an infinite feed stops here
MAX_HEIGHT = 20_000  # pixels of a full-page screenshot; taller pages are cut, and say so
SCROLL_QUIET_CAP = 3.0  # and after each step of scrolling
POPUP_MARK = "custody: window.open blocked: "
# A page's window.open gets null, as from a popup blocker, before any of its scripts run:
# a page that opens hundreds of windows (each opening more) would otherwise swamp the
# browser faster than they can be closed. Each attempt is noted through the console.
NO_POPUPS = """(() => {
  const note = console.debug.bind(console);
  const blocked = function open(url) { note(MARK + String(url === undefined ? '' : url));
                                       return null; };
  Object.defineProperty(window, 'open', {value: blocked, writable: false,
                                         configurable: false});
})();""".replace("MARK", json.dumps(POPUP_MARK))
OPEN = 20.0  # seconds to open a context and a page, at most
RECORD = 30.0  # seconds after --page-timeout to photograph, serialise and print the page
CLOSE = 10.0  # seconds to close the page's context
BEHAVE = 10.0  # seconds past --behavior-timeout for the behaviours to answer, at most


@dataclass
class PageVisit:
    url: str
    final_url: str
    started: datetime
    finished: datetime
    title: str | None = None
    screenshot: bytes | None = None  # as the browser rendered it (PNG)
    pdf: bytes | None = None
    dom: str | None = None  # shadow roots written in as <template shadowrootmode>
    frames: list[tuple[str, str]] = field(default_factory=list)  # (url, DOM) of each frame
    seen: list[Seen] = field(default_factory=list)  # every request, through the proxy
    refused: list[str] = field(default_factory=list)
    inflight: list[str] = field(default_factory=list)  # still being fetched when it ended
    console: list[str] = field(default_factory=list)  # console errors
    failed_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    popups: list[str] = field(default_factory=list)  # window.open refused, or closed
    downloads: list[str] = field(default_factory=list)  # refused
    notes: list[str] = field(default_factory=list)  # what was cut short, and why
    error: str | None = None  # the page could not be loaded at all
    frozen: datetime | None = None  # when its scripts were stopped, and it was recorded
    text: str | None = None  # its visible text then (what the replay check compares)
    volatile: list[list[int]] | None = None  # boxes (x, y, w, h) of the parts named so
    behaved: behaviors.Behaved | None = None  # what the page behaviours did (None: none asked)
    marks: list[Any] | None = None  # an interactive visit's marks (browser/marking.py's)
    interrupted: bool = False  # cut short by Ctrl-C or SIGTERM: --resume loads it again

    @classmethod
    def failed(cls, url: str, reason: str) -> PageVisit:
        now = datetime.now(UTC)
        return cls(url, url, now, now, error=reason)

    def banded_screenshot(self, who: str = "") -> bytes:
        """The screenshot with the URL, the capture's UTC time and ``who`` (the capture
        and its operator) in a band above it."""
        from .screenshot import with_band

        assert self.screenshot is not None
        cut = next((n for n in self.notes if "screenshot shows the top" in n), "")
        return with_band(self.screenshot, url=self.final_url, when=self.frozen or self.started,
                         note="cut: the page is taller" if cut else "", who=who)

    def summary(self) -> dict[str, Any]:
        """What the manifest says of the visit (the records it made are added there)."""
        return {"url": self.url, "final_url": self.final_url, "title": self.title,
                "started_at": iso(self.started), "finished_at": iso(self.finished),
                "recorded_at": iso(self.frozen) if self.frozen else None,
                "requests": len(self.seen), "console_errors": self.console,
                "failed_requests": self.failed_requests, "dialogs": self.dialogs,
                "popups_blocked": self.popups, "downloads_refused": self.downloads,
                "not_fetched": self.refused, "notes": self.notes, "error": self.error,
                **({"behaviors": self.behaved.summary()} if self.behaved else {}),
                **({"volatile_boxes": self.volatile} if self.volatile is not None else {})}


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


async def load(url: str, *, new_context: Callable[[], Awaitable[Any]],
               proxy: RecordingProxy, page_timeout: float,
               stopped: asyncio.Event | None = None, behaviors: list[str] | None = None,
               behavior_timeout: float = 20.0, volatile: list[str] | None = None) -> PageVisit:
    """Visit ``url`` in a context of its own (``new_context`` makes one through the
    recording proxy; the page gives the proxy credentials that name the visit); always
    returns, whatever the page does, within ``page_timeout`` + OPEN + RECORD + CLOSE
    seconds (and ``behavior_timeout`` + BEHAVE more when ``behaviors`` run). When
    ``stopped`` is set (the capture was interrupted), loading ends there and the page is
    recorded as it is."""
    visit_id = proxy.open_visit(url)
    visit = PageVisit(url, url, datetime.now(UTC), datetime.now(UTC))
    opened: list[Any] = []  # the context, once there is one
    acts = Acts(behaviors or [], behavior_timeout, volatile or [])
    try:
        await asyncio.wait_for(_visit(url, (visit_id, proxy.secret), new_context, page_timeout,
                                      visit, opened, stopped or asyncio.Event(), acts),
                               page_timeout + OPEN + RECORD
                               + (behavior_timeout + BEHAVE if acts.kinds else 0))
    except TimeoutError:
        visit.notes.append("the visit ran past its time and was cut short")
    finally:
        if opened:
            await _bounded(opened[0].close(), CLOSE, visit, "close the page")
        gathered = proxy.close_visit(visit_id)
        visit.seen, visit.refused = gathered.seen, gathered.refused
        visit.inflight = gathered.inflight
        visit.finished = datetime.now(UTC)
    return visit


async def _visit(url: str, login: tuple[str, str], new_context: Callable[[], Awaitable[Any]],
                 page_timeout: float, visit: PageVisit, opened: list[Any],
                 stopped: asyncio.Event, acts: Acts) -> None:
    if stopped.is_set():
        visit.error, visit.interrupted = "not loaded: the capture was interrupted", True
        return
    deadline = time.monotonic() + page_timeout
    context = await _bounded(new_context(), OPEN / 2, visit, "open a context")
    if context is None:
        visit.error = visit.error or "the browser would not open a context"
        return
    opened.append(context)
    await _bounded(context.add_init_script(NO_POPUPS), OPEN / 4, visit, "block pop-ups")
    if acts.kinds:
        await _bounded(context.add_init_script(behaviors.init_script(acts.kinds, acts.timeout)),
                       OPEN / 4, visit, "set up the page behaviours")
    page = await _bounded(context.new_page(), OPEN / 4, visit, "open a page")
    if page is None:
        visit.error = visit.error or "the browser would not open a page"
        return
    # attached before the page runs anything: a page stuck in a script still answers it
    session = await _bounded(context.new_cdp_session(page), OPEN / 4, visit,
                             "attach to the page")
    if session is None or not await _bounded(ProxyLogin(session, *login).start(), OPEN / 4,
                                             visit, "answer the recording proxy"):
        visit.error = visit.error or "the browser would not let custody attach to the page"
        return
    _watch(context, page, visit)
    network = NetworkWatch().attach(context)
    if not await _until_stopped(_open(page, url, deadline, visit, network, acts), stopped):
        visit.notes.append("loading was stopped: the capture was interrupted")
        visit.interrupted = True
        if visit.behaved is not None and not visit.behaved.messages:
            kept = await _bounded(behaviors.messages(page), 10, visit,
                                  "read what the behaviours said")
            visit.behaved.messages = kept if isinstance(kept, list) else []
    if visit.error:
        return
    await _freeze(session, visit)
    record_by = time.monotonic() + RECORD
    visit.final_url = page.url or url
    visit.title = await _bounded(page.title(), _budget(record_by, 3), visit, "read the title")
    await _photograph(page, record_by, visit)
    if acts.volatile:
        boxes = await _bounded(page.evaluate(BOXES, acts.volatile), _budget(record_by, 3), visit,
                               "find the volatile parts")
        visit.volatile = boxes if isinstance(boxes, list) else []
    text = await _bounded(page.inner_text("body", timeout=3000), _budget(record_by, 4), visit,
                          "read the visible text")
    visit.text = text if isinstance(text, str) else None
    dom = await _bounded(serialise(session, page), _budget(record_by, 8), visit,
                         "read the DOM")
    visit.dom = dom if isinstance(dom, str) else None
    for frame in page.frames[1:]:  # each frame's own DOM, as scripts left it
        if frame.url.startswith(("http://", "https://")) and len(visit.frames) < 50:
            html = await _bounded(frame.content(), _budget(record_by, 3), visit,
                                  f"read the frame {frame.url}")
            if isinstance(html, str):
                visit.frames.append((frame.url, html))
    pdf = await _bounded(page.pdf(print_background=True), _budget(record_by, 10), visit,
                         "print the page to PDF")
    visit.pdf = pdf if isinstance(pdf, bytes) else None


async def _open(page: Any, url: str, deadline: float, visit: PageVisit,
                network: NetworkWatch, acts: Acts) -> None:
    """Loaded, quiet; the behaviours run (their time their own, not the page's); then
    scrolled to the bottom and back for what loads lazily."""
    await _go(page, url, deadline, visit)
    if visit.error:
        return
    await _quiet(deadline, visit, network)
    if acts.kinds:
        started = time.monotonic()
        await behave(page, acts, visit, network)
        deadline += time.monotonic() - started
    if not visit.error:
        await _scroll(page, deadline, visit, network)


async def _until_stopped(work: Awaitable[None], stopped: asyncio.Event) -> bool:
    """Run ``work`` unless ``stopped`` is set first (then it is cancelled): whether it
    finished."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if task.done():
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return False


async def _freeze(session: Any, visit: PageVisit) -> None:
    """Stop the page where it is, so that the screenshot, the DOM and the PDF show one
    moment: a script still running (an endless loop) is ended, no script runs again,
    loading stops. A pending end of a script that was not running is used up at once."""
    if session is None:
        visit.notes.append("the page's scripts could not be stopped before recording")
        return
    for method, params in (("Runtime.terminateExecution", {}),
                           ("Emulation.setScriptExecutionDisabled", {"value": True}),
                           ("Page.stopLoading", {})):
        if await _bounded(session.send(method, params), 3, visit, f"send {method}") is None:
            return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(session.send("Runtime.evaluate", {"expression": "0"}), 2)
    visit.frozen = datetime.now(UTC)


def _budget(by: float, cap: float) -> float:
    """Time for one recording step: what is left until ``by``, at most ``cap``."""
    return max(0.5, min(cap, by - time.monotonic()))


def _left(deadline: float, cap: float) -> float:
    """Time left of the page's own, never more than ``cap``."""
    return max(0.1, min(cap, deadline - time.monotonic()))


async def _bounded(awaitable: Any, seconds: float, visit: PageVisit, what: str) -> Any:
    try:
        return await asyncio.wait_for(awaitable, timeout=seconds)
    except TimeoutError:
        visit.notes.append(f"could not {what} within {seconds:.0f} s")
    except Exception as exc:  # playwright's errors: the page closed, crashed, navigated
        visit.notes.append(f"could not {what}: {first_line(exc)}")
    return None



def _watch(context: Any, page: Any, visit: PageVisit) -> None:
    tasks: set[Any] = set()  # the dismissals and closings under way, kept till done

    def later(coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def dialog(d: Any) -> None:
        visit.dialogs.append(f"{d.type}: {d.message[:200]}")
        later(d.dismiss())

    def popup(p: Any) -> None:
        if p is not page:
            visit.popups.append(p.url or "(a new window)")
            later(p.close())

    def console(message: Any) -> None:
        if message.type == "debug" and message.text.startswith(POPUP_MARK):
            if len(visit.popups) < 500:
                visit.popups.append(message.text[len(POPUP_MARK):][:500] or "(a new window)")
        elif message.type == "error" and len(visit.console) < 200:
            visit.console.append(message.text[:500])

    def failed(request: Any) -> None:
        if len(visit.failed_requests) < 500:
            visit.failed_requests.append(f"{request.url}: {request.failure or 'failed'}")

    def download(d: Any) -> None:
        visit.downloads.append(d.url)

    def crash(_: Any) -> None:  # its renderer process ended: nothing it shows is whole
        visit.error = visit.error or "the page crashed (its renderer process ended)"

    page.on("dialog", dialog)
    context.on("page", popup)
    page.on("console", console)
    page.on("requestfailed", failed)
    page.on("download", download)
    page.on("crash", crash)


async def _go(page: Any, url: str, deadline: float, visit: PageVisit) -> None:
    from playwright.async_api import Error
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        await page.goto(url, wait_until="load", timeout=_left(deadline, 1e9) * 1000)
    except PlaywrightTimeout:
        visit.notes.append("the page did not finish loading within --page-timeout")
    except Error as exc:
        message = first_line(exc)
        if "net::ERR_ABORTED" in message or "interrupted by another navigation" in message:
            visit.notes.append(f"the page navigated away while loading ({message})")
        else:
            visit.error = f"the browser could not load the page: {message}"


async def _quiet(deadline: float, visit: PageVisit, network: NetworkWatch) -> None:
    if not await network.quiet(_left(deadline, QUIET_CAP)):
        visit.notes.append(f"the network was not quiet {QUIET_CAP:.0f} s after load "
                           f"({network.under_way} requests under way)")


async def _scroll(page: Any, deadline: float, visit: PageVisit, network: NetworkWatch) -> None:
    """The page scrolled to its bottom step by step, the network quiet again after each
    step (its lazy content loaded), until its height stays as it was; then to its top."""
    previous: float = -1
    for _ in range(SCROLL_STEPS):
        if time.monotonic() > deadline:
            visit.notes.append("stopped scrolling at --page-timeout")
            return
        height = await _bounded(page.evaluate(
            "() => { window.scrollTo(0, document.documentElement.scrollHeight);"
            " return document.documentElement.scrollHeight; }"), 3, visit, "scroll")
        if isinstance(height, int | float) and height > MAX_HEIGHT:
            visit.notes.append(f"stopped scrolling past {MAX_HEIGHT} px: what the page "
                               "loads further down is not in the capture")
            break
        if not isinstance(height, int | float) or height == previous:
            break
        previous = height
        await network.quiet(_left(deadline, SCROLL_QUIET_CAP))
    else:
        visit.notes.append(f"stopped scrolling after {SCROLL_STEPS} steps (an endless page?)")
    await _bounded(page.evaluate("() => window.scrollTo(0, 0)"), 3, visit, "scroll back")


async def serialise(session: Any, page: Any) -> str:
    """The page's DOM as it is now, shadow roots (open and closed) included, as Chrome's
    DevTools serialise it; ``page.content()`` would leave out what a widget shows."""
    if session is None:
        return str(await page.content())
    try:
        root = await session.send("DOM.getDocument", {"depth": -1, "pierce": True})
        html = await session.send("DOM.getOuterHTML", {"nodeId": root["root"]["nodeId"],
                                                       "includeShadowDOM": True})
        return str(html["outerHTML"])
    except Exception:  # an older Chromium without includeShadowDOM: the light DOM
        return str(await page.content())


async def _photograph(page: Any, record_by: float, visit: PageVisit) -> None:
    height = await _bounded(page.evaluate("() => document.documentElement.scrollHeight"),
                            _budget(record_by, 3), visit, "measure the page")
    seconds = _budget(record_by, 15)
    options: dict[str, Any] = {"full_page": True, "timeout": seconds * 1000}
    if isinstance(height, int | float) and height > MAX_HEIGHT:
        visit.notes.append(f"the page is {int(height)} px tall; the screenshot shows the top "
                           f"{MAX_HEIGHT} px")
        options = {"clip": {"x": 0, "y": 0, "width": 1280, "height": MAX_HEIGHT},
                   "full_page": True, "timeout": options["timeout"]}
    shot = await _bounded(page.screenshot(**options), seconds + 1, visit,
                          "take the screenshot")
    visit.screenshot = shot if isinstance(shot, bytes) else None
