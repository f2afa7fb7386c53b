"""A members-only site for the logged-in capture tests: ``/login`` sets a session cookie,
``/members`` and what it needs answer only with the session, and each members' answer
renews the cookie, as many sites do.

It also leaks its secrets the ways real sites do, for the tests of what is handed over:
``/account`` sets cookies in a folded ``Set-Cookie`` and in one that joins two cookies
with a comma, and redirects to ``/home?sid=...&visit=...`` (a session id in the URL,
and a token under a name no list knows); ``/home`` echoes the id in its HTML and links
``/data.json?sid=...``, which echoes the session cookie in JSON, and two bodies that
hold the cookie where a reader cuts them: ``/long.txt`` across its first 64 KiB,
``/packed.txt`` only gzipped; a script on ``/home`` writes the session cookie into the
DOM, from text the HTML holds only reversed. ``/private/`` answers only HTTP Basic
authentication with ``user``/``password`` (a seed's ``user:password@``), and links a URL
with credentials of its own and a redirect to another origin.
"""

from __future__ import annotations

import base64
import gzip
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

MEMBERS_TEXT = "Minutes of the closed meeting: the evacuation starts on Thursday."
PRIVATE_TEXT = "Private area: the list of witnesses is kept here."


class MembersSite:
    def __init__(self, media: Path | None = None) -> None:
        self.session = "sess-" + secrets.token_hex(16)
        self.renewed = "renew-" + secrets.token_hex(16)
        self.sid = "sid" + secrets.token_hex(12)
        self.visit = "v" + secrets.token_hex(10)
        self.track = "track-" + secrets.token_hex(10)
        self.folded = "fold-" + secrets.token_hex(10)
        self.user, self.password = "archivist", "pw-" + secrets.token_hex(8)
        self.link_password = "linkpw-" + secrets.token_hex(6)
        self.clip = (media / "clip.mp4").read_bytes() if media else b""
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                cookie = self.headers.get("Cookie") or ""
                allowed = f"session={site.session}" in cookie or \
                    f"session={site.renewed}" in cookie
                path = urlsplit(self.path).path
                query = parse_qs(urlsplit(self.path).query)
                if path == "/login":
                    self._send(200, b"<html><body>welcome</body></html>", "text/html",
                               [("Set-Cookie", f"session={site.session}; Path=/; HttpOnly")])
                elif path.startswith("/private"):
                    self._private(path)
                elif not allowed:
                    self._send(403, b"<html><body>members only</body></html>", "text/html")
                elif path == "/members":
                    body = (f"<!doctype html><html lang=en><head><title>Members</title></head>"
                            f"<body><article><h1>Closed group</h1><p>{MEMBERS_TEXT}</p>"
                            '<img src="/members/badge.png"><video src="/members/clip.mp4">'
                            "</video></article></body></html>").encode()
                    self._send(200, body, "text/html",
                               [("Set-Cookie", f"session={site.renewed}; Path=/; HttpOnly")])
                elif path == "/members/clip.mp4":
                    self._send(200, site.clip, "video/mp4")
                elif path == "/account":
                    self._send(302, b"", "text/html", [
                        ("Location", f"/home?sid={site.sid}&visit={site.visit}"),
                        ("Set-Cookie", f"pref=dark; Path=/, track={site.track}; Path=/; "
                                       "Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
                        ("Set-Cookie", f"\r\n folded={site.folded};\r\n Path=/")])
                elif path == "/home" and query.get("sid") == [site.sid]:
                    self._send(200, site.home().encode(), "text/html; charset=utf-8")
                elif path == "/long.txt":  # the cookie from byte 65530 to 65566
                    self._send(200, b"x" * 65530 + site.session.encode() + b" end",
                               "text/plain")
                elif path == "/packed.txt":
                    self._send(200, gzip.compress(f"session {site.session}".encode()),
                               "text/plain", [("Content-Encoding", "gzip")])
                elif path == "/data.json" and query.get("sid") == [site.sid]:
                    self._send(200, json.dumps({"user": site.user, "session": site.session,
                                                "sid": site.sid}).encode(), "application/json")
                else:
                    self._send(404, b"not here", "text/plain")

            def _private(self, path: str) -> None:
                login = base64.b64encode(f"{site.user}:{site.password}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {login}":
                    self._send(401, b"who are you?", "text/plain",
                               [("WWW-Authenticate", 'Basic realm="private"')])
                elif path == "/private/":
                    host = self.headers.get("Host") or ""
                    body = (f"<!doctype html><html lang=en><head><title>Private</title></head>"
                            f"<body><article><h1>Private</h1><p>{PRIVATE_TEXT}</p>"
                            f'<a href="http://someone:{site.link_password}@{host}/private/'
                            f'linked">linked</a> <a href="/private/away">away</a>'
                            "</article></body></html>").encode()
                    self._send(200, body, "text/html; charset=utf-8")
                elif path == "/private/away":  # to another origin: no login goes there
                    port = (self.headers.get("Host") or "").rpartition(":")[2]
                    self._send(302, b"", "text/plain",
                               [("Location", f"http://localhost:{port}/private/elsewhere")])
                else:
                    self._send(200, f"<html><body>{path}</body></html>".encode(), "text/html")

            def _send(self, status: int, body: bytes, ctype: str,
                      extra: list[tuple[str, str]] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra or []:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def home(self) -> str:
        """The page the redirect leads to: the URL's session id in its text and links,
        and the session cookie put into the DOM by a script, reversed in the HTML."""
        hidden = self.session[::-1]
        return ("<!doctype html><html lang=en><head><title>Home</title></head><body>"
                f"<article><h1>Welcome back</h1><p>Your session number is {self.sid}.</p>"
                f'<p><a href="/data.json?sid={self.sid}">your data</a> '
                '<a href="/long.txt">long</a> <a href="/packed.txt">packed</a></p>'
                '<p id="key">loading</p></article><script>document.getElementById("key")'
                f'.textContent = "Session key: " + "{hidden}".split("").reverse().join("");'
                "</script></body></html>")

    def secrets(self) -> dict[str, str]:
        """Each secret the site hands out, by what it is."""
        return {"session": self.session, "renewed": self.renewed, "sid": self.sid,
                "visit": self.visit,
                "track": self.track, "folded": self.folded, "password": self.password}

    def cookies_txt(self, path: Path) -> Path:
        """The session as a browser extension exports it (Netscape cookies.txt)."""
        path.write_text("# Netscape HTTP Cookie File\n"
                        f"#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\t{self.session}\n")
        return path

    def __enter__(self) -> MembersSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
