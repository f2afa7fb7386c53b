"""What an interactive capture's person marks: a page as it shows at one moment (the
window's view photographed, the DOM serialised, the time), and the means to mark it --
a keyboard shortcut in every page and a toolbar window of custody's own.

The shortcut's listener runs in an isolated world of each page (``WORLD``), where the
binding it calls is the only one: the page's own scripts share the DOM with it but can
neither see nor call the binding, nor fake the key (only a key the person pressed is
``isTrusted``). The key is told by its place on the keyboard (``KeyboardEvent.code``),
so that it is the same with a Persian or Russian layout.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

WORLD = "custody-marks"  # the isolated world the listener runs in
BINDING = "custodyMark"  # what it calls there: "mark", or "front" (the page is in front)
SHORTCUT = "Ctrl+Shift+S"
# Ctrl+Shift+S is no shortcut of Chromium's own on Linux, Windows or macOS
KEYS = """(() => {
  if (window.__custodyListening) return;
  window.__custodyListening = true;
  const call = BINDING;
  const ours = (e) => e.isTrusted && e.ctrlKey && e.shiftKey && !e.altKey && !e.metaKey
                      && e.code === 'KeyS';
  for (const kind of ['keydown', 'keypress', 'keyup']) {
    window.addEventListener(kind, (e) => {
      if (!ours(e)) return;
      e.preventDefault();  // nor the page, nor the browser, gets the key
      e.stopImmediatePropagation();
      if (kind === 'keydown' && !e.repeat) call('mark');
    }, true);
  }
  const front = () => { if (document.visibilityState === 'visible') call('front'); };
  window.addEventListener('focus', front, true);
  window.addEventListener('pointerdown', front, true);
  document.addEventListener('visibilitychange', front, true);
  front();
})();""".replace("BINDING", BINDING)


@dataclass
class Mark:
    """A page as it showed when marked (``why``: "marked" by the person, "loaded" on its
    own when the page had loaded, or "at the end" of the session)."""

    at: datetime
    why: str
    url: str
    title: str | None
    screenshot: bytes | None  # the window's view, as the person saw it (PNG)
    dom: str | None  # the DOM then, shadow roots written in
    scroll: list[int] | None = None  # where the view was in the page: x, y (CSS pixels)

    def banded(self, who: str = "") -> bytes:
        """The screenshot with the URL, the time and what it is, in a band above it."""
        from .screenshot import with_band

        assert self.screenshot is not None
        note = {"marked": "marked by the archivist", "loaded": "as loaded",
                "at the end": "at the end of the session"}.get(self.why, self.why)
        return with_band(self.screenshot, url=self.url, when=self.at, note=note, who=who)

    def summary(self) -> dict[str, object]:
        from .page import iso

        return {"at": iso(self.at), "why": self.why, "url": self.url, "title": self.title,
                "scroll": self.scroll}


TOOLBAR_TITLE = "custody: recording"


def toolbar_html(capture: str) -> str:
    """The toolbar window: what it records, a button to mark the page in front, one to
    finish, and the marks taken so far (``window.custodyShow`` adds a line)."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{TOOLBAR_TITLE}</title><style>
body {{ font: 14px system-ui, sans-serif; margin: 12px; color: #111; }}
h1 {{ font-size: 15px; margin: 0 0 8px; }} p {{ margin: 6px 0; color: #444; }}
button {{ font: inherit; padding: 6px 12px; margin: 4px 8px 4px 0; }}
#marks {{ font-size: 12px; max-height: 140px; overflow: auto; padding-left: 18px; }}
</style></head><body>
<h1>custody is recording {html.escape(capture)}</h1>
<p>Every request of the browser's other windows is recorded. Mark what the page in
front shows with <kbd>{SHORTCUT}</kbd> in the page, or here.</p>
<button id="mark">Mark the page in front</button>
<button id="finish">Finish and seal</button>
<p id="state" role="status">No mark yet.</p>
<ol id="marks"></ol>
<script>
const say = (line) => {{
  const item = document.createElement('li');
  item.textContent = line;
  document.getElementById('marks').appendChild(item);
  document.getElementById('state').textContent = line;
}};
window.custodyShow = say;
document.getElementById('mark').onclick = () => window.custodyToolbar('mark');
document.getElementById('finish').onclick = () => {{
  document.getElementById('state').textContent = 'Sealing: the windows will close.';
  window.custodyToolbar('finish');
}};
</script></body></html>"""


async def open_toolbar(context: Any, opener: Any, capture: str, said: Callable[[str], None],
                       coming: Callable[[bool], None]) -> Any:
    """The toolbar, in a small window of its own that ``opener`` opens without a handle
    on it (no page can reach it); ``said`` is called with what its buttons say."""
    try:
        async with context.expect_page(timeout=10_000) as made:
            coming(True)  # the next page the context opens is the toolbar
            await opener.evaluate("window.open('about:blank', '_blank', "
                                  "'popup,noopener,width=460,height=330')")
        toolbar = await made.value
        await toolbar.expose_function("custodyToolbar", said)
        await toolbar.set_content(toolbar_html(capture))
        return toolbar
    finally:
        coming(False)


async def listen(context: Any, page: Any, called: Callable[[dict[str, Any]], None],
                 shown: Callable[[str, bool], None] | None = None) -> Any:
    """The shortcut's listener in ``page`` (its documents now and later), in its own
    world; ``called`` with each call of its binding. ``shown(url, new)``: the page's main
    frame shows a new document at ``url``, or (``new`` false) the same one at another
    address, as the browser says it when it happens. The page's DevTools session."""
    session = await context.new_cdp_session(page)
    session.on("Runtime.bindingCalled",
               lambda event: called(event) if event.get("name") == BINDING else None)
    main: list[str] = []  # the main frame's id
    if shown is not None:
        def navigated(event: dict[str, Any]) -> None:
            frame = event.get("frame") or {}
            if not frame.get("parentId"):
                main[:] = [str(frame.get("id"))]
                shown(str(frame.get("url") or "") + str(frame.get("urlFragment") or ""), True)

        session.on("Page.frameNavigated", navigated)
        session.on("Page.navigatedWithinDocument", lambda event: shown(
            str(event.get("url") or ""), False) if [event.get("frameId")] == main else None)
    await session.send("Runtime.enable")  # else no binding is called on this session
    await session.send("Page.enable")  # else no script is run in new documents
    tree = await session.send("Page.getFrameTree")
    main[:] = main or [str(tree["frameTree"]["frame"]["id"])]
    await session.send("Runtime.addBinding", {"name": BINDING, "executionContextName": WORLD})
    await session.send("Page.addScriptToEvaluateOnNewDocument",
                       {"source": KEYS, "worldName": WORLD, "runImmediately": True})
    return session


async def photograph(page: Any, session: Any, seconds: float
                     ) -> tuple[bytes | None, str | None, str | None, list[int] | None]:
    """The window's view (PNG), the DOM, the title and where the view is, now."""
    from .page import serialise

    picture = await _bounded(_view(page, session, seconds), seconds)
    dom = await _bounded(serialise(session, page), seconds)
    title = await _bounded(page.title(), 3)
    scroll = await _bounded(page.evaluate("() => [Math.round(scrollX), Math.round(scrollY)]"), 3)
    return (picture if isinstance(picture, bytes) else None,
            dom if isinstance(dom, str) else None, title if isinstance(title, str) else None,
            scroll if isinstance(scroll, list) else None)


async def _view(page: Any, session: Any, seconds: float) -> bytes:
    """The window's view as it is now, through the page's DevTools session: Playwright's
    screenshot waits for the page's navigations to settle, which a page that changes its
    own address all the time never lets happen."""
    if session is None or session is True:
        return bytes(await page.screenshot(timeout=seconds * 1000))
    import base64

    shot = await session.send("Page.captureScreenshot", {"format": "png"})
    return base64.b64decode(shot["data"])


async def show(toolbar: Any, line: str) -> None:
    """A line added to the toolbar's list of what was done."""
    if not toolbar.is_closed():
        await _bounded(toolbar.evaluate(f"window.custodyShow({json.dumps(line)})"), 3)


async def _bounded(awaitable: Any, seconds: float) -> Any:
    try:
        return await asyncio.wait_for(awaitable, timeout=seconds)
    except Exception:  # closed, navigated, timed out: nothing to show
        return None
