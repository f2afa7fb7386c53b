"""A loopback site whose statement changes, for the watch's tests and benchmark.

``/statement`` goes through phases a test sets (``site.phase = ...``): ``original``;
``edited`` (one sentence of its second paragraph reworded); ``trimmed`` (its third
paragraph removed); ``gone`` (410); ``login`` (a redirect to a login form);
``elsewhere`` (to a login page of another host); ``moved`` (to a page of another host);
``refresh`` (a page whose meta refresh sends its reader to the login);
``busy`` (503); ``media`` (its photo taken out); ``unavailable`` (a short page saying the
statement is not available). Whatever the phase, every answer carries noise that must
raise nothing: the time of the request in three forms, a view counter that counts, a
rotating ad (text and banner image), a "picture of the day" that rotates, a fresh CSRF
token and nonce; and a live feed no default rule knows (a watch ignores it with
``--ignore .live-feed``). ``/hang`` never answers. ``/scripted`` has its text written by
a script (``edited`` rewords it too). ``/painted`` says the same words every time,
above a large panel that ``repainted`` turns from blue to red, and below it a small
square of another colour on every visit (a badge), a large ad and a large ticker repainted
on every visit (ignored by the default rules and by ``--ignore "#ticker"``, where each
capture's browser found them). ``/w/N`` are plain pages
for the benchmark.
"""

from __future__ import annotations

import itertools
import secrets
import ssl
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PARAGRAPHS = [
    "The ministry confirms that the convoy reached the northern crossing on Tuesday. "
    "Forty-two trucks carried food and medicine for the camps.",
    "Officials said the crossing would stay open for three days. "
    "No incident was reported by the monitors on the ground.",
    "The ministry thanks the volunteers who unloaded the trucks overnight. "
    "Further deliveries are planned before the end of the month.",
]
EDITED = ("Officials said the crossing would stay open for one day only. "
          "No incident was reported by the monitors on the ground.")
ADS = ["Cheap flights to Lisbon!", "Buy two watches, get one free.", "Learn Python in 3 days.",
       "Your dream home awaits."]
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x03\x00\x08\xfc\x02\xfe\xa7"
       b"\x9a\xa0\xa0\x00\x00\x00\x00IEND\xaeB`\x82")
PHASES = ("original", "edited", "trimmed", "gone", "login", "busy", "media", "unavailable",
          "elsewhere", "moved", "refresh")
UNAVAILABLE = (b"<!doctype html><html><head><title>Not available</title></head><body><h1>"
               b"Sorry</h1><p>This statement is no longer available.</p></body></html>")


def statement(phase: str, visit: int, now: datetime) -> bytes:
    paragraphs = list(PARAGRAPHS)
    if phase in ("edited", "trimmed"):
        paragraphs[1] = EDITED
    if phase == "trimmed":
        del paragraphs[2]
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    ad = ADS[visit % len(ADS)]
    return (
        f"<!doctype html><html><head><title>Statement on the convoy</title>"
        f'<meta name="csrf-token" content="{secrets.token_hex(16)}">'
        f'<script nonce="{secrets.token_urlsafe(12)}">var t={now.timestamp()};</script>'
        f"</head><body><header><p>Updated {now:%A, %d %B %Y at %H:%M:%S} UTC</p>"
        f'<p class="meta">Server time {now.isoformat(timespec="seconds")} - '
        f"{1000 + visit * 7:,} views</p></header>"
        f'<div class="ad-banner"><p>{ad}</p><img src="/ads/banner-{visit % 4}.png"></div>'
        f"<article><h1>Statement on the convoy</h1>{body}"
        + ("" if phase == "media" else
           f'<img src="/media/convoy.png?v={visit}" alt="the convoy">')
        + f'</article><aside class="daily"><img src="/media/daily-{visit % 5}.png" '
        f'alt="picture of the day"></aside><div class="live-feed"><p>Live: reader {visit} '
        f"joined the discussion.</p></div>"
        f'<form action="/subscribe" method="post"><input type="hidden" name="csrf" '
        f'value="{secrets.token_urlsafe(24)}"><input name="email"></form>'
        f"<footer><p>Page generated in 0.0{visit % 10}{visit % 7} seconds. "
        f"Request id {secrets.token_hex(12)}.</p></footer></body></html>").encode()


LOGIN = (b"<!doctype html><html><head><title>Sign in</title></head><body><h1>Sign in</h1>"
         b'<form action="/login" method="post"><input name="user"><input type="password" '
         b'name="password"><button>Sign in</button></form></body></html>')


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        site = self.server.site
        path = self.path.split("?", 1)[0]
        site.requests.append(path)
        if path == "/statement":
            visit = next(site.visits)
            if site.phase == "gone":
                self._send(410, b"<html><body><h1>Gone</h1></body></html>")
            elif site.phase == "login":
                self._send(302, b"", location="/login?next=/statement")
            elif site.phase == "elsewhere":  # a login on another host (name)
                port = self.server.server_address[1]
                self._send(302, b"", location=f"http://localhost:{port}/sign-in?next=/statement")
            elif site.phase == "moved":  # another page of another host (name)
                port = self.server.server_address[1]
                self._send(301, b"", location=f"http://localhost:{port}/w/1")
            elif site.phase == "refresh":  # sent to a login by the page itself
                self._send(200, b'<html><head><meta http-equiv="refresh" content="0; '
                           b'url=/login?next=/statement"></head><body>Redirecting...'
                           b"</body></html>")
            elif site.phase == "busy":
                self._send(503, b"<html><body>try again later</body></html>")
            elif site.phase == "unavailable":
                self._send(200, UNAVAILABLE)
            else:
                self._send(200, statement(site.phase, visit, datetime.now(UTC)))
        elif path == "/scripted":  # its text written by a script: only a browser sees it
            said = EDITED if site.phase == "edited" else PARAGRAPHS[1]
            self._send(200, (f"<!doctype html><html><head><title>Scripted</title></head>"
                             f'<body><article id="out"></article><script>document.'
                             f'getElementById("out").innerHTML = "<p>{said}</p>";</script>'
                             f"</body></html>").encode())
        elif path == "/painted":  # the same words; its large panel repainted (``repainted``)
            visit = next(site.visits)
            colour = "#b00020" if site.phase == "repainted" else "#1d4f91"
            self._send(200, (f"<!doctype html><html><head><title>Painted</title><style>"
                             f"body{{margin:0}} #panel{{width:100%;height:900px;"
                             f"background:{colour}}}</style></head><body><p>{PARAGRAPHS[0]}"
                             f'</p><div id="panel"></div><div style="width:48px;height:48px;'
                             f'background:hsl({visit * 67 % 360},70%,50%)"></div>'
                             # a large ad and a ticker, repainted on every visit: left out
                             # of the comparison (an ad by the default rules, the ticker
                             # by the watch's --ignore "#ticker")
                             f'<div class="ad" style="height:300px;background:hsl('
                             f'{visit * 53 % 360},80%,45%)"></div><div id="ticker" '
                             f'style="height:250px;background:hsl({visit * 97 % 360},80%,'
                             f'45%)"></div></body></html>').encode())
        elif path == "/login":
            self._send(200, LOGIN)
        elif path == "/hang":  # a site that never answers
            site.hung.wait(60)
        elif path.startswith(("/ads/", "/media/")):
            self._send(200, PNG, "image/png")
        elif path.startswith("/w/"):
            self._send(200, f"<html><head><title>Page {path[3:]}</title></head><body><p>Page "
                       f"{path[3:]} says the same thing every time.</p></body></html>".encode())
        else:
            self._send(404, b"<html><body>not here</body></html>")

    def _send(self, status: int, body: bytes, kind: str = "text/html; charset=utf-8",
              location: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: ChangingSite


class ChangingSite:
    """The site on 127.0.0.1 in a thread (HTTPS with ``tls``); ``phase`` is one of
    PHASES."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.phase = "original"
        self.visits = itertools.count()
        self.requests: list[str] = []
        self.hung = threading.Event()  # set: /hang lets go of its requests
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.site = self
        if tls is not None:  # (a test swaps the certificate in the context it gave)
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ChangingSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hung.set()
        self._server.shutdown()
        self._server.server_close()
