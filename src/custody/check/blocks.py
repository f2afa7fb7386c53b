"""What a record's block is checked against as it streams past: its block digest, the
digest of its payload (after an HTTP message's header block, and, for a chunked body,
also after the chunking is undone, since tools differ on which they hash), and the
sha256 custody keeps of both."""

from __future__ import annotations

import hashlib
from typing import Any

from ..core.fields import hex_count
from ..warc.http_head import LEGACY, HeadEnd, LegacyEnd
from ..warc.payload import split_head
from . import digests

_HEAD_LIMIT = 256 * 1024  # an HTTP header block longer than this is not looked for


class Dechunker:
    """Undoes HTTP chunked framing as bytes are fed, hashing what it frees; ``broken``
    when the framing is not chunked after all."""

    def __init__(self, hasher: Any) -> None:
        self.hasher = hasher
        self.pending = b""
        self.left = 0
        self.state = "size"  # size, data, crlf, done
        self.broken = False

    def feed(self, data: bytes | memoryview) -> None:
        if self.broken or self.state == "done":
            return
        buf = self.pending + bytes(data) if self.pending else bytes(data)
        self.pending = b""
        view, i = memoryview(buf), 0
        while i < len(buf):
            if self.state == "data":
                take = min(self.left, len(buf) - i)
                self.hasher.update(view[i : i + take])
                i += take
                self.left -= take
                if not self.left:
                    self.state = "crlf"
                continue
            end = buf.find(b"\r\n", i)
            if end < 0:
                self.pending = buf[i:]
                self.broken = len(self.pending) > 1024
                return
            line, i = buf[i:end], end + 2
            if self.state == "crlf":
                self.broken = line != b""
                self.state = "size"
                continue
            size = hex_count(line.split(b";", 1)[0])
            if size is None:
                self.broken = True
                return
            self.left = size
            if not self.left:
                self.state = "done"
                return
            self.state = "data"


class BlockSink:
    """Fed a record's block; holds the digests it ends with."""

    def __init__(self, block_digest: digests.Labelled | None,
                 payload_digest: digests.Labelled | None, http: bool, keep_sha256: bool) -> None:
        self.block = block_digest.new() if block_digest else None
        self.block_sha256 = hashlib.sha256() if keep_sha256 else None
        if block_digest and block_digest.algorithm == "sha256" and keep_sha256:
            self.block_sha256 = None  # the same hash: taken from ``block``
        self.payload_digest = payload_digest
        self.http = http
        self.head: bytearray | None = bytearray() if http else None
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.head_found = not http
        self.keep_sha256 = keep_sha256
        self.payload: Any = None
        self.payload_sha256: Any = None
        self.dechunked: Dechunker | None = None
        self.finder = HeadEnd()
        self.legacy_at: LegacyEnd | None = None  # looking for the old rule's payload
        self.legacy: Any = None  # the payload digest as custody took it before 2026-12-07
        self.legacy_sha256: Any = None  # and its sha256, to find a record held already
        self.size = 0
        if not http:
            self._start_payload()

    def _start_payload(self) -> None:
        if self.payload_digest is not None:
            self.payload = self.payload_digest.new()
        if self.keep_sha256:
            self.payload_sha256 = hashlib.sha256()

    def feed(self, view: memoryview) -> None:
        self.size += view.nbytes
        if self.block is not None:
            self.block.update(view)
        if self.block_sha256 is not None:
            self.block_sha256.update(view)
        if self.head is not None:
            self._look(view)
            return
        if self.legacy_at is not None:
            self._legacy(view)
        else:
            self._legacy_update(view)
        if self.head_found:
            self._payload(view)

    def _look(self, view: memoryview) -> None:
        """Look for the head's end in this piece; past it, the payload begins."""
        assert self.head is not None
        at = self.finder.feed(view)
        if at is None:
            self.head += view
            if len(self.head) > _HEAD_LIMIT:
                self.head = None
            return
        head = bytes(self.head) + bytes(view[:at])
        parsed = split_head(head)
        if parsed is not None:
            self.status, self.headers, _ = parsed
        elif not head.startswith((b"GET", b"POST", b"HEAD", b"PUT", b"OPTIONS", b"DELETE",
                                  b"PATCH")):
            self.head_found = False
            self.head = None
            return
        self.head = None
        self.head_found = True
        self._start_payload()
        if (self.payload_digest is not None or self.keep_sha256) and \
                not head.endswith(LEGACY):
            self.legacy_at = LegacyEnd(head)  # the old rule's payload starts later
        chunked = "chunked" in ",".join(v.lower() for k, v in self.headers
                                        if k.lower() == "transfer-encoding")
        if chunked and self.payload_digest is not None:
            self.dechunked = Dechunker(self.payload_digest.new())
        rest = view[at:]
        if self.legacy_at is not None:
            self._legacy(rest)
        self._payload(rest)

    def _legacy(self, view: memoryview) -> None:
        """Look for the first CRLF CRLF, where custody ended a head before; hash what
        follows it too."""
        assert self.legacy_at is not None
        at = self.legacy_at.feed(view)
        if at is not None:
            self.legacy_at = None
            if self.payload_digest is not None:
                self.legacy = self.payload_digest.new()
            if self.keep_sha256:
                self.legacy_sha256 = hashlib.sha256()
            self._legacy_update(view[at:])

    def _legacy_update(self, view: memoryview) -> None:
        if self.legacy is not None:
            self.legacy.update(view)
        if self.legacy_sha256 is not None:
            self.legacy_sha256.update(view)

    def _payload(self, view: memoryview) -> None:
        if self.payload is not None:
            self.payload.update(view)
        if self.payload_sha256 is not None:
            self.payload_sha256.update(view)
        if self.dechunked is not None:
            self.dechunked.feed(view)

    def block_sha256_hex(self) -> str | None:
        if self.block_sha256 is not None:
            return str(self.block_sha256.hexdigest())
        if self.block is not None and self.keep_sha256:
            return str(self.block.hexdigest())
        return None
