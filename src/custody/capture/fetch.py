"""The recording HTTP client: the exact bytes that crossed the wire, the IP, the TLS chain.

httpx decodes and normalises what it hands back, so custody records one layer
below it: a httpcore network backend whose streams keep a copy of every byte
written and read. After TLS is set up the copy is of the plaintext HTTP bytes,
which is what a WARC ``request``/``response`` record holds.

A keep-alive connection serves many exchanges, one at a time, and may pass from
one worker thread to another the moment a response has been read. With the sync
backend the thread that writes a request is the thread that reads its response,
so each exchange's recording starts at its first write and is handed to that
thread (a thread-local), never looked up on the shared connection afterwards.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import urlsplit

import httpcore
import httpx

from .guard import AddressGuard, Blocked

SPOOL_IN_MEMORY = 4 * 1024 * 1024  # larger responses spill to a temporary file
ENTITY_LIMIT = 4 * 1024 * 1024  # HTML and CSS bodies kept in memory for their links
LINKED_TYPES = ("text/html", "application/xhtml+xml", "text/css")
ACCEPT_ENCODING = "gzip, deflate"  # only what extraction can decode again

_SLICE = 0.5  # seconds a read waits at a time before it looks whether it was stopped
_this_thread = threading.local()  # .recording: the exchange this thread is making; .deadline


def _time_left(timeout: float | None,
               late: type[httpcore.TimeoutException] = httpcore.ReadTimeout) -> float | None:
    """The socket timeout for this thread's next operation: the operation's own, cut to
    what is left of the exchange's whole time (``--timeout`` bounds it all, a status line
    trickled a byte a second included); TotalTimeout when nothing is left."""
    deadline: _Deadline | None = getattr(_this_thread, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline.left()
    if left <= 0:
        raise late(deadline.reason())
    return left if timeout is None else min(timeout, left)


class _Deadline:
    def __init__(self, fetcher: Fetcher, seconds: float) -> None:
        self.fetcher = fetcher
        self.at = time.monotonic() + seconds
        self.seconds = seconds

    def left(self) -> float:
        return min(self.at, self.fetcher.abort_at) - time.monotonic()

    def reason(self) -> str:
        if self.fetcher.abort_at <= self.at:
            return "the capture was stopped"
        return f"the response took longer than {self.seconds:g} s in all"


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
    headers: httpx.Headers = field(default_factory=httpx.Headers)
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


class _Recording:
    def __init__(self) -> None:
        self.owner = threading.get_ident()
        self.tx = bytearray()
        # closed by Exchange.close(), once the response is in the WARC
        self.rx: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self.rx_size = 0


class RecordingStream(httpcore.NetworkStream):
    """A network stream that keeps what it writes and reads for the current exchange."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._current: _Recording | None = None
        # read now: once the server closes the connection the socket can no longer tell
        addr = inner.get_extra_info("server_addr")
        self.server_addr: tuple[str, int] | None = (addr[0], addr[1]) if addr else None
        ssl_object = inner.get_extra_info("ssl_object")
        self.tls_chain = peer_chain(ssl_object) if ssl_object is not None else []
        self.tls_version = ssl_object.version() if ssl_object is not None else None
        cipher = ssl_object.cipher() if ssl_object is not None else None
        self.tls_cipher: str | None = cipher[0] if cipher else None

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        current = self._current
        if current is None or current.owner != threading.get_ident() or current.rx_size:
            # a new exchange on this connection: a new request begins with a write
            current = self._current = _Recording()
            _this_thread.recording = current
        self._inner.write(buffer, _time_left(timeout, httpcore.WriteTimeout))
        current.tx += buffer

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        # waited for in short slices, so that a stop (Ctrl-C) ends a silent read promptly
        patience = time.monotonic() + timeout if timeout is not None else None
        while True:
            left = _time_left(timeout)
            if patience is not None:
                left = min(left or 0.0, patience - time.monotonic())
            try:
                data = self._inner.read(max_bytes, min(left, _SLICE) if left is not None
                                        else _SLICE)
                break
            except httpcore.ReadTimeout:
                if left is not None and left <= _SLICE:
                    _time_left(timeout)  # says why, when it was the exchange's whole time
                    raise
        current = self._current
        if current is not None and data and current.owner == threading.get_ident():
            current.rx.write(data)
            current.rx_size += len(data)
        return data

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return RecordingStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     _time_left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class RecordingBackend(httpcore.NetworkBackend):
    def __init__(self, guard: AddressGuard | None = None) -> None:
        self._inner = httpcore.SyncBackend()
        self._guard = guard

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        if self._guard is None:
            stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
            return RecordingStream(stream)
        try:
            addresses = self._guard.resolve(host, port)
        except (Blocked, OSError) as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        failure: Exception | None = None
        for address in addresses:  # connect to what was checked, not to a fresh lookup
            try:
                stream = self._inner.connect_tcp(
                    address, port, _time_left(timeout, httpcore.ConnectTimeout),
                    local_address, socket_options)
                return RecordingStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> httpcore.NetworkStream:  # noqa: E501
        raise httpcore.ConnectError("unix sockets are not archived")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def ssl_context(*, ca_bundle: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    if insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    return httpx.create_ssl_context()


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
    ) -> None:
        self.timeout = timeout
        self.abort_at = float("inf")
        self.max_body = max_body
        self.user_agent = user_agent
        context = ssl_context(ca_bundle=ca_bundle, insecure=insecure)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            http1=True,
            http2=False,
            retries=0,
            network_backend=RecordingBackend(guard),
        )

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

    def _request(self, url: str) -> tuple[httpcore.URL, list[tuple[bytes, bytes]]]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = [(b"Host", parts.netloc.rpartition("@")[2].encode("ascii")),
                   (b"User-Agent", self.user_agent.encode("utf-8")),
                   (b"Accept", b"*/*"), (b"Accept-Encoding", ACCEPT_ENCODING.encode()),
                   (b"Connection", b"keep-alive")]
        return httpcore.URL(scheme=parts.scheme.encode("ascii"), host=host.encode("ascii"),
                            port=parts.port, target=target.encode("ascii")), headers

    def fetch(self, url: str) -> Exchange:
        """One exchange; it never raises: what went wrong is the exchange's error, and
        whatever bytes came back are kept, HTTP or not."""
        exchange = Exchange(url=url)
        _this_thread.recording = None
        _this_thread.deadline = _Deadline(self, self.timeout)
        start = time.monotonic()
        response: httpcore.Response | None = None
        timeouts = {"connect": self.timeout, "read": self.timeout, "write": self.timeout,
                    "pool": self.timeout}
        try:
            target, headers = self._request(url)
            with self._pool.stream("GET", target, headers=headers,
                                   extensions={"timeout": timeouts}) as response:
                exchange.status = response.status
                exchange.headers = httpx.Headers(response.headers)
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
            _this_thread.deadline = None
        if exchange.truncated == "unspecified" or (
                exchange.error_kind == "timeout" and self.abort_at <= time.monotonic()):
            exchange.stopped = True
        exchange.elapsed = time.monotonic() - start
        if exchange.truncated == "length" and self.max_body is not None:
            _cut_body(exchange, self.max_body)
        return exchange

    @staticmethod
    def _keep_reply(exchange: Exchange) -> None:
        """Bytes that came back but are not a usable HTTP response (HTTP/0.9, a status
        line cut short, another protocol): kept, as evidence of what the server sent."""
        recording: _Recording | None = getattr(_this_thread, "recording", None)
        _this_thread.recording = None
        if recording is None:
            return
        exchange.request_bytes = bytes(recording.tx)
        if recording.rx_size:
            recording.rx.seek(0)
            exchange.response = recording.rx
            exchange.response_size = recording.rx_size
            exchange.not_http = True
        else:
            recording.rx.close()

    def _take(self, exchange: Exchange, response: httpcore.Response) -> None:
        stream = response.extensions.get("network_stream")
        if not isinstance(stream, RecordingStream):
            return
        recording: _Recording | None = getattr(_this_thread, "recording", None)
        _this_thread.recording = None
        if stream.server_addr:
            exchange.ip, exchange.port = stream.server_addr
        exchange.tls_chain = stream.tls_chain
        exchange.tls_version = stream.tls_version
        exchange.tls_cipher = stream.tls_cipher
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
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return
    keep = min(exchange.response_size, end + 4 + max_body)
    stream.seek(keep)
    stream.truncate()
    stream.seek(0)
    exchange.response_size = keep


def peer_chain(ssl_object: Any) -> list[bytes]:
    """The certificates the server presented, leaf first, DER encoded."""
    chain_of = getattr(ssl_object, "get_unverified_chain", None)
    if chain_of is not None:
        try:
            chain = chain_of() or []
            return [c.public_bytes(ssl_object_der_encoding()) for c in chain]
        except (AttributeError, ValueError, ssl.SSLError):
            pass
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def ssl_object_der_encoding() -> int:
    import _ssl

    return int(_ssl.ENCODING_DER)


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
