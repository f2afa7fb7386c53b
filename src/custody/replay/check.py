"""The replay check of a browser capture (browser/replay_check.py says what it is and
what it gives): each page kept by the capture's Chromium, replayed from the capture's WARC
files as they are before sealing, by pywb on a Unix socket of a scratch folder, in a
context of that Chromium whose every request is answered from pywb or refused; the same
behaviours and scrolling run again, the page stopped as the recording stopped it, then
its screenshot and visible text compared. Pages are checked as many at a time as the
capture loaded them. ``check_capture`` is given to the browser by whoever opens it (the
command line, the workbench), as the replay engine comes after the capture."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ..browser import behaviors
from ..browser.acting import EXPAND_LEAST
from ..browser.expand import expand
from ..browser.page import MAX_HEIGHT, SCROLL_QUIET_CAP, SCROLL_STEPS
from ..browser.quiet import NetworkWatch
from ..browser.replay_check import Kept, text_alike, verdict
from ..core import scratch
from ..core.errors import UsageError, first_line

ORIGIN = "http://replay.custody.invalid"  # answered by the route below, never resolved
MAX_LISTED = 50
# seconds waited for the replayed page's network to go quiet after its load and its
# behaviours, at most: it is answered from files on this machine, and a page that is
# never quiet (a feed that keeps asking) is replayed as it is by then
REPLAY_QUIET_CAP = 5.0
RECORD = 20.0  # seconds past the page's own to screenshot and read it, at most
RTC_KEPT = "__custody_webrtc"
# WebRTC reaches the network beside the page's requests: refused in the replayed page (a
# page that opens a peer connection only when it sees it is replayed), each attempt kept
NO_WEBRTC = """(() => {
  const tried = [];
  Object.defineProperty(self, KEPT, {value: tried});
  for (const name of ['RTCPeerConnection', 'webkitRTCPeerConnection', 'RTCDataChannel',
                      'RTCIceTransport', 'RTCRtpSender', 'RTCRtpReceiver']) {
    if (!(name in self)) continue;
    const refused = function (config) {
      let servers = '';
      try { servers = JSON.stringify((config && config.iceServers) || []); } catch (e) {}
      if (tried.length < 50) tried.push('webrtc: ' + name + ' ' + servers.slice(0, 400));
      throw new DOMException('WebRTC is refused in a replay check', 'NotAllowedError');
    };
    Object.defineProperty(self, name, {value: refused, writable: false, configurable: false});
  }
})();""".replace("KEPT", repr(RTC_KEPT))
FREEZE = ("Runtime.terminateExecution", "Emulation.setScriptExecutionDisabled",
          "Page.stopLoading")


def check_capture(chromium: Any, kept: list[Kept], files: list[tuple[str, Path]],
                  records: list[dict[str, Any]], started_at: str,
                  ) -> dict[tuple[str, str], tuple[dict[str, Any], str | None]]:
    """Each kept page replayed and compared: by (url, started_at), what was found and the
    note it gives. Every page says so when pywb is not there, or would not start."""
    from ..export import cdxj
    from .pywb import Wayback, pywb_bin

    try:
        pywb = pywb_bin()
    except UsageError:
        return _all(kept, {"error": "pywb is not installed (./scripts/setup --replay)"})
    recorded = {str(r["target_uri"]) for r in records
                if r.get("type") in ("response", "resource", "revisit") and r.get("target_uri")}
    with scratch.folder("custody-check-replay-") as folder:
        collection = folder / "collections" / "capture"
        (collection / "archive").mkdir(parents=True)
        (collection / "indexes").mkdir()
        names = {}
        for relpath, path in files:
            names[relpath] = Path(relpath).name
            (collection / "archive" / names[relpath]).symlink_to(path.resolve())
        (collection / "indexes" / "index.cdxj").write_text(
            "".join(line + "\n" for line in cdxj.lines(records, names)))
        wayback = Wayback(folder, pywb, framed=False)
        page_seconds = chromium.page_timeout + RECORD + \
            (chromium.behavior_timeout if chromium.behaviors else 0)
        replaying = Replaying(wayback.socket, "capture", cdxj.timestamp(started_at), recorded,
                              chromium.viewport, chromium.behaviors, chromium.behavior_timeout,
                              page_seconds, chromium.tabs)
        try:
            wayback.wait_ready()
            found = chromium.run_in_browser(
                check_pages(chromium.browser, kept, replaying),
                page_seconds * (len(kept) // max(1, chromium.tabs) + 1) + 30)
        except Exception as exc:  # pywb would not start, the browser went away
            return _all(kept, {"error": f"the replay failed: {first_line(exc, 300)}"})
        finally:
            wayback.stop()
    return {key: (result, verdict(result)) for key, result in found.items()}


def _all(kept: list[Kept], result: dict[str, Any],
         ) -> dict[tuple[str, str], tuple[dict[str, Any], str | None]]:
    return {(k.url, k.started_at): (result, verdict(result)) for k in kept}


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
    page_seconds: float  # one page's check, at most
    at_once: int  # pages checked at a time


async def check_pages(browser: Any, kept: list[Kept],
                      replaying: Replaying) -> dict[tuple[str, str], dict[str, Any]]:
    """Each kept page replayed and compared; by (url, started_at)."""
    import httpx

    client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(replaying.socket)),
                               timeout=httpx.Timeout(replaying.page_seconds, connect=10.0))
    results: dict[tuple[str, str], dict[str, Any]] = {}
    slots = asyncio.Semaphore(replaying.at_once)

    async def one(page: Kept) -> None:
        async with slots:
            started = time.monotonic()
            try:
                result = await asyncio.wait_for(_check(browser, client, page, replaying),
                                                replaying.page_seconds)
            except TimeoutError:
                result = {"error": f"the replay ran past {replaying.page_seconds:g} s"}
            except Exception as exc:  # the page crashed or closed: said, not fatal
                result = {"error": first_line(exc, 300) or "the replay did not answer"}
            result["seconds"] = round(time.monotonic() - started, 3)
            results[(page.url, page.started_at)] = result

    try:
        await asyncio.gather(*(one(page) for page in kept))
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
    failed: list[str] = []  # errors the replayed page's scripts threw

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

    # what the route below does not see (WebRTC's TURN over TCP, a WebSocket) goes to a
    # proxy that is not there, and WebRTC is refused in the page, each attempt listed
    context = await browser.new_context(viewport=replaying.viewport, accept_downloads=False,
                                        service_workers="block",
                                        proxy={"server": "http://127.0.0.1:9"})
    try:
        await context.route("**/*", answer)
        await context.add_init_script(NO_WEBRTC)
        if replaying.behaviors:
            await context.add_init_script(behaviors.init_script(replaying.behaviors,
                                                                replaying.behavior_timeout))
        network = NetworkWatch().attach(context)  # quiet as the recording counted it
        tab = await context.new_page()
        tab.on("pageerror", lambda exc: failed.append(str(exc)[:300]) if len(failed) < 10
               else None)
        target = f"{prefix}{replaying.timestamp}mp_/{page.url}"
        session = await context.new_cdp_session(tab)
        deadline = time.monotonic() + replaying.page_seconds - RECORD
        with contextlib.suppress(Exception):  # a page that does not load is shown as it is
            await asyncio.wait_for(tab.goto(target, wait_until="load"),
                                   max(1.0, deadline - time.monotonic()))
        await network.quiet(REPLAY_QUIET_CAP)
        if replaying.behaviors:  # what the recorded page was shown, shown again
            with contextlib.suppress(Exception):
                await asyncio.wait_for(behaviors.run(tab, replaying.behaviors,
                                                     replaying.behavior_timeout),
                                       replaying.behavior_timeout + 5)
            if "expand" in replaying.behaviors:  # what it opened, opened again
                await expand(tab, network, max(EXPAND_LEAST, replaying.behavior_timeout))
            await network.quiet(REPLAY_QUIET_CAP)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(_scroll(tab, network),
                                   max(1.0, deadline - time.monotonic()))
        for method in FREEZE:  # stopped where it is, as the recording stopped it
            params = {"value": True} if method.startswith("Emulation") else {}
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.send(method, params), 3)
        shot = await tab.screenshot(full_page=True, timeout=RECORD / 2 * 1000)
        text = await tab.inner_text("body", timeout=5000)
        with contextlib.suppress(Exception):
            tried = await asyncio.wait_for(tab.evaluate(f"() => self[{RTC_KEPT!r}] || []"), 3)
            escaped += [str(t)[:500] for t in tried][:MAX_LISTED - len(escaped)]
    finally:
        await context.close()
    found = difference(page.screenshot.read_bytes(), shot)
    return {"engine": "pywb", "pixels": round(1 - found.share, 4),
            "text": round(text_alike(page.text, text), 4), "missing": missing,
            "escaped": escaped, **({"script_errors": failed} if failed else {})}


async def _scroll(tab: Any, network: NetworkWatch) -> None:
    """Down to the bottom step by step until the height stays (or passes what a
    screenshot shows), the network quiet after each step as the recording waited for it,
    then back to the top: as the recorded page was (browser/page.py)."""
    previous = -1
    for _ in range(SCROLL_STEPS):
        height = await tab.evaluate("() => { window.scrollTo(0, document.documentElement"
                                    ".scrollHeight); return document.documentElement"
                                    ".scrollHeight; }")
        if height == previous or height > MAX_HEIGHT:
            break
        previous = height
        await network.quiet(SCROLL_QUIET_CAP)
    await tab.evaluate("() => window.scrollTo(0, 0)")


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

