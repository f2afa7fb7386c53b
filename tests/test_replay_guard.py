"""A replayed page stays inside the archived copy, whatever its scripts try.

A hostile page, captured, is replayed in a real browser (`custody replay`, pywb behind
custody's guard). Its scripts open an unrewritten copy of another archived page (pywb's
``id_``), which loads an image, fetches and opens a WebSocket to a live server; they
open a WebSocket themselves and start WebRTC towards a STUN server on UDP. Nothing may
reach either server: a live request tells the page's author that the page is being
looked at, from where, and the replay's address."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from conftest import PYWB, Custody
from custody.testing.site import Page, SiteServer
from test_replay import CHROMIUM, own_temporary_folder, replaying  # noqa: F401

pytestmark = pytest.mark.skipif(
    not (PYWB / "wayback").exists() or not os.path.exists(CHROMIUM),
    reason="replay needs pywb and Chromium: ./scripts/setup --test installs them")


class _Live(BaseHTTPRequestHandler):
    """The page author's server: every request it gets is a leak."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def live() -> Iterator[tuple[int, int, list[str], list[bytes]]]:
    """An HTTP server and a UDP socket (STUN) on loopback, and what each received."""
    _Live.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Live)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    packets: list[bytes] = []
    done = threading.Event()

    def listen() -> None:
        while not done.is_set():
            try:
                packets.append(udp.recv(2048))
            except (TimeoutError, OSError):
                continue

    threading.Thread(target=listen, daemon=True).start()
    try:
        yield server.server_address[1], udp.getsockname()[1], _Live.seen, packets
    finally:
        done.set()
        server.shutdown()
        server.server_close()
        udp.close()


def _pages(site: str, http_port: int, udp_port: int) -> dict[str, Page]:
    leak = f"http://127.0.0.1:{http_port}"
    escape = f"""
      function attempt(f) {{ try {{ f(); }} catch (e) {{}} }}
      function call(Peer, label) {{  // a peer connection that asks the STUN server
        var rtc = new Peer({{iceServers: [{{urls: 'stun:127.0.0.1:{udp_port}'}}]}});
        rtc.createDataChannel(label);
        rtc.createOffer().then(function (o) {{ return rtc.setLocalDescription(o); }});
      }}
      function lastFrame() {{ return window.frames[window.frames.length - 1]; }}
      attempt(function () {{
        var frame = document.createElement('iframe');
        frame.src = window.wbinfo.prefix + 'id_/{site}/raw.html';
        document.body.appendChild(frame);
      }});
      attempt(function () {{ new WebSocket('ws://127.0.0.1:{http_port}/ws-page'); }});
      attempt(function () {{ call(RTCPeerConnection, 'x'); }});
      attempt(function () {{
        var frame = document.createElement('iframe');
        document.body.appendChild(frame);
        call(frame.contentWindow.RTCPeerConnection, 'y');
      }});
      attempt(function () {{
        document.body.appendChild(document.createElement('iframe'));
        call(lastFrame().RTCPeerConnection, 'z');
      }});
      attempt(function () {{
        var holder = document.createElement('div');
        holder.innerHTML = '<iframe></iframe>';
        document.body.appendChild(holder);
        call(lastFrame().RTCPeerConnection, 'w');
      }});
      attempt(function () {{
        var holder = document.createElement('div');
        document.body.appendChild(holder);
        holder.innerHTML = '<iframe></iframe>';
        call(lastFrame().RTCPeerConnection, 'v');
      }});
      document.title = 'ran';
    """
    raw = f"""<!doctype html><title>raw</title>
      <img src="{leak}/img-raw">
      <script>fetch('{leak}/fetch-raw', {{mode: 'no-cors'}});
      try {{ new WebSocket('ws://127.0.0.1:{http_port}/ws-raw'); }} catch (e) {{}}</script>"""
    svg = f"""<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">
      <script>fetch('{leak}/svg-fetch', {{mode: 'no-cors'}});</script></svg>"""
    return {
        "/hostile.html": Page(b"""<!doctype html><html><head><title>hostile</title></head>
            <body><p id="t">An ordinary statement.</p>
            <iframe src="/raw.html" width="10" height="10"></iframe>
            <iframe src="/evil.svg" width="10" height="10"></iframe>
            <script src="/escape.js"></script></body></html>""", "text/html",
                              headers={"Refresh": f"2; url={leak}/refresh"}),
        "/evil.svg": Page(svg.encode(), "image/svg+xml"),
        "/escape.js": Page(escape.encode(), "text/javascript"),
        "/raw.html": Page(raw.encode(), "text/html"),
    }


def test_a_hostile_page_replayed_reaches_no_live_server(
        custody: Custody, live: tuple[int, int, list[str], list[bytes]]) -> None:
    """In Chromium, nothing reaches the live servers. And asked as a replayed page's
    script would ask: a document under a modifier that serves it raw (id_, oe_, im_,
    with a leading //), pywb's listings of the captures, and the home page fetched by a
    script are refused; a captured Refresh header is not passed on, and an SVG document
    may run no script."""
    import httpx

    http_port, udp_port, seen, packets = live
    pages: dict[str, Page] = {}
    with SiteServer(pages) as site:
        pages.update(_pages(site.url, http_port, udp_port))
        url = site.url + "/hostile.html"
        cid = custody.archive(url)["capture_id"]
    seen.clear()  # (the capture itself fetched nothing from it: the page's scripts do)
    with replaying(custody, url) as (_proc, lines):
        address = lines[1].split()[1]
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox"] if os.geteuid() == 0 else [])
            try:
                page = browser.new_page()
                page.goto(address, wait_until="load", timeout=30_000)
                frame = next(f for f in page.frames if "/mp_/" in f.url)
                frame.wait_for_function("document.title === 'ran'", timeout=15_000)
                assert frame.inner_text("#t") == "An ordinary statement."
                time.sleep(3)  # what the scripts started has had time to arrive
            finally:
                browser.close()
        base = lines[0].split(" at ")[1].split()[0].rstrip("/")
        answer = httpx.get(f"{base}/{cid}/mp_/{url}", timeout=60)
        assert answer.status_code == 200 and "refresh" not in answer.headers
        svg = httpx.get(f"{base}/{cid}/mp_/{site.url}/evil.svg", timeout=60)
        assert "script-src 'none'" in svg.headers["content-security-policy"]
        for path in (f"/{cid}/id_/{url}", f"/{cid}/oe_/{url}", f"/{cid}/im_/{url}",
                     f"//{cid}/id_/{url}", f"/{cid}/2026im_/{url}"):
            assert httpx.get(base + path, timeout=60).status_code == 403, path
        for path in ("/collinfo.json", f"/{cid}/cdx?url={url}", f"/{cid}/timemap/link/{url}"):
            assert httpx.get(base + path, timeout=60).status_code == 404, path
        assert httpx.get(base + "/", headers={"Sec-Fetch-Dest": "empty"},
                         timeout=60).status_code == 404
        assert httpx.get(base + "/", headers={"Sec-Fetch-Dest": "document"},
                         timeout=60).status_code == 200  # the list, for a person
    assert seen == [], seen
    assert packets == [], f"{len(packets)} UDP packets reached the STUN server"
