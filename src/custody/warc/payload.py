"""A response's body as the page meant it: transfer coding (chunked) and content coding
(gzip, deflate) undone, never inflated past a bound.

The WARC keeps the bytes as they crossed the wire; extraction, link-finding and
robots.txt read them decoded. This is the one decoder all three use. It is streamed --
fed a part at a time, it holds at most ``limit`` decoded bytes -- so a gzip bomb or a
gigabyte body is read through without being held, and said to exceed the bound.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.fields import hex_count, status_code
from .http_head import head_end, wire_end

_READ = 1024 * 1024  # raw bytes read from the WARC at a time
_HEADS_MOST = 1024 * 1024  # bytes of a response's heads read before its body, at most


@dataclass
class Payload:
    status: int | None
    headers: list[tuple[str, str]]
    body: bytes  # transfer- and content-decoded, at most the bound
    exceeded: bool  # decoding stopped at the bound (a gzip bomb, or just large)
    error: str | None = None
    # the body begins elsewhere than where warcio's parse of the record puts it (after an
    # interim answer, or a line of white space in the head), or ends before the record
    # does: where custody before 2026-12-07 took it to begin and end
    reframed: bool = False
    past_end: int = 0  # bytes after the end the body's Content-Length gives it


class BodyDecoder:
    """Undoes ``Transfer-Encoding: chunked`` and then ``Content-Encoding`` (gzip, x-gzip,
    deflate -- zlib-wrapped or raw, as servers send both), as the body is fed."""

    def __init__(self, *, chunked: bool, encoding: str, limit: int) -> None:
        self.limit = limit
        self.out = bytearray()
        self.exceeded = False
        self.error: str | None = None
        self._chunked = chunked
        self._pending = b""  # chunked framing not yet whole
        self._left = 0  # bytes of the current chunk still to come
        self._state = "size"  # size, data, crlf, done
        encoding = encoding.strip().lower()
        self._encoding = encoding if encoding not in ("", "identity") else None
        self._inflater: zlib._Decompress | None = None
        self._head: bytes | None = None
        if self._encoding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(47)  # 47: a gzip or zlib header, detected
        elif self._encoding == "deflate":
            self._head = b""  # zlib-wrapped or raw: told apart by the first two bytes
        elif self._encoding is not None:
            self.error = f"cannot decode body: content-encoding {self._encoding!r}"

    @property
    def done(self) -> bool:
        """Nothing more will be taken: the bound was reached, or the body cannot be read."""
        return self.exceeded or self.error is not None

    @property
    def complete(self) -> bool:
        """A chunked body's last chunk has come."""
        return self._chunked and self._state == "done"

    def feed(self, data: bytes) -> None:
        if self.done or not data:
            return
        if self._chunked:
            self._dechunk(data)
        else:
            self._decode(data)

    def body(self) -> bytes:
        return bytes(self.out[: self.limit])

    # -- transfer coding -------------------------------------------------------------------

    def _dechunk(self, data: bytes) -> None:
        buf = self._pending + data
        self._pending = b""
        at = 0
        while at < len(buf) and not self.done:
            if self._state == "data":
                take = buf[at : at + self._left]
                self._decode(take)
                self._left -= len(take)
                at += len(take)
                if self._left == 0:
                    self._state = "crlf"
            elif self._state == "crlf":
                if len(buf) - at < 2:
                    self._pending = buf[at:]
                    return
                at += 2 if buf[at : at + 2] == b"\r\n" else 0
                self._state = "size"
            elif self._state == "size":
                end = buf.find(b"\n", at)
                if end < 0:
                    if len(buf) - at > 1024:  # no size line: not chunked after all
                        self._chunked = False
                        self._decode(buf[at:])
                        return
                    self._pending = buf[at:]
                    return
                size = hex_count(buf[at:end].split(b";")[0])
                if size is None:  # framing broken: keep the rest as it came
                    self._chunked = False
                    self._decode(buf[at:])
                    return
                at = end + 1
                if size == 0:
                    self._state = "done"
                    return
                self._left = size
                self._state = "data"
            else:  # done: trailers, ignored
                return

    # -- content coding --------------------------------------------------------------------

    def _decode(self, data: bytes) -> None:
        if not data or self.done:
            return
        if self._head is not None:  # deflate: servers send raw deflate as often as zlib's
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, None
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._inflater = zlib.decompressobj(15 if wrapped else -15)
        if self._inflater is None:
            self._emit(data)
            return
        room = self.limit + 1 - len(self.out)
        try:
            self._emit(self._inflater.decompress(data, room))
        except zlib.error as exc:
            self.error = f"cannot decode body: {exc}"
            return
        if self._inflater.unconsumed_tail:
            self.exceeded = True

    def finish(self) -> BodyDecoder:
        """The body has all been fed: what was held back is decoded."""
        if self._chunked and self._state == "size" and self._pending and not self.out:
            self._chunked = False  # never a size line: it was not chunked after all
            self._decode(self._pending)
        if self._head:
            self._emit(self._head)
        if self._inflater is not None and not self.done:
            try:
                self._emit(self._inflater.flush())
            except zlib.error as exc:
                self.error = f"cannot decode body: {exc}"
        return self

    def _emit(self, data: bytes) -> None:
        self.out += data
        if len(self.out) > self.limit:
            self.exceeded = True
            del self.out[self.limit :]


def header(headers: list[tuple[str, str]], name: str) -> str:
    wanted = name.lower()
    return next((v for k, v in headers if k.lower() == wanted), "")


def decoder_for(headers: list[tuple[str, str]], limit: int, *,
                chunked_already_undone: bool = False) -> BodyDecoder:
    chunked = not chunked_already_undone and \
        "chunked" in header(headers, "transfer-encoding").lower()
    return BodyDecoder(chunked=chunked, encoding=header(headers, "content-encoding"),
                       limit=limit)


def decode(body: bytes, headers: list[tuple[str, str]], limit: int, *,
           chunked_already_undone: bool = False) -> BodyDecoder:
    """A whole body, decoded (see BodyDecoder)."""
    decoder = decoder_for(headers, limit, chunked_already_undone=chunked_already_undone)
    decoder.feed(body)
    return decoder.finish()


def split_head(raw: bytes, *, wire: bool = False
               ) -> tuple[int | None, list[tuple[str, str]], bytes] | None:
    """Status, header fields and the rest, of bytes that begin with an HTTP response's
    status line and head (lines ended by CRLF or LF, the head's end found as warcio
    finds it, or, with ``wire``, as an HTTP client does); None when they do not."""
    if not raw.startswith(b"HTTP/"):
        return None
    end = wire_end(raw) if wire else head_end(raw)
    if end is None:
        return None
    lines = raw[:end].decode("iso-8859-1").split("\n")
    parts = lines[0].split(" ", 2)
    status = status_code(parts[1].strip()) if len(parts) > 1 else None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and line.strip() and headers:  # obs-fold: continued
            headers[-1] = (headers[-1][0], f"{headers[-1][1]} {line.strip()}".strip())
            continue
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    return status, headers, raw[end:]


def read_payload(path: Path, offset: int, limit: int) -> Payload:
    """The decoded entity body of the response record at ``offset``, never more than
    ``limit`` bytes of it, read a part at a time: the body of the final answer, as an
    HTTP client reads it (final_head)."""
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as fh:
        fh.seek(offset)
        record = next(iter(ArchiveIterator(fh, no_record_parse=True)))
        final = final_head(record.raw_stream) if _is_http_response(record) else None
        if final is None:  # no head a client would read: as warcio parses the record
            fh.seek(offset)
            record = next(iter(ArchiveIterator(fh)))
            http = record.http_headers
            status = status_code(http.get_statuscode()) if http else None
            headers = list(http.headers) if http else []
            first, reframed = b"", False
        else:
            status, headers, first, reframed = final
        decoder = decoder_for(headers, limit)
        left = None if final is None else framed_length(status, headers)
        past = 0
        piece = first
        while True:
            if left is not None:  # what follows the body is kept, but no part of it
                past += max(0, len(piece) - left)
                piece, left = piece[:left], max(0, left - len(piece))
            decoder.feed(piece)
            if (decoder.done and not past) or not (piece := record.raw_stream.read(_READ)):
                break
        decoder.finish()
        return Payload(status, headers, decoder.body(), decoder.exceeded, decoder.error,
                       reframed or past > 0, past)


def framed_length(status: int | None, headers: list[tuple[str, str]]) -> int | None:
    """The body's length as an HTTP client frames it: none after a 1xx (101 included:
    another protocol follows), 204 or 304 (RFC 9112 6.3), else its Content-Length where
    that frames it (not chunked)."""
    if status is not None and (100 <= status < 200 or status in (204, 304)):
        return 0
    if "chunked" in header(headers, "transfer-encoding").lower():
        return None
    value = header(headers, "content-length").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _is_http_response(record: Any) -> bool:
    """A record whose block warcio reads as an HTTP response (a WARC response record,
    or an ARC record, of an http: or https: URI)."""
    uri = record.rec_headers.get_header("WARC-Target-URI") or \
        record.rec_headers.get_header("uri") or ""
    return record.rec_type == "response" and uri.strip("<>").startswith(("http:", "https:"))


def final_head(stream: Any) -> tuple[int | None, list[tuple[str, str]], bytes, bool] | None:
    """The final answer's status and fields, the bytes read after its head, and whether
    its body begins elsewhere than where warcio's parse puts it; read from a response
    block's first byte. Interim answers (1xx, 101 aside: a protocol switch is final) are
    passed over, each head ended where an HTTP client ends it (wire_end, folded lines
    continuing the field before them): what a browser shows is the final answer's body.
    None when the block does not begin with a head a client would read."""
    buf = bytearray()
    at = searched = 0
    found: tuple[int | None, list[tuple[str, str]], int] | None = None
    while True:
        end = wire_end(buf, max(at, searched - 2))
        if end is None:
            piece = b"" if len(buf) - at > _HEADS_MOST else stream.read(_READ)
            if not piece:
                break
            searched = len(buf)
            buf += piece
            continue
        parsed = split_head(bytes(buf[at:end]), wire=True)
        if parsed is None:  # not a head: the body of the answer before it
            break
        found = parsed[0], parsed[1], end
        at = searched = end
        if parsed[0] is None or not 100 <= parsed[0] < 200 or parsed[0] == 101:
            break
    if found is None:
        return None
    status, headers, body_at = found
    return status, headers, bytes(buf[body_at:]), body_at != head_end(bytes(buf))


def copy_block(path: Path, offset: int, out: Path) -> str:
    """Write the block of the record at ``offset`` (a resource's content, as stored) to
    ``out``, a part at a time; its sha256."""
    import hashlib

    from warcio.archiveiterator import ArchiveIterator

    digest = hashlib.sha256()
    with open(path, "rb") as fh, open(out, "wb") as target:
        fh.seek(offset)
        record = next(iter(ArchiveIterator(fh)))
        while piece := record.raw_stream.read(_READ):
            digest.update(piece)
            target.write(piece)
    return digest.hexdigest()


def sealed_block(root: Path, record: dict[str, Any]) -> tuple[bytes | None, str]:
    """The block of a record a manifest lists, when its sha256 is the sealed one; else
    None and why not (a changed WARC file: verify says the rest)."""
    import hashlib

    from warcio.archiveiterator import ArchiveIterator

    try:
        with open(root / record["warc_path"], "rb") as fh:
            fh.seek(int(record["offset"]))
            data = bytes(next(iter(ArchiveIterator(fh))).content_stream().read())
    except Exception as exc:  # warcio, zlib, a cut file: all the same here
        return None, f"the record cannot be read ({type(exc).__name__})"
    sealed = record.get("block_sha256")
    if sealed and hashlib.sha256(data).hexdigest() != sealed:
        return None, "the record is not the one sealed"
    return data, ""
