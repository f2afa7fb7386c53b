"""The recorder under the HTTP client: streams that keep every byte written and read for
the exchange under way, its server's address and TLS chain, and a deadline for it all.

httpcore hands its network backend a socket to wrap; custody's backend wraps it in a
``RecordingStream``, connecting only to addresses the guard allowed. After TLS is set up
the copy is of the plaintext HTTP bytes, which is what a WARC request/response record
holds.

A keep-alive connection serves many exchanges, one at a time, and may pass from one
worker thread to another the moment a response has been read. With the sync backend the
thread that writes a request is the thread that reads its response, so each exchange's
recording starts at its first write and is handed to that thread (a thread-local), never
looked up on the shared connection afterwards.

A server may send more than its answer: bytes past the end its Content-Length or last
chunk gives it (a second answer nobody asked for, say), read with the answer and kept in
its record. The HTTP client would read them as the answer to the next request on the
connection, whose own answer would never be read: that connection is not used again.
"""

from __future__ import annotations

import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from typing import IO, Any

import httpcore

from .guard import AddressGuard, Blocked

SPOOL_IN_MEMORY = 4 * 1024 * 1024  # larger responses spill to a temporary file
_SLICE = 0.5  # seconds a read waits at a time before it looks whether it was stopped
_this_thread = threading.local()  # .recording: the exchange this thread makes; .deadline


class Deadline:
    """The time one exchange may take in all; or less, once the capture is stopped."""

    def __init__(self, seconds: float, stopped_at: Callable[[], float]) -> None:
        self.at = time.monotonic() + seconds
        self.seconds = seconds
        self.stopped_at = stopped_at  # when the capture was stopped (inf: it was not)

    def left(self) -> float:
        return min(self.at, self.stopped_at()) - time.monotonic()

    def reason(self) -> str:
        if self.stopped_at() <= self.at:
            return "the capture was stopped"
        return f"the response took longer than {self.seconds:g} s in all"


def begin(deadline: Deadline) -> None:
    """An exchange starts on this thread: nothing recorded yet, and its deadline."""
    _this_thread.recording = None
    _this_thread.deadline = deadline


def end() -> None:
    _this_thread.deadline = None


def tap(receiver: Callable[[bytes], None] | None) -> None:
    """What this thread's exchanges read from the server is also handed to ``receiver``
    as it comes (the recording proxy passes it on); None: no more."""
    _this_thread.tap = receiver


def take() -> Recording | None:
    """What this thread's exchange wrote and read, handed over once."""
    recording: Recording | None = getattr(_this_thread, "recording", None)
    _this_thread.recording = None
    return recording


def time_left(timeout: float | None,
               late: type[httpcore.TimeoutException] = httpcore.ReadTimeout) -> float | None:
    """The socket timeout for this thread's next operation: the operation's own, cut to
    what is left of the exchange's whole time (``--timeout`` bounds it all, a status line
    trickled a byte a second included), raising ``late`` when nothing is left."""
    deadline: Deadline | None = getattr(_this_thread, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline.left()
    if left <= 0:
        raise late(deadline.reason())
    return left if timeout is None else min(timeout, left)


def sent_past_answer(response: httpcore.Response) -> int:
    """How many bytes the server sent past the end of this answer, read already and held
    by the connection's HTTP parser (h11's ``trailing_data``) for the next request; 0
    where that cannot be told (not a connection of httpcore's own HTTP/1.1 client)."""
    connection = getattr(getattr(response.stream, "_stream", None), "_connection", None)
    trailing = getattr(getattr(connection, "_h11_state", None), "trailing_data", None)
    return len(trailing[0]) if trailing else 0


class Recording:
    def __init__(self) -> None:
        self.owner = threading.get_ident()
        self.tx = bytearray()
        # closed by Exchange.close(), once the response is in the WARC
        self.rx: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self.rx_size = 0
        self.tap: Callable[[bytes], None] | None = getattr(_this_thread, "tap", None)
        self.reused = False  # its connection carried an exchange before it


class RecordingStream(httpcore.NetworkStream):
    """A network stream that keeps what it writes and reads for the current exchange."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._current: Recording | None = None
        self._carried = 0  # exchanges begun on this connection
        self.spoilt = False  # the server sent more than its answer: not to be used again
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
            current = self._current = Recording()
            current.reused = self._carried > 0
            self._carried += 1
            _this_thread.recording = current
        self._inner.write(buffer, time_left(timeout, httpcore.WriteTimeout))
        current.tx += buffer

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        # waited for in short slices, so that a stop (Ctrl-C) ends a silent read promptly
        patience = time.monotonic() + timeout if timeout is not None else None
        while True:
            left = time_left(timeout)
            if patience is not None:
                left = min(left or 0.0, patience - time.monotonic())
            try:
                data = self._inner.read(max_bytes, min(left, _SLICE) if left is not None
                                        else _SLICE)
                break
            except httpcore.ReadTimeout:
                if left is not None and left <= _SLICE:
                    time_left(timeout)  # says why, when it was the exchange's whole time
                    raise
        current = self._current
        if current is not None and data and current.owner == threading.get_ident():
            current.rx.write(data)
            current.rx_size += len(data)
            if current.tap is not None:
                current.tap(data)
        return data

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        real = getattr(ssl_context, "real", ssl_context)  # (fetch.LazyContext's context)
        return RecordingStream(self._inner.start_tls(real, server_hostname,
                                                     time_left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self.spoilt:  # httpcore closes an idle connection
            return True  # that is readable: the server's closing, to it, as here
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
        timeout = time_left(timeout, httpcore.ConnectTimeout)
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
                    address, port, time_left(timeout, httpcore.ConnectTimeout),
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


def peer_chain(ssl_object: Any) -> list[bytes]:
    """Every certificate the server presented on this connection, leaf first, DER encoded,
    as it sent them. Python 3.13 has ``SSLObject.get_unverified_chain()``; 3.11 and 3.12
    have the same call on the object underneath (``_sslobj``, OpenSSL's
    SSL_get_peer_cert_chain); only when neither answers is the leaf alone kept."""
    for owner in (ssl_object, getattr(ssl_object, "_sslobj", None)):
        chain_of = getattr(owner, "get_unverified_chain", None)
        if chain_of is None:
            continue
        try:
            chain = chain_of() or []
            return [c.public_bytes(ssl_object_der_encoding()) for c in chain]
        except (AttributeError, ValueError, ssl.SSLError):
            continue
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def ssl_object_der_encoding() -> int:
    import _ssl

    return int(_ssl.ENCODING_DER)
