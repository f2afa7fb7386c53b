"""Every page the browser recorded, replayed from the capture's own WARC files before the
capture is sealed, and compared with what was recorded: the check Browsertrix runs as a
separate QA crawl, done here as part of the capture and sealed with it.

The replay engine is ``custody replay``'s -- pywb, reading the WARC files in place, its
index made from the capture's records, on a Unix socket of a scratch folder -- and the
browser is the capture's own Chromium, in a context of its own that reaches nothing but
pywb: each request it makes is answered from the socket, and one for anywhere else (a
live URL the replay failed to rewrite) is refused and listed. For each page:

- ``pixels``: the share of the screenshot that is the same (watch/pixels.py's measure,
  on the screenshot without its band, at the same viewport);
- ``text``: how alike the visible text is (difflib's ratio over words);
- ``missing``: what the replayed page asked for that the WARC does not hold;
- ``escaped``: requests for anywhere but the replay, refused.

A page under ``PIXELS`` or ``TEXT``, or missing something, is noted: the archivist may
capture it again. Without pywb (``./scripts/setup --replay``) the capture says it was not
checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ..core import scratch
from . import behaviors

PIXELS = 0.95
TEXT = 0.95
ORIGIN = "http://replay.custody.invalid"  # answered by the route below, never resolved
PAGE_SECONDS = 30.0
MAX_LISTED = 50
MAX_WORDS = 20_000


@dataclass
class Kept:
    """What was recorded of one page, kept until the check."""

    url: str
    started_at: str
    screenshot: Path
    text: str


class Keeper:
    """The pages' screenshots and texts, in a scratch folder, until the check."""

    def __init__(self) -> None:
        self.folder = scratch.make("custody-check-")
        self.kept: list[Kept] = []

    def keep(self, url: str, started_at: str, png: bytes, text: str) -> None:
        path = self.folder / f"{len(self.kept):06d}.png"
        path.write_bytes(png)
        self.kept.append(Kept(url, started_at, path, text))

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def text_alike(recorded: str, replayed: str) -> float:
    """1.0 for the same words in the same order; both empty is the same."""
    first, second = recorded.split()[:MAX_WORDS], replayed.split()[:MAX_WORDS]
    if not first and not second:
        return 1.0
    return SequenceMatcher(None, first, second, autojunk=False).ratio()


def verdict(result: dict[str, Any]) -> str | None:
    """The note a page's check gives, when it gives one."""
    if result.get("error"):
        return f"not replay-checked: {result['error']}"
    said = []
    if result["pixels"] < PIXELS:
        said.append(f"{result['pixels']:.1%} of its screenshot is the same")
    if result["text"] < TEXT:
        said.append(f"its text is {result['text']:.1%} alike")
    if result["missing"]:
        said.append(f"{len(result['missing'])} resource(s) it asks for are not in the WARC")
    if result["escaped"]:
        said.append(f"{len(result['escaped'])} request(s) left the replay (refused)")
    if not said:
        return None
    return "replayed from its WARC, the page differs from what was recorded: " + \
        "; ".join(said) + " (capture it again?)"


@dataclass
class Replaying:
    """Where the replay is and what it is compared with."""

    socket: Path  # pywb's
    collection: str
    timestamp: str  # the capture's start, 14 digits
    recorded: set[str]  # the URLs the WARC holds
    viewport: dict[str, int]
    behaviors: list[str]  # run again in the replayed page, as in the recorded one
    behavior_timeout: float


def said(replay: Any) -> str | None:
    """A page's replay check in one line, as show, the report and the workbench give it:
    "replays as recorded: 99.6% of the pixels, text 100.0% alike, 0 missing"."""
    if not isinstance(replay, dict):
        return None
    if replay.get("error"):
        return f"not replay-checked: {replay['error']}"
    try:
        line = (f"{replay['pixels']:.1%} of the pixels the same, text {replay['text']:.1%} "
                f"alike, {len(replay['missing'])} missing")
    except (KeyError, TypeError, ValueError):
        return None
    escaped = len(replay.get("escaped") or [])
    line += f", {escaped} left the replay" if escaped else ""
    good = verdict({**replay, "error": None}) is None
    return ("replays as recorded: " if good else "replays otherwise than recorded: ") + line


def said_by_page(content: dict[str, Any]) -> dict[str, str]:
    """Each visited page's ``said``, by its URL and its final URL (a screenshot is named
    by the one it ended on)."""
    out = {}
    for visit in content.get("visits") or []:
        if isinstance(visit, dict) and (line := said(visit.get("replay"))):
            for key in (visit.get("url"), visit.get("final_url")):
                if isinstance(key, str):
                    out[key] = line
    return out


async def check_pages(browser: Any, kept: list[Kept],
                      replaying: Replaying) -> dict[tuple[str, str], dict[str, Any]]:
    """Each kept page replayed and compared; by (url, started_at)."""
    import httpx

    client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(replaying.socket)),
                               timeout=httpx.Timeout(PAGE_SECONDS, connect=10.0))
    results = {}
    try:
        for page in kept:
            started = time.monotonic()
            try:
                result = await asyncio.wait_for(_check(browser, client, page, replaying),
                                                PAGE_SECONDS * 2 + replaying.behavior_timeout)
            except Exception as exc:  # the page hung, crashed or closed: said, not fatal
                result = {"error": _first_line(exc) or "the replay did not answer"}
            result["seconds"] = round(time.monotonic() - started, 3)
            results[(page.url, page.started_at)] = result
    finally:
        await client.aclose()
    return results


async def _check(browser: Any, client: Any, page: Kept,
                 replaying: Replaying) -> dict[str, Any]:
    from ..watch.pixels import difference

    prefix = f"{ORIGIN}/{replaying.collection}/"
    recorded = replaying.recorded
    missing: list[str] = []
    escaped: list[str] = []

    async def answer(route: Any) -> None:
        url = route.request.url
        if not url.startswith(ORIGIN + "/"):  # the collection, and pywb's own scripts
            if len(escaped) < MAX_LISTED and url not in escaped:
                escaped.append(url)
            await route.abort("blockedbyclient")
            return
        try:
            response = await client.request(route.request.method, "http://pywb" +
                                            url[len(ORIGIN):],
                                            headers=_forwarded(route.request.headers),
                                            content=route.request.post_data_buffer)
        except Exception:
            await route.abort("failed")
            return
        original = _original(url[len(prefix):]) if url.startswith(prefix) else None
        if response.status_code == 404 and original and original not in recorded and \
                len(missing) < MAX_LISTED and original not in missing:
            missing.append(original)
        await route.fulfill(status=response.status_code, body=response.content,
                            headers={k: v for k, v in response.headers.items()
                                     if k.lower() not in _HOP})

    context = await browser.new_context(viewport=replaying.viewport, accept_downloads=False,
                                        service_workers="block")
    try:
        await context.route("**/*", answer)
        if replaying.behaviors:
            await context.add_init_script(behaviors.init_script(replaying.behaviors,
                                                                replaying.behavior_timeout))
        tab = await context.new_page()
        target = f"{prefix}{replaying.timestamp}mp_/{page.url}"
        try:
            await tab.goto(target, wait_until="load", timeout=PAGE_SECONDS * 1000)
        except Exception as exc:
            if "Timeout" not in type(exc).__name__:
                raise
        await _quiet(tab)
        if replaying.behaviors:  # what the recorded page was shown, shown again
            await behaviors.run(tab, replaying.behaviors, replaying.behavior_timeout)
            await _quiet(tab)
        await _scroll(tab)
        shot = await tab.screenshot(full_page=True, timeout=PAGE_SECONDS * 1000)
        text = await tab.inner_text("body", timeout=5000)
    finally:
        await context.close()
    found = difference(page.screenshot.read_bytes(), shot)
    return {"engine": "pywb", "pixels": round(1 - found.share, 4),
            "text": round(text_alike(page.text, text), 4), "missing": missing,
            "escaped": escaped}


async def _scroll(tab: Any) -> None:
    """Down to the bottom step by step until the height stays, then back to the top, as
    the recorded page was (browser/page.py)."""
    previous = -1
    for _ in range(30):
        height = await tab.evaluate("() => { window.scrollTo(0, document.documentElement"
                                    ".scrollHeight); return document.documentElement"
                                    ".scrollHeight; }")
        if height == previous:
            break
        previous = height
        await _quiet(tab)
    await tab.evaluate("() => window.scrollTo(0, 0)")


async def _quiet(tab: Any) -> None:
    with contextlib.suppress(Exception):  # a page never quiet is photographed as it is
        await tab.wait_for_load_state("networkidle", timeout=5000)


_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding",
        "content-length"}


def _forwarded(headers: dict[str, str]) -> dict[str, str]:
    """The request's headers for pywb, its Host the replay's (pywb's redirects name it)."""
    kept = {k: v for k, v in headers.items() if k.lower() not in _HOP and k.lower() != "host"}
    return {**kept, "host": ORIGIN.split("//", 1)[1]}


def _original(rest: str) -> str | None:
    """The archived URL in the part of a replay URL after the collection
    (``20261205101500mp_/https://example.org/a``)."""
    stamp, _, url = rest.partition("/")
    if not stamp or not stamp[:14].isdigit() or not url:
        return None
    return unquote(url) if url.startswith(("http%3A", "https%3A")) else url


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
