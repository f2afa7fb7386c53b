"""Reading a WARC file record by record -- plain, gzip per record, or gzip over many
records -- and finding every problem with its place: framing (Content-Length, the
CRLF CRLF after each block, truncation), gzip layout and damage, the header fields,
and block and payload digests.

Each record is held to what it claims. A record that claims no digest is checked for
its framing and fields only, and the file says how many did so.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from . import headers, members
from .claims import Claims
from .record import FileResult, Record
from .stream import GZIP_MAGIC, Damaged, Stream

_HEADER_LIMIT = 1024 * 1024
Sink = Callable[[Record], None]  # where each record goes once it is judged whole


def check(fh: IO[bytes], *, gzipped: bool, sink: Sink,
          keep_sha256: bool = False) -> FileResult:
    """Every record of the file, each handed to ``sink`` as soon as its place is judged
    (and then let go), and what is wrong with the file as a whole."""
    stream = Stream(fh, gzipped)
    result = FileResult("gzip" if gzipped else "plain")
    layout = Layout(stream, result, sink)
    for record in _records(stream, result, keep_sha256):
        layout.add(record)
    layout.close()
    return result


def check_range(path: Path, start: int, end: int, keep_sha256: bool,
                folder: str) -> tuple[int, int, str, int, bool] | None:
    """A job: the records of a gzip WARC file whose members begin from the first member
    at or after ``start`` up to ``end``, spooled as plain values to a file in ``folder``;
    (where reading began, where it stopped, the spool, how many records, whether all is
    well: the members one record each, no damage). None when no member begins there.
    Read a whole member at a time (members.read) as long as each holds one whole record;
    from one that does not, as a stream."""
    with open(path, "rb") as fh:
        begin = _first_member(fh, start, end)
        if begin is None:
            return None
        handle, name = tempfile.mkstemp(dir=folder, suffix=".records")
        last: list[Record] = []
        with os.fdopen(handle, "wb") as spool:

            def keep(record: Record) -> None:
                record.member = None  # an index into this part's members only
                pickle.dump(record.plain(keep_sha256), spool, protocol=pickle.HIGHEST_PROTOCOL)
                last[:] = [record]

            count, at, done = members.read(fh, begin, end, keep_sha256, keep)
            well = True
            if not done:
                fh.seek(at)
                stream = Stream(fh, True, base=at)
                result = FileResult("gzip")
                layout = Layout(stream, result, keep)
                for record in _records(stream, result, keep_sha256, stop=end):
                    layout.add(record)
                layout.close()
                well = layout.whole and not result.failures
                count += result.count
        stopped = last[0].offset + last[0].length if last and last[0].length else begin
        return begin, stopped, name, count, well


def read_spool(name: str, count: int) -> Iterator[Record]:
    """The records a part spooled (check_range), in order."""
    with open(name, "rb") as spool:
        for _ in range(count):
            yield Record.from_plain(pickle.load(spool))


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


class Layout:
    """Where each record lies, judged as the file is read. A record's length, and
    whether it has a gzip member of its own, are known once the record after it is read
    (or the file ends): each record is finished then, handed to the sink, and let go,
    with the gzip members before it; only counts stay."""

    def __init__(self, stream: Stream, result: FileResult, sink: Sink) -> None:
        self.stream, self.result, self.sink = stream, result, sink
        self.held: Record | None = None
        self.inside = self.spanning = 0
        self.whole = True  # every record whole in a gzip member of its own

    def add(self, record: Record) -> None:
        if self.held is not None:
            self._finish(self.held, record)
        self.held = record
        if record.member is not None:
            self.stream.forget(record.member)

    def close(self) -> None:
        if self.held is not None:
            self._finish(self.held, None)
            self.held = None
        stream, result = self.stream, self.result
        result.failures += stream.problems
        if not stream.gzipped:
            result.layout = "plain (uncompressed)"
            return
        if not self.inside and not self.spanning:
            result.layout = "gzip, one record per member"
            return
        if stream.members == 1 and result.count > 1:
            result.layout = "gzip over the whole file"
        else:
            result.layout = "gzip, members not aligned with records"
        result.failures.append(f"not one record per gzip member: "
                               f"{self.inside + self.spanning} records cannot be reached by "
                               "their offset")

    def _finish(self, record: Record, after: Record | None) -> None:
        stream = self.stream
        self.result.count += 1
        if not stream.gzipped:
            record.length = (after.start if after else stream.position) - record.start
            self.sink(record)
            return
        member = record.member
        if member is not None and not record.within and (after is None or after.member != member):
            end = stream.member_end(member)  # alone in its member: the member's length
            if end is not None:
                record.length = end - record.offset
        last = stream.member_of(record.end - 1) if record.end is not None else None
        if record.within:
            self.inside += 1
            record.failures.append(
                f"begins inside the gzip member at offset {record.offset}, {record.within} "
                "bytes in: no index can name where it begins (WARC 1.1, annex D: each record "
                "in a gzip member of its own, so that tools can seek to it)")
        if member is not None and last is not None and last != member:
            self.spanning += 1
            record.length = None
            record.failures.append(f"runs on from its gzip member at offset {record.offset} "
                                   f"into the member at offset {stream.offset_of(last)}: no "
                                   "index can name where it begins (WARC 1.1, annex D: each "
                                   "record in a gzip member of its own)")
        self.whole = self.whole and record.length is not None and not record.within \
            and last == member
        self.sink(record)


def _records(stream: Stream, result: FileResult, keep_sha256: bool,
             stop: int | None = None) -> Iterator[Record]:
    while True:
        try:
            record = _next(stream, keep_sha256, stop)
        except Damaged as exc:
            result.fail(f"the gzip member at offset {exc.offset} cannot be inflated ({exc}); "
                        "the record in it is lost")
            again = stream.resync(exc.offset)
            if again is None:
                return
            result.say(f"reading went on at the next gzip member, offset {again}")
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
