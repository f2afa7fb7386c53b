"""The recording proxy's challenge, answered by the page's own DevTools session: the
first request of a page is held until the proxy has the visit's credentials; every later
one -- over HTTP, and through HTTPS tunnels -- goes unheld, with the credentials the
browser kept, and is fetched and counted in its visit. (Playwright, given the credentials,
held every request of the page for a round trip through its driver.) The browser's cache
is the same in the page, a frame of another site and a worker: what each asks for twice
of what the server lets it keep is fetched once, and recorded."""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
from pathlib import Path

import pytest
import trustme

from custody.browser.ca import CaptureCA
from custody.browser.chromium import FLAGS
from custody.browser.proxy import RecordingProxy
from custody.browser.proxy_login import ProxyLogin
from custody.capture.fetch import Fetcher
from custody.capture.guard import AddressGuard
from custody.testing.site import Page, SiteServer

CHROMIUM = os.environ.get("CUSTODY_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM}: ./scripts/setup --test installs it (as root)")

PIXEL = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                      "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae"
                      "426082")


def pages(other: str) -> dict[str, Page]:
    """A page asking for twelve things of its own site and two of ``other``'s, in the
    ways a page asks: tags, a script's fetch, an image made later."""
    tags = "".join(f'<img src="/i{n}.png">' for n in range(8))
    html = (f"<html><head><title>many</title><link rel=stylesheet href=/s.css></head><body>"
            f"<p id=out>waiting</p>{tags}<img src='{other}/far.png'>"
            f"<iframe src='{other}/frame.html'></iframe>"
            "<script src=/a.js></script><script src=/b.js></script></body></html>")
    script = (f"fetch('/data.json').then(r => r.json()).then(d => {{"
              f" document.getElementById('out').textContent = d.said;"
              f" const i = new Image(); i.src = '{other}/later.png';"
              f" document.body.appendChild(i); return fetch('/kept.json'); }})"
              f".then(() => fetch('/kept.json')).then(() => new Promise(done => {{"
              f" const w = new Worker('/worker.js'); w.onmessage = done; }}))"
              f".then(() => {{ window.workerDone = true; }});")
    worker = "fetch('/kept.json').then(() => fetch('/kept.json')).then(() => postMessage(1));"
    keep = {"Cache-Control": "max-age=3600"}
    served = {"/": Page(html.encode(), "text/html"),
              "/s.css": Page(b"p { color: #123 }", "text/css"),
              "/a.js": Page(script.encode(), "application/javascript"),
              "/b.js": Page(b"window.b = 1;", "application/javascript"),
              "/data.json": Page(b'{"said": "all of it arrived"}', "application/json"),
              "/kept.json": Page(b"{}", "application/json", headers=keep),
              "/worker.js": Page(worker.encode(), "application/javascript")}
    served.update({f"/i{n}.png": Page(PIXEL, "image/png") for n in range(8)})
    return served


def elsewhere() -> dict[str, Page]:
    """The other site: two images, and a frame that asks twice for what it may keep."""
    frame = ("<html><body><script>fetch('/kept.json').then(() => fetch('/kept.json'))"
             ".then(() => { document.title = 'done'; });</script></body></html>")
    return {"/far.png": Page(PIXEL, "image/png"), "/later.png": Page(PIXEL, "image/png"),
            "/frame.html": Page(frame.encode(), "text/html"),
            "/kept.json": Page(b"{}", "application/json",
                               headers={"Cache-Control": "max-age=3600"})}


async def visit(proxy: RecordingProxy, ca: CaptureCA, url: str) -> tuple[str, ProxyLogin]:
    """``url`` loaded in a context through ``proxy``, as custody's pages are; its visit and
    the page's ProxyLogin."""
    from playwright.async_api import async_playwright

    args = [*FLAGS, f"--ignore-certificate-errors-spki-list={ca.spki_hash}"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args,
                                                   proxy={"server": "per-context"})
        try:
            context = await browser.new_context(proxy={"server": proxy.url})
            page = await context.new_page()
            session = await context.new_cdp_session(page)
            visit_id = proxy.open_visit(url)
            login = ProxyLogin(session, visit_id, proxy.secret)
            assert await login.start()
            await page.goto(url, wait_until="load")
            await page.wait_for_function("document.images.length == 10 && "
                                         "[...document.images].every(i => i.complete) && "
                                         "window.workerDone", timeout=20_000)
            frame = page.frames[1]
            await frame.wait_for_function("document.title == 'done'", timeout=20_000)
            assert await page.inner_text("#out") == "all of it arrived"
            await context.close()
        finally:
            await browser.close()
    return visit_id, login


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_only_the_first_request_of_a_page_waits_for_the_proxy_s_credentials(
        scheme: str, ca: trustme.CA, ca_file: str) -> None:
    tls = None
    if scheme == "https":
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost", "127.0.0.1").configure_cert(tls)
    with tempfile.TemporaryDirectory() as folder, SiteServer(elsewhere(), tls=tls) as far, \
            SiteServer(pages(far.url), tls=tls) as server:
        fetcher = Fetcher(user_agent="custody-test", guard=AddressGuard({"127.0.0.1", "localhost"}),
                          ca_bundle=ca_file)
        capture_ca = CaptureCA(Path(folder))
        proxy = RecordingProxy(fetcher, capture_ca).start()
        try:
            visit_id, login = asyncio.run(visit(proxy, capture_ca, server.url + "/"))
            gathered = proxy.close_visit(visit_id)
        finally:
            proxy.close()
            fetcher.close()
    other = far.url
    asked = sorted(path for path in server.requests if path != "/favicon.ico")
    assert asked == sorted(pages(other)), asked  # each once: nothing asked again
    assert sorted(path for path in far.requests if path != "/favicon.ico") == \
        sorted(elsewhere())  # the frame's second /kept.json too, from its cache
    fetched = {seen.exchange.url for seen in gathered.seen}
    assert {server.url + path for path in pages(other)} <= fetched
    assert {other + path for path in elsewhere()} <= fetched
    assert gathered.refused == []
    assert login.challenged == 1  # the page's first request; the browser kept the answer
    # and it waited, with at most what began while the browser was told to stop holding
    # (on a loaded machine): never the page's fifteen, as when holding went on
    assert login.paused <= 3, login.paused
