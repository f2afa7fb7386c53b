"""What the server sends, passed on to the browser (or yt-dlp) by the recording proxy
as it comes: the head once it is whole, then each piece of the body as the fetch reads
it from the server, its framing as it was (chunks, Content-Length, compression). The
browser starts on a page, and yt-dlp on a video, while the rest is still arriving, as
through any proxy; the fetch records the same bytes into the WARC meanwhile.

Only the connection fields of the head are custody's own (``Connection: keep-alive``
or ``close``), and, headless, a site's challenge to log in is not passed on (a login the
archivist gave custody goes with each request to its site already). When the head
cannot be passed on as it comes (an interim 1xx answer, a head that is no HTTP), the
answer is passed on whole once fetched, as before; when the fetch failed before any
answer, the browser gets custody's 502. A browser that goes away meanwhile does not stop
the fetch: the server's answer is still recorded whole.
"""

from __future__ import annotations

from typing import BinaryIO

from ..capture.fetch import Exchange
from ..warc.http_head import wire_end
from ..warc.payload import split_head

MAX_HEAD = 64 * 1024  # an answer's head longer than this is passed on once fetched
_COPY = 256 * 1024
_NO_BODY = frozenset({204, 304})
_CONNECTION = frozenset({b"connection", b"keep-alive", b"proxy-connection"})
_CHALLENGES = frozenset({b"www-authenticate", b"proxy-authenticate"})
# a site's 407 reaches a browser through a proxy as the proxy's own challenge, and a
# browser failing it then fails the page's other requests too: it gets an empty 502, a
# failed load, as a browser without a proxy fails a site's 407 (the WARC keeps the
# site's answer)
_SITES_407 = 407


class Relay:
    """Given each piece the server sends (``__call__``, from the fetch's thread); then
    ``finish`` with the exchange: whether the browser's connection can carry another."""

    def __init__(self, wfile: BinaryIO, *, head_only: bool, most: int | None,
                 challenges: bool = False) -> None:
        self.wfile = wfile
        self.head_only = head_only
        self.challenges = challenges  # passed on: a person is there to answer them
        self.most = most  # body bytes passed on at most (--max-bytes: what is recorded)
        self.head = bytearray()
        self.sent = False  # the head was passed on: the body follows as it comes
        self.whole = False  # passed on once fetched, whole
        self.gone = False  # the browser's side closed
        self.keep = False
        self.no_body = False
        self.body = 0

    def __call__(self, data: bytes) -> None:
        if self.whole or self.gone:
            return
        try:
            if self.sent:
                self._body(data)
                return
            searched = max(0, len(self.head) - 2)  # an end may begin in the last piece
            self.head += data
            end = wire_end(self.head, searched)
            if end is None:
                self.whole = len(self.head) > MAX_HEAD
                return
            parsed = split_head(bytes(self.head[:end]), wire=True)
            if parsed is None or (parsed[0] or 0) < 200 or parsed[0] == _SITES_407:
                self.whole = True
                return
            status, headers, _ = parsed
            framed = any(k.lower() == "content-length" for k, _ in headers) or \
                "chunked" in (_field(headers, "transfer-encoding") or "").lower()
            self.no_body = self.head_only or status in _NO_BODY
            self.keep = framed or self.no_body
            self.wfile.write(_for_browser(bytes(self.head[:end]), self.keep, self.challenges))
            self.sent = True
            self._body(bytes(self.head[end:]))
            self.head = bytearray()
        except OSError:
            self.gone = True

    def _body(self, data: bytes) -> None:
        if self.no_body or not data:
            self.wfile.flush()
            return
        if self.most is not None:
            data = data[:max(0, self.most - self.body)]
        self.body += len(data)
        if data:
            self.wfile.write(data)
        self.wfile.flush()

    def finish(self, exchange: Exchange) -> bool:
        if not self.sent:
            return whole(self.wfile, exchange, head_only=self.head_only,
                         challenges=self.challenges)
        if self.gone:
            return False
        try:
            self.wfile.flush()
        except OSError:
            return False
        return self.keep and exchange.ok and not exchange.truncated


def whole(wfile: BinaryIO, exchange: Exchange, *, head_only: bool,
          challenges: bool = False) -> bool:
    """Pass what the server sent on to the browser once fetched, its framing as it was,
    less any interim (1xx) answers before it (a browser waits for the final one);
    whether the browser's connection can carry another request."""
    spool = exchange.response
    if not exchange.ok or spool is None or exchange.not_http:
        reply(wfile, 502, f"custody could not fetch this: {exchange.error or 'no response'}")
        return False
    spool.seek(0)
    start = spool.read(min(exchange.response_size, MAX_HEAD))
    at = 0
    while (parsed := split_head(start[at:], wire=True)) is not None and \
            100 <= (parsed[0] or 0) < 200 and parsed[0] != 101:
        at = len(start) - len(parsed[2])  # an interim answer: the final one follows
    if parsed is None:
        reply(wfile, 502, "the server's answer has no readable HTTP head")
        return False
    status, headers, rest = parsed
    if status == _SITES_407:  # a failed load, with nothing of custody's in the page
        wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n")
        wfile.flush()
        return False
    end = len(start) - len(rest)
    framed = any(k.lower() == "content-length" for k, _ in headers) or \
        "chunked" in (_field(headers, "transfer-encoding") or "").lower()
    no_body = head_only or status in _NO_BODY or (status or 0) < 200
    keep = (framed or no_body) and not exchange.truncated
    wfile.write(_for_browser(start[at:end], keep, challenges))
    if not no_body:
        spool.seek(end)
        while chunk := spool.read(_COPY):
            wfile.write(chunk)
    wfile.flush()
    spool.seek(0)
    return keep


def _for_browser(head: bytes, keep: bool, challenges: bool) -> bytes:
    """The head (its lines ended by CRLF or LF, and an empty line) for the browser, its
    lines ended by CRLF: its connection fields custody's own, and, unless ``challenges``,
    no challenge to log in. Headless, nobody can answer one: the browser would wait on a
    prompt nobody sees until the page's time ran out, then show what a person sees who
    cancels it, the answer as sent, which it now shows at once. A field's continuation
    lines (which begin with white space) go or stay with it."""
    dropped = _CONNECTION if challenges else _CONNECTION | _CHALLENGES
    lines = [line.rstrip(b"\r") for line in head.split(b"\n")[:-2]]
    kept = [lines[0]]
    dropping = False
    for line in lines[1:]:
        if line[:1] not in (b" ", b"\t"):
            dropping = line.split(b":", 1)[0].strip().lower() in dropped
        if not dropping:
            kept.append(line)
    kept.append(b"Connection: keep-alive" if keep else b"Connection: close")
    return b"\r\n".join(kept) + b"\r\n\r\n"


def reply(wfile: BinaryIO, status: int, text: str,
          headers: list[tuple[str, str]] | None = None) -> None:
    """custody's own answer to the browser: ``text``, and the connection closed."""
    body = (text + "\n").encode("utf-8")
    head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
            "Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(body)}",
            "Connection: close", *(f"{k}: {v}" for k, v in headers or [])]
    wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    wfile.flush()


_REASONS = {400: "Bad Request", 407: "Proxy Authentication Required", 501: "Not Implemented",
            502: "Bad Gateway", 503: "Service Unavailable"}


def _field(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)
