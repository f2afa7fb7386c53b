"""Reading a WARC file record by record -- plain, gzip per record, or gzip over many
records -- and finding every problem with its place: framing (Content-Length, the
CRLF CRLF after each block, truncation), gzip layout and damage, the header fields,
and block and payload digests.

Each record is held to what it claims. A record that claims no digest is checked for
its framing and fields only, and the file says how many did so.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import digests, headers
from .blocks import BlockSink
from .stream import GZIP_MAGIC, Damaged, Stream

_HEADER_LIMIT = 1024 * 1024
_HTTP_TYPES = {"response", "request"}


@dataclass
class Record:
    start: int  # uncompressed offset of its first byte
    offset: int  # the offset a tool seeks to: its gzip member's, or its own in a plain file
    within: int  # uncompressed bytes into that member where it begins (0: at the start)
    header: headers.Header | None
    member: int | None = None  # index of its gzip member
    length: int | None = None  # bytes in the file from offset: None when not its own member
    failures: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    block_sha256: str | None = None
    payload_sha256: str | None = None
    http_status: int | None = None
    http_type: str | None = None
    digested: bool = False  # it claims a block or payload digest
    end: int | None = None  # uncompressed offset where its block ends
    lost: bool = False  # where the next record begins is not known from this one

    def plain(self) -> tuple[Any, ...]:
        """As plain values (a worker process sends it so)."""
        header = None if self.header is None else (
            self.header.version, self.header.fields, self.header.failures, self.header.notes)
        return (self.start, self.offset, self.within, header, self.member, self.length,
                self.failures, self.unchecked, self.notes, self.block_sha256,
                self.payload_sha256, self.http_status, self.http_type, self.digested,
                self.end, self.lost)

    @classmethod
    def from_plain(cls, values: tuple[Any, ...]) -> Record:
        header = None if values[3] is None else headers.Header(*values[3])
        return cls(values[0], values[1], values[2], header, *values[4:])

    @property
    def place(self) -> str:
        return f"{self.offset}" if not self.within else f"{self.offset}+{self.within}"

    @property
    def record_id(self) -> str:
        return ((self.header.get("WARC-Record-ID") if self.header else None) or "").strip()


@dataclass
class FileResult:
    layout: str
    records: list[Record] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check(fh: IO[bytes], *, gzipped: bool, keep_sha256: bool = False) -> FileResult:
    """Every record of the file, and what is wrong with the file as a whole."""
    stream = Stream(fh, gzipped)
    result = FileResult("gzip" if gzipped else "plain")
    result.records = list(_records(stream, result, keep_sha256))
    result.failures += stream.problems
    if gzipped:
        _lengths(stream, result)
    _layout(stream, result)
    finish(result)
    return result


def check_range(path: Path, start: int, end: int,
                keep_sha256: bool) -> tuple[int, int, list[tuple[Any, ...]], bool] | None:
    """A job: the records of a gzip WARC file whose members begin from the first member
    at or after ``start`` up to ``end``; (where reading began, where it stopped, the
    records as plain values, whether all is well: the members one record each, no damage).
    None when no member begins there."""
    with open(path, "rb") as fh:
        begin = _first_member(fh, start, end)
        if begin is None:
            return None
        fh.seek(begin)
        stream = Stream(fh, True, base=begin)
        result = FileResult("gzip")
        result.records = list(_records(stream, result, keep_sha256, stop=end))
        result.failures += stream.problems
        _lengths(stream, result)
        well = not result.failures and all(
            r.length is not None and not r.within and r.end is not None
            and stream.member_of(r.end - 1) == r.member for r in result.records)
        last = result.records[-1] if result.records else None
        stopped = last.offset + last.length if last and last.length else begin
        return begin, stopped, [r.plain() for r in result.records], well


def _first_member(fh: IO[bytes], start: int, end: int) -> int | None:
    """The offset of the first gzip member in [start, end) that begins a WARC record."""
    at = start
    while at < end:
        fh.seek(at)
        window = fh.read(1024 * 1024 + 64 * 1024)
        if not window:
            return None
        found = window.find(GZIP_MAGIC)
        while 0 <= found < 1024 * 1024:
            if at + found >= end:
                return None
            try:
                head = zlib.decompressobj(wbits=31).decompress(window[found : found + 4096], 8)
            except zlib.error:
                head = b""
            if head[:5].upper() == b"WARC/":
                return at + found
            found = window.find(GZIP_MAGIC, found + 1)
        at += 1024 * 1024
    return None


def finish(result: FileResult) -> None:
    """What is found across the whole file: repeated record ids, records without digests."""
    ids: dict[str, Record] = {}
    for record in result.records:
        rid = record.record_id
        if rid and rid in ids:
            record.notes.append(f"its WARC-Record-ID is also that of the record at "
                                f"{ids[rid].place} (the spec wants each unique; a tool that "
                                "looks records up by id finds one of them)")
        ids.setdefault(rid, record)
    silent = sum(1 for r in result.records if r.header and not r.digested)
    if silent:
        result.notes.append(f"{silent} of {len(result.records)} records claim no digest: "
                            "their bytes are checked for framing and fields only")


def _records(stream: Stream, result: FileResult, keep_sha256: bool,
             stop: int | None = None) -> Iterator[Record]:
    while True:
        try:
            record = _next(stream, keep_sha256, stop)
        except Damaged as exc:
            result.failures.append(f"the gzip member at offset {exc.offset} cannot be "
                                   f"inflated ({exc}); the record in it is lost")
            again = stream.resync(exc.offset)
            if again is None:
                return
            result.notes.append(f"reading went on at the next gzip member, offset {again}")
            continue
        if record is None:
            return
        yield record
        if record.lost and not stream.find(b"WARC/"):
            return


def _skip_blank(stream: Stream) -> None:
    while stream.peek(1) in (b"\r", b"\n"):
        stream.skip(1)


def _next(stream: Stream, keep_sha256: bool, stop: int | None = None) -> Record | None:
    _skip_blank(stream)
    if not stream.peek(1):
        return None
    start = stream.position
    offset, within = stream.place(start)
    if stop is not None and offset >= stop:
        return None
    raw, found = stream.read_until(b"\r\n\r\n", _HEADER_LIMIT)
    record = Record(start, offset, within, None,
                    stream.member_of(start) if stream.gzipped else None, lost=True)
    if not found:
        end = "the file ends inside it" if len(raw) < _HEADER_LIMIT else \
            f"no blank line ends it within {_HEADER_LIMIT} bytes"
        if headers.VERSION.match(raw):
            record.header = headers.parse(raw.split(b"\r\n\r\n")[0]) or None
            record.failures.append(f"truncated: {end} (in the header block)")
        else:
            record.failures.append(f"not a WARC record: begins {raw[:40]!r}")
        stream.skip(len(raw))
        return record
    header = headers.parse(raw)
    if header is None:
        record.failures.append(f"not a WARC record: begins {raw[:40]!r}")
        return record
    record.header = header
    record.failures += header.failures
    record.notes += header.notes
    length = header.content_length
    if length is None:
        if not any("Content-Length" in f for f in record.failures):
            record.failures.append("Content-Length cannot be read")
        return record
    record.lost = False
    block_digest = _digest(header, "WARC-Block-Digest", record)
    payload_digest = None
    if header.type != "revisit":
        payload_digest = _digest(header, "WARC-Payload-Digest", record)
    elif header.get("WARC-Payload-Digest") is not None:
        record.digested = True  # the original's payload, not in this record
    content_type = (header.get("Content-Type") or "").lower()
    http = header.type in _HTTP_TYPES and content_type.startswith("application/http")
    sink = BlockSink(block_digest, payload_digest, http, keep_sha256)
    got = stream.take(length, sink.feed)
    record.block_sha256 = sink.block_sha256_hex()
    record.payload_sha256 = sink.payload_sha256.hexdigest() if sink.payload_sha256 else None
    record.http_status = sink.status
    record.http_type = next((v for k, v in sink.headers if k.lower() == "content-type"), None)
    if got < length:
        record.failures.append(f"truncated: the file ends {length - got} bytes before the "
                               f"end of the block (Content-Length {length})")
        return record
    record.end = stream.position  # where its block ends
    tail = stream.peek(4)
    closing = _closing(tail)
    if closing == 4:
        stream.skip(4)
    elif closing == len(tail) or (stream.gzipped and stream.position + closing in stream.starts):
        stream.skip(closing)  # a short ending where the file or the gzip member ends
        record.notes.append(f"ends with {closing} of the 4 bytes (CRLF CRLF) that close a "
                            "record, where the " + ("file" if closing == len(tail) else
                                                    "gzip member") + " ends")
    else:
        record.lost = True
        record.failures.append("not followed by CRLF CRLF: its Content-Length is wrong, "
                               f"or it is truncated (next bytes {tail!r})")
    _compare(record, header, sink, block_digest, payload_digest, http)
    return record


def _closing(tail: bytes) -> int:
    """How many of the closing CRLF CRLF the bytes begin with."""
    count = 0
    while count < len(tail) and tail[count] == b"\r\n\r\n"[count]:
        count += 1
    return count


def _digest(header: headers.Header, name: str, record: Record) -> digests.Labelled | None:
    value = header.get(name)
    if value is None:
        return None
    record.digested = True
    try:
        return digests.parse(value)
    except digests.UnknownAlgorithm as exc:
        record.unchecked.append(f"{name}: {exc} is not one custody computes")
    except digests.Malformed as exc:
        record.failures.append(f"{name} is malformed: {exc}")
    return None


def _compare(record: Record, header: headers.Header, sink: BlockSink,
             block: digests.Labelled | None, payload: digests.Labelled | None,
             http: bool) -> None:
    if block is not None and sink.block is not None:
        actual = sink.block.digest()
        if actual != block.digest:
            record.failures.append(
                f"block digest mismatch: WARC-Block-Digest says {block.label}:"
                f"{digests.spell(block, block.digest)}, the block hashes to "
                f"{block.label}:{digests.spell(block, actual)}")
    if payload is None:
        return
    if http and not sink.head_found:
        record.unchecked.append("WARC-Payload-Digest: the block holds no HTTP header block "
                                "to find the payload after")
        return
    if sink.payload is None:
        return
    actual = sink.payload.digest()
    if actual == payload.digest:
        return
    chunked = sink.dechunked
    if chunked is not None and not chunked.broken and chunked.state == "done" \
            and chunked.hasher.digest() == payload.digest:
        record.notes.append("WARC-Payload-Digest is of the de-chunked entity body (as "
                            "warcprox writes it), not of the chunked message body")
        return
    truncated = header.get("WARC-Truncated")
    if truncated:
        record.unchecked.append(f"WARC-Payload-Digest: the record is marked truncated "
                                f"({truncated.strip()}), so its payload is not all here")
        return
    record.failures.append(
        f"payload digest mismatch: WARC-Payload-Digest says {payload.label}:"
        f"{digests.spell(payload, payload.digest)}, the payload hashes to "
        f"{payload.label}:{digests.spell(payload, actual)}")


def _lengths(stream: Stream, result: FileResult) -> None:
    """Each record alone in its gzip member gets that member's length."""
    counts: dict[int, int] = {}
    for record in result.records:
        if record.member is not None:
            counts[record.member] = counts.get(record.member, 0) + 1
    for record in result.records:
        if record.member is None or record.within or counts[record.member] != 1:
            continue
        end = stream.member_end(record.member)
        if end is not None:
            record.length = end - record.offset


def _layout(stream: Stream, result: FileResult) -> None:
    """gzip: one record per member is what lets a tool seek to a record by its offset."""
    if not stream.gzipped:
        result.layout = "plain (uncompressed)"
        for record, after in zip(result.records, [*result.records[1:], None], strict=True):
            record.length = (after.start if after else stream.position) - record.start
        return
    inside = [r for r in result.records if r.within]
    spanning = [r for r in result.records if r.member is not None and r.end is not None
                and stream.member_of(r.end - 1) != r.member]
    if not inside and not spanning:
        result.layout = "gzip, one record per member"
        return
    if len(stream.starts) == 1 and len(result.records) > 1:
        result.layout = "gzip over the whole file"
    else:
        result.layout = "gzip, members not aligned with records"
    result.failures.append(f"not one record per gzip member: {len(inside) + len(spanning)} "
                           "records cannot be reached by their offset")
    for record in spanning:
        record.length = None
    for record in inside:
        record.failures.append(
            f"begins inside the gzip member at offset {record.offset}, {record.within} "
            "bytes in: a gzipped WARC must hold each record in a gzip member of its own "
            "(WARC 1.1, annex D), or tools cannot seek to it")
    for record in spanning:
        last = stream.offsets[stream.member_of(record.end - 1)] if record.end else "?"
        record.failures.append(f"runs on from its gzip member at offset {record.offset} into "
                               f"the member at offset {last}: a gzipped WARC must hold each "
                               "record in a gzip member of its own (WARC 1.1, annex D)")
