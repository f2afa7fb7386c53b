"""The recording HTTP client: the exact bytes that crossed the wire, the IP, the TLS chain.

httpx decodes and normalises what it hands back, so custody records one layer
below it: a httpcore network backend whose streams keep a copy of every byte
written and read. After TLS is set up the copy is of the plaintext HTTP bytes,
which is what a WARC ``request``/``response`` record holds; recorder.py says how each
exchange on a kept-alive connection gets its own bytes, and why a connection on which a
server sent more than its answer is not used again.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import IO, Any
from urllib.parse import urlsplit

import httpcore

from ..core import cookies as cookie_jar
from ..core.fields import byte_count
from ..warc.http_head import wire_end
from . import recorder
from .guard import AddressGuard, Blocked
from .headers import Headers

ENTITY_LIMIT = 4 * 1024 * 1024  # HTML and CSS bodies kept in memory for their links
LINKED_TYPES = ("text/html", "application/xhtml+xml", "text/css")
ACCEPT_ENCODING = "gzip, deflate"  # only what extraction can decode again
# header fields of one connection, not passed on from a browser's request (RFC 9110 7.6.1)
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "transfer-encoding", "upgrade", "proxy-authenticate"})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})  # RFC 9110 9.2.2

@dataclass
class Exchange:
    """One HTTP request and what came back, or why nothing did."""

    url: str
    method: str = "GET"
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    request_bytes: bytes = b""
    response: IO[bytes] | None = None  # raw response bytes as received, spooled
    response_size: int = 0
    status: int | None = None
    headers: Headers = field(default_factory=Headers)
    ip: str | None = None
    port: int | None = None
    tls_chain: list[bytes] = field(default_factory=list)  # DER, as the server sent it
    tls_version: str | None = None
    tls_cipher: str | None = None
    truncated: str | None = None  # WARC-Truncated reason: "length" or "time"
    entity: bytes | None = None  # de-chunked body of an HTML or CSS response, for its links
    error_kind: str | None = None  # dns, refused, timeout, tls, protocol, network
    error: str | None = None
    not_http: bool = False  # the bytes in ``response`` are not an HTTP response
    stopped: bool = False  # cut short because the capture was stopped (Ctrl-C, SIGTERM)
    elapsed: float = 0.0
    unanswered_on_reused: bool = False  # failed on a kept-alive connection before an answer

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def close(self) -> None:
        if self.response is not None:
            self.response.close()
            self.response = None


class LazyContext:
    """The TLS context, made when a connection first needs it: loading the trust store
    takes 30-60 ms, which a capture of http pages never needs. httpcore only asks a
    context's attributes, when it starts TLS, so this stands in for one until then."""

    def __init__(self, ca_bundle: str | None, insecure: bool) -> None:
        self._args = (ca_bundle, insecure)
        self._real: ssl.SSLContext | None = None

    @property
    def real(self) -> ssl.SSLContext:
        if self._real is None:
            self._real = ssl_context(ca_bundle=self._args[0], insecure=self._args[1])
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def ssl_context(*, ca_bundle: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    if insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    # as httpx would make it (its create_ssl_context): SSL_CERT_FILE or SSL_CERT_DIR
    # when set, else certifi's roots
    import certifi

    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    return ssl.create_default_context(cafile=certifi.where())


class Fetcher:
    """Fetch URLs one exchange at a time (no redirects followed: each hop is evidence).

    Requests go through httpcore's ConnectionPool with custody's recording network
    backend (httpcore's public seam for one), not through httpx's client: httpx reads and
    judges what it hands back (a redirect's Location, say) and raises on what it dislikes,
    and an evidence recorder must keep whatever a server sent.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        timeout: float = 30.0,
        max_body: int | None = None,
        ca_bundle: str | None = None,
        insecure: bool = False,
        max_connections: int = 16,
        guard: AddressGuard | None = None,
        cookies: Any = None,
    ) -> None:
        """``cookies``: the archivist's session (core.cookies.Session): its cookies sent
        with custody's own requests (a browser's or yt-dlp's, passed on by the proxy,
        carry their own), its logins with every request to their origins."""
        self.timeout = timeout
        self.abort_at = float("inf")
        self.max_body = max_body
        self.user_agent = user_agent
        self._config: dict[str, Any] = {
            "user_agent": user_agent, "timeout": timeout, "ca_bundle": ca_bundle,
            "insecure": insecure, "max_connections": max_connections, "guard": guard,
            "cookies": cookies}
        self.cookies = cookies
        self._context: Any = LazyContext(ca_bundle, insecure)
        self._backend = recorder.RecordingBackend(guard)
        self._pool = self._new_pool(max_connections)

    def _new_pool(self, connections: int) -> httpcore.ConnectionPool:
        return httpcore.ConnectionPool(
            ssl_context=self._context,
            max_connections=connections,
            max_keepalive_connections=connections,
            http1=True,
            http2=False,
            retries=0,
            network_backend=self._backend,
        )

    def sibling(self, *, max_body: int | None) -> Fetcher:
        """A fetcher like this one (its trust, timeouts and address guard) with its own
        connections and its own bound on a body."""
        return Fetcher(**self._config, max_body=max_body)

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def abort(self, *, after: float) -> None:
        """Cut every exchange in flight, and any later one, ``after`` seconds from now: what
        each received by then is kept, as truncated."""
        self.abort_at = min(self.abort_at, time.monotonic() + after)

    def _request(self, url: str, given: list[tuple[str, str]] | None, referer: str | None = None
                 ) -> tuple[httpcore.URL, list[tuple[bytes, bytes]]]:
        """The request's URL and header fields: custody's own, or those a browser sent
        (``given``), less what belongs to one hop only and with the encodings custody can
        decode again for extraction."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_field = (b"Host", parts.netloc.rpartition("@")[2].encode("ascii"))
        if given is None:
            headers = [host_field, (b"User-Agent", self.user_agent.encode("utf-8")),
                       (b"Accept", b"*/*"), (b"Accept-Encoding", ACCEPT_ENCODING.encode()),
                       (b"Connection", b"keep-alive")]
            if referer:
                headers.append((b"Referer", referer.encode("ascii", errors="replace")))
            sent = cookie_jar.header_for(self.cookies, url) if self.cookies is not None else None
            if sent:
                headers.append((b"Cookie", sent.encode("latin-1", errors="replace")))
        else:
            headers = [host_field]
            for name, value in given:
                lowered = name.lower()
                if lowered in HOP_BY_HOP or lowered in ("host", "accept-encoding"):
                    continue
                headers.append((name.encode("latin-1"), value.encode("latin-1")))
            headers.append((b"Accept-Encoding", ACCEPT_ENCODING.encode()))
        # a seed's user:password@, for its origin: unless the request carries its own
        login = self.cookies.authorization(url) if self.cookies is not None else None
        if login and not any(name.lower() == b"authorization" for name, _ in headers):
            headers.append((b"Authorization", login.encode("ascii")))
        return httpcore.URL(scheme=parts.scheme.encode("ascii"), host=host.encode("ascii"),
                            port=parts.port, target=target.encode("ascii")), headers

    def fetch(self, url: str, *, method: str = "GET",
              headers: list[tuple[str, str]] | None = None, body: bytes = b"",
              referer: str | None = None) -> Exchange:
        """One exchange; it never raises: what went wrong is the exchange's error, and
        whatever bytes came back are kept, HTTP or not. ``headers`` and ``body`` are a
        browser's request, passed on by the recording proxy; ``referer``, the page a
        crawled URL was found on (as a browser sends it).

        A request of an idempotent method (RFC 9110 9.2.2: GET, HEAD...) sent on a
        kept-alive connection that the server had closed meanwhile (it closes after each
        answer without saying so, or its idle time ran out as the request left) fails
        before any byte of an answer: it is sent again, once, on a new connection of its
        own, within the same time. The server never answered it, so nothing of it is
        evidence; the exchange is the one that was answered. A POST is not sent again:
        the server may have acted on it."""
        start = time.monotonic()
        deadline = recorder.Deadline(self.timeout, lambda: self.abort_at)
        exchange = self._once(self._pool, deadline, url, method, headers, body, referer)
        if exchange.unanswered_on_reused and method.upper() in IDEMPOTENT:
            with self._new_pool(1) as fresh:
                exchange = self._once(fresh, deadline, url, method, headers, body, referer)
        exchange.elapsed = time.monotonic() - start
        return exchange

    def _once(self, pool: httpcore.ConnectionPool, deadline: recorder.Deadline, url: str,
              method: str, headers: list[tuple[str, str]] | None, body: bytes,
              referer: str | None) -> Exchange:
        exchange = Exchange(url=url, method=method)
        recorder.begin(deadline)
        response: httpcore.Response | None = None
        timeouts = {"connect": self.timeout, "read": self.timeout, "write": self.timeout,
                    "pool": self.timeout}
        try:
            target, fields = self._request(url, headers, referer)
            with pool.stream(method, target, headers=fields, content=body or None,
                                   extensions={"timeout": timeouts}) as response:
                exchange.status = response.status
                exchange.headers = Headers(response.headers)
                if self.cookies is not None and headers is None:
                    cookie_jar.take_set_cookie(self.cookies, url, exchange.headers.multi_items())
                received = 0
                keep = exchange.content_type in LINKED_TYPES
                entity: list[bytes] = []
                for chunk in response.iter_stream():
                    received += len(chunk)
                    if keep and received <= ENTITY_LIMIT:
                        entity.append(chunk)
                    if self.max_body is not None and received > self.max_body:
                        exchange.truncated = "length"
                        break
                if keep and received <= ENTITY_LIMIT and not exchange.truncated:
                    exchange.entity = b"".join(entity)
                self._take(exchange, response)
        except Exception as exc:  # a capture never stops for one exchange
            exchange.error_kind, exchange.error = classify(exc)
            if response is not None and exchange.status is not None:
                # headers arrived, then the body failed: keep what came as truncated evidence
                self._take(exchange, response)
                if exchange.response is not None:
                    stopped = self.abort_at <= time.monotonic()
                    exchange.truncated = exchange.truncated or (
                        "unspecified" if stopped else
                        "time" if exchange.error_kind == "timeout" else "disconnect"
                    )
                    exchange.error_kind = exchange.error = None
            else:
                self._keep_reply(exchange)
        finally:
            recorder.end()
        if exchange.truncated == "unspecified" or (
                exchange.error_kind == "timeout" and self.abort_at <= time.monotonic()):
            exchange.stopped = True
        if exchange.truncated == "length" and self.max_body is not None:
            _cut_body(exchange, self.max_body)
        return exchange

    @staticmethod
    def _keep_reply(exchange: Exchange) -> None:
        """Bytes that came back but are not a usable HTTP response (HTTP/0.9, a status
        line cut short, another protocol): kept, as evidence of what the server sent."""
        recording = recorder.take()
        if recording is None:
            return
        exchange.request_bytes = bytes(recording.tx)
        exchange.unanswered_on_reused = recording.reused and not recording.rx_size \
            and exchange.error_kind in ("protocol", "network")
        if recording.rx_size:
            recording.rx.seek(0)
            exchange.response = recording.rx
            exchange.response_size = recording.rx_size
            exchange.not_http = True
        else:
            recording.rx.close()

    def _take(self, exchange: Exchange, response: httpcore.Response) -> None:
        stream = response.extensions.get("network_stream")
        if not isinstance(stream, recorder.RecordingStream):
            return
        recording = recorder.take()
        if stream.server_addr:
            exchange.ip, exchange.port = stream.server_addr
        exchange.tls_chain = stream.tls_chain
        exchange.tls_version = stream.tls_version
        exchange.tls_cipher = stream.tls_cipher
        stream.spoilt = stream.spoilt or recorder.sent_past_answer(response) > 0
        if recording is None:
            return
        exchange.request_bytes = bytes(recording.tx)
        recording.rx.seek(0)
        exchange.response = recording.rx
        exchange.response_size = recording.rx_size


def _cut_body(exchange: Exchange, max_body: int) -> None:
    """Keep the header block and the first ``max_body`` bytes of the body as sent."""
    stream = exchange.response
    if stream is None:
        return
    stream.seek(0)
    head = stream.read(min(exchange.response_size, 256 * 1024))
    end = wire_end(head)  # the body as it was read
    if end is None:
        return
    keep = min(exchange.response_size, end + max_body)
    stream.seek(keep)
    stream.truncate()
    stream.seek(0)
    exchange.response_size = keep


def classify(exc: BaseException) -> tuple[str, str]:
    """A failure's kind and a one-line reason, from the exception chain."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    for item in seen:
        if isinstance(item, Blocked):
            return "blocked", str(item)
        if isinstance(item, socket.gaierror):
            return "dns", f"host name does not resolve ({item.strerror or item})"
        if isinstance(item, ssl.SSLCertVerificationError):
            return "tls", f"TLS certificate rejected ({item.verify_message or item.reason})"
        if isinstance(item, ssl.SSLError):
            return "tls", f"TLS failure ({item.reason or item})"
        if isinstance(item, ConnectionRefusedError):
            return "refused", "connection refused"
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, httpcore.TimeoutException):
        return "timeout", f"timed out: {text}" if str(exc) and "timed out" not in text \
            else f"timed out ({exc.__class__.__name__})"
    lowered = text.lower()
    if "name or service not known" in lowered or "name resolution" in lowered:
        return "dns", f"host name does not resolve ({text})"
    if "certificate" in lowered or "ssl" in lowered:
        return "tls", f"TLS failure ({text})"
    if "refused" in lowered:
        return "refused", "connection refused"
    if isinstance(exc, httpcore.RemoteProtocolError | httpcore.LocalProtocolError):
        return "protocol", f"server broke the HTTP protocol ({text})"
    if isinstance(exc, httpcore.NetworkError):
        return "network", text
    if isinstance(exc, httpcore.UnsupportedProtocol | ValueError):
        return "invalid-url", f"invalid URL ({text})"
    return "error", f"{exc.__class__.__name__}: {text}"


def retry_after(value: str | None, attempt: int) -> float:
    """Seconds to wait: the server's Retry-After when given, else exponential backoff."""
    if value:
        seconds = byte_count(value)
        if seconds is not None:
            return float(seconds)
        try:
            when = parsedate_to_datetime(value.strip())
            return max(0.0, when.timestamp() - time.time())
        except (TypeError, ValueError, IndexError, OverflowError):  # junk, or no real date
            pass
    return min(0.5 * 2**attempt, 30.0)
