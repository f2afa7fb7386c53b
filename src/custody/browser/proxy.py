"""The recording proxy: every request the browser makes, fetched by custody's own recorder.

Chromium is pointed at this proxy (loopback, a random port) and reaches nothing else.
Each request -- plain HTTP in absolute form, or HTTPS inside a CONNECT tunnel whose TLS
the proxy ends with the capture's own certificate (ca.py) -- is fetched upstream by
capture's Fetcher, so that its WARC records hold the bytes as they crossed the wire,
the server's address and its certificate chain, behind the same address guard as any
capture; what the server sent is then passed to the browser. The proxy serves only the
browser custody started: every request (or tunnel) must carry Basic proxy credentials
whose password is a secret made for the capture, and whose user names the visit (the
page being loaded) that its exchange belongs to.
"""

from __future__ import annotations

import base64
import secrets
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..capture import recorder
from ..capture.fetch import Exchange, Fetcher
from ..core.fields import byte_count
from ..core.urls import check_url
from ..warc.payload import BodyDecoder
from .ca import CaptureCA
from .relay import Relay, reply

MAX_HEAD = 64 * 1024  # a request head longer than this is refused
MAX_REQUEST_BODY = 64 * 1024 * 1024
_COPY = 256 * 1024


@dataclass
class Seen:
    """One request the browser made, and what came of it."""

    exchange: Exchange
    navigation: bool  # a document the browser navigated to (a page or a frame)
    frame: str  # Sec-Fetch-Dest: document, iframe, script, image...
    prefetch: bool = False  # fetched ahead (Sec-Purpose: prefetch), not used by the page
    page: str = ""  # the page whose visit made the request
    own: bool = False  # the browser's own request, no page's (an interactive session's)


@dataclass
class Visit:
    """What one page's loading asked of the proxy."""

    page: str = ""
    seen: list[Seen] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # requests not fetched, and why
    inflight: list[str] = field(default_factory=list)  # URLs being fetched now
    closed: bool = False


class RecordingProxy:
    def __init__(self, fetcher: Fetcher, ca: CaptureCA, *, challenges: bool = False) -> None:
        self.fetcher = fetcher
        self.ca = ca
        self.challenges = challenges  # a site's challenges to log in passed on (relay.py)
        self.secret = secrets.token_urlsafe(24)
        self._visits: dict[str, Visit] = {}
        self._late: list[Seen] = []  # fetches that ended after their visit was closed
        self._active = 0  # fetches under way, of all visits
        self._stopping = False  # stop_new: nothing more is fetched
        self._lock = threading.Condition()
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                proxy.serve_connection(self.connection, self.rfile, self.wfile)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        # serve_forever looks for shutdown() every poll_interval: at its default (0.5 s)
        # closing the proxy kept each capture waiting up to half a second for nothing
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True, name="custody-proxy")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RecordingProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- visits ---------------------------------------------------------------------------

    def open_visit(self, page: str = "") -> str:
        visit_id = secrets.token_hex(8)
        with self._lock:
            self._visits[visit_id] = Visit(page)
        return visit_id

    def close_visit(self, visit_id: str, *, grace: float = 2.0) -> Visit:
        """The visit's requests, once those still being fetched are done (up to ``grace``
        seconds). Fetches still under way then are named in ``inflight``, and handed over
        by ``take_late`` when they end; new requests of the visit are refused."""
        deadline = time.monotonic() + grace
        with self._lock:
            visit = self._visits[visit_id]
            while visit.inflight and time.monotonic() < deadline:
                self._lock.wait(max(0.0, deadline - time.monotonic()))
            visit.closed = True
            del self._visits[visit_id]
            visit.inflight = list(visit.inflight)
        return visit

    def take_seen(self, visit_id: str, *, refused: bool = True
                  ) -> tuple[list[Seen], list[str]]:
        """The requests of a visit still open that ended since the last call, and those
        refused (left for close_visit when ``refused`` is false): a session that lasts
        (archive --interactive), or a download (--media), hands them on as it goes."""
        with self._lock:
            visit = self._visits.get(visit_id)
            if visit is None:  # closed: close_visit gave the rest
                return [], []
            seen, visit.seen = visit.seen, []
            said: list[str] = []
            if refused:
                said, visit.refused = visit.refused, []
        return seen, said

    def take_late(self) -> list[Seen]:
        """Fetches that ended after their visit was closed, each once."""
        with self._lock:
            late, self._late = self._late, []
        return late

    @property
    def fetching(self) -> int:
        """Fetches under way, of every visit."""
        with self._lock:
            return self._active

    def _visit_of(self, authorization: str | None) -> str | None:
        if not authorization or not authorization.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(authorization[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if not secrets.compare_digest(password, self.secret):
            return None
        with self._lock:
            return user if user in self._visits else None

    # -- serving a connection ------------------------------------------------------------

    def serve_connection(self, conn: socket.socket, rfile: Any, wfile: Any) -> None:
        conn.settimeout(300)
        try:
            request = _read_head(rfile)
            if request is None:
                return
            method, target, headers = request
            visit_id = self._visit_of(_field(headers, "proxy-authorization"))
            if visit_id is None:
                reply(wfile, 407, "custody's recording proxy serves only its own browser",
                       [("Proxy-Authenticate", 'Basic realm="custody"')])
                return
            if method == "CONNECT":
                self._tunnel(conn, rfile, wfile, target, visit_id)
                return
            while request is not None:
                method, target, headers = request
                keep = self._one(rfile, wfile, method, target, headers, visit_id, None)
                if not keep:
                    return
                request = _read_head(rfile)
                if request is not None and self._visit_of(
                        _field(request[2], "proxy-authorization")) != visit_id:
                    return
        except (OSError, ValueError):
            return

    def _tunnel(self, conn: socket.socket, rfile: BinaryIO, wfile: BinaryIO, target: str,
                visit_id: str) -> None:
        """A CONNECT: TLS ended here with the capture's certificate for the host, or, when
        what comes first is not a TLS handshake (a ws:// WebSocket), plain HTTP."""
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        wfile.flush()
        first = conn.recv(1, socket.MSG_PEEK)
        if not first:
            return
        if first != b"\x16":  # not a TLS record: HTTP in the clear, through the tunnel
            default = "80"
            tls = None
            inner_r, inner_w = rfile, wfile
        else:
            default = "443"
            try:
                tls = self.ca.context_for(host).wrap_socket(conn, server_side=True)
            except (OSError, ValueError):
                return
            inner_r, inner_w = tls.makefile("rb"), tls.makefile("wb")
        bracketed = f"[{host}]" if ":" in host else host
        origin = bracketed if port in ("", default) else f"{bracketed}:{port}"
        origin = ("https://" if tls is not None else "http://") + origin
        try:
            while (request := _read_head(inner_r)) is not None:
                method, path, headers = request
                if not self._one(inner_r, inner_w, method, path, headers, visit_id, origin):
                    return
        except (OSError, ValueError):
            return
        finally:
            if tls is not None:
                tls.close()

    def _one(self, rfile: BinaryIO, wfile: BinaryIO, method: str, target: str,
             headers: list[tuple[str, str]], visit_id: str, origin: str | None) -> bool:
        """Fetch one request upstream and answer the browser; whether the connection
        can carry another."""
        url = target if origin is None else origin + target
        try:
            body = _read_body(rfile, headers)
        except ValueError as exc:  # a length that is no length: answered, and noted
            self._refuse(visit_id, f"{url}: {exc}")
            reply(wfile, 400, f"not fetched: {exc}")
            return False
        dest = _field(headers, "sec-fetch-dest") or ""
        navigation = _field(headers, "sec-fetch-mode") == "navigate"
        prefetch = "prefetch" in (_field(headers, "sec-purpose") or _field(headers, "purpose")
                                  or "").lower()
        if _field(headers, "upgrade"):
            self._refuse(visit_id, f"{url}: a WebSocket or other upgrade, which custody does "
                                   "not record")
            reply(wfile, 501, "custody does not record WebSockets")
            return False
        try:
            url = check_url(url)
        except ValueError as exc:
            self._refuse(visit_id, f"{url}: {exc}")
            reply(wfile, 400, f"not fetched: {exc}")
            return False
        visit = self._begin(visit_id, url)
        if visit is None:
            reply(wfile, 503, "the capture is stopping" if self._stopping
                  else "the page's visit is over")
            return False
        seen = None
        relay = Relay(wfile, head_only=method == "HEAD", most=self.fetcher.max_body,
                      challenges=self.challenges)
        try:
            recorder.tap(relay)  # passed on as it comes, while it is recorded
            try:
                exchange = self.fetcher.fetch(url, method=method, headers=headers, body=body)
            finally:
                recorder.tap(None)
            seen = Seen(exchange, navigation, dest, prefetch, visit.page)
            return relay.finish(exchange)
        finally:
            self._end(visit, url, seen)

    def stop_new(self) -> None:
        """Fetch nothing more for anyone: the capture is stopping."""
        with self._lock:
            self._stopping = True

    def _begin(self, visit_id: str, url: str) -> Visit | None:
        with self._lock:
            visit = self._visits.get(visit_id)
            if visit is None or visit.closed or self._stopping:
                return None
            visit.inflight.append(url)
            self._active += 1
            return visit

    def _end(self, visit: Visit, url: str, seen: Seen | None) -> None:
        with self._lock:
            self._active -= 1
            if not visit.closed:
                visit.inflight.remove(url)
                if seen is not None:
                    visit.seen.append(seen)
            elif seen is not None:
                self._late.append(seen)  # the capture stores it when it asks for it
            self._lock.notify_all()

    def _refuse(self, visit_id: str, why: str) -> None:
        with self._lock:
            visit = self._visits.get(visit_id)
            if visit is not None:
                visit.refused.append(why)


# -- HTTP/1.1 on the browser's side --------------------------------------------------------


def _read_head(rfile: BinaryIO) -> tuple[str, str, list[tuple[str, str]]] | None:
    lines: list[bytes] = []
    size = 0
    while True:
        line = rfile.readline(MAX_HEAD + 1)
        if not line:
            return None
        size += len(line)
        if size > MAX_HEAD:
            raise ValueError("request head too long")
        if line in (b"\r\n", b"\n"):
            if not lines:
                continue
            break
        lines.append(line.rstrip(b"\r\n"))
    parts = lines[0].decode("latin-1").split(" ")
    if len(parts) != 3:
        raise ValueError("not an HTTP request line")
    headers = []
    for raw in lines[1:]:
        name, sep, value = raw.decode("latin-1").partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    return parts[0].upper(), parts[1], headers


def _field(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def _read_body(rfile: BinaryIO, headers: list[tuple[str, str]]) -> bytes:
    if "chunked" in (_field(headers, "transfer-encoding") or "").lower():
        decoder = BodyDecoder(chunked=True, encoding="", limit=MAX_REQUEST_BODY)
        while not decoder.complete and not decoder.done:
            line = rfile.readline(_COPY)
            if not line:
                break
            decoder.feed(line)
        return decoder.finish().body()
    given = _field(headers, "content-length")
    length = 0 if given is None else byte_count(given)
    if length is None:
        raise ValueError(f"Content-Length {str(given)[:40]!r} is not a number of bytes")
    if length > MAX_REQUEST_BODY:
        raise ValueError("request body too large")
    return rfile.read(length) if length else b""
