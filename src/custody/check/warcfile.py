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
from pathlib import Path
from typing import IO, Any

from . import headers, members
from .claims import Claims
from .record import FileResult, Record
from .stream import GZIP_MAGIC, Damaged, Stream

_HEADER_LIMIT = 1024 * 1024


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
    None when no member begins there. Read a whole member at a time (members.read) as
    long as each holds one whole record; from one that does not, as a stream."""
    with open(path, "rb") as fh:
        begin = _first_member(fh, start, end)
        if begin is None:
            return None
        records, at, done = members.read(fh, begin, end, keep_sha256)
        well = True
        if not done:
            fh.seek(at)
            stream = Stream(fh, True, base=at)
            result = FileResult("gzip")
            result.records = list(_records(stream, result, keep_sha256, stop=end))
            result.failures += stream.problems
            _lengths(stream, result)
            well = not result.failures and all(
                r.length is not None and not r.within and r.end is not None
                and stream.member_of(r.end - 1) == r.member for r in result.records)
            for record in result.records:
                record.member = None
            records += result.records
        last = records[-1] if records else None
        stopped = last.offset + last.length if last and last.length else begin
        return begin, stopped, [r.plain(keep_sha256) for r in records], well


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
    claims = Claims(record, header, keep_sha256)
    got = stream.take(length, claims.feed)
    claims.fed()
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
    claims.compare()
    return record


def _closing(tail: bytes) -> int:
    """How many of the closing CRLF CRLF the bytes begin with."""
    count = 0
    while count < len(tail) and tail[count] == b"\r\n\r\n"[count]:
        count += 1
    return count


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
