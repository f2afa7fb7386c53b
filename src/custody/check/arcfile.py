"""Reading an ARC file (Internet Archive's format before WARC, versions 1 and 2), plain
or gzip per record: each record's header line, its length, the newline after it.

ARC records carry no digests; what can be checked is the framing and the fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from ..core.fields import arc_date, byte_count
from . import headers
from .blocks import BlockSink
from .record import FileResult, Record
from .stream import Damaged, Stream

_LINE_LIMIT = 64 * 1024


def check(fh: IO[bytes], *, gzipped: bool, sink: Callable[[Record], None],
          keep_sha256: bool = False) -> FileResult:
    """Every record, each handed to ``sink`` once its place is judged (its length, and
    whether it shares a gzip member, need the record after it); then let go."""
    stream = Stream(fh, gzipped)
    result = FileResult("gzip" if gzipped else "plain")
    fields = 5
    held: Record | None = None
    before: int | None = None  # the gzip member of the record before the one held
    while True:
        try:
            found = _next(stream, keep_sha256, fields, first=not result.count and held is None)
        except Damaged as exc:
            result.fail(f"the gzip member at offset {exc.offset} cannot be inflated ({exc}); "
                        "the record in it is lost")
            if stream.resync(exc.offset) is None:
                break
            continue
        if found is None:
            break
        record, declared = found
        fields = declared or fields  # the version block says how many fields follow
        record.member = stream.member_of(record.start) if gzipped else None
        if held is not None:
            _finish(stream, result, held, before, record, sink)
            before = held.member
        held = record
        if record.member is not None:
            stream.forget(record.member)
        if record.lost:
            break
    if held is not None:
        _finish(stream, result, held, before, None, sink)
    result.failures += stream.problems
    result.layout = "ARC, gzip per record" if gzipped else "ARC, plain"
    result.notes.append("ARC records carry no digests: their bytes are checked for framing "
                        "and fields only")
    return result


def _finish(stream: Stream, result: FileResult, record: Record, before: int | None,
            after: Record | None, sink: Callable[[Record], None]) -> None:
    result.count += 1
    if stream.gzipped:
        end = stream.member_end(record.member) if record.member is not None else None
        alone = before != record.member and (after is None or after.member != record.member)
        record.length = end - record.offset if end is not None and alone else None
        if not alone:
            record.failures.append(f"shares the gzip member at offset {record.offset} with "
                                   "another record: tools cannot seek to it")
    else:
        record.length = (after.start if after else stream.position) - record.start
    sink(record)


def _next(stream: Stream, keep_sha256: bool, fields: int,
          first: bool) -> tuple[Record, int | None] | None:
    """The next record, and for the version block, the number of fields it declares."""
    while stream.peek(1) == b"\n":
        stream.skip(1)
    if not stream.peek(1):
        return None
    start = stream.position
    offset, within = stream.place(start)
    line, found = stream.read_until(b"\n", _LINE_LIMIT)
    record = Record(start, offset, within, None, lost=True)
    parts = line.decode("utf-8", errors="replace").split(" ")
    if not found:
        record.failures.append("truncated: the file ends inside a header line")
        return record, None
    if first and not line.startswith(b"filedesc://"):
        record.failures.append(f"not an ARC file: begins {line[:40]!r}")
        return record, None
    length = byte_count(parts[-1])
    if len(parts) not in (5, 10) or length is None:
        record.failures.append(f"not an ARC header line ({len(parts)} fields, the last not a "
                               f"length): {line[:80]!r}")
        return record, None
    if not first and len(parts) != fields:
        record.failures.append(f"{len(parts)} fields where the version block declares {fields}")
    url, ip, date, content_type = parts[0], parts[1], parts[2], parts[3]
    moment = arc_date(date)
    if moment is None:
        record.failures.append(f"archive date {date[:40]!r} is not YYYYMMDDhhmmss")
    iso = moment.isoformat()[:19] + "Z" if moment else ""
    record.header = headers.Header("ARC", [
        ("WARC-Type", "warcinfo" if first else "response"), ("WARC-Target-URI", url),
        ("WARC-Date", iso), ("WARC-IP-Address", ip), ("Content-Type", content_type),
        ("Content-Length", str(length)), ("WARC-Record-ID", f"<arc:{offset}>")])
    http = not first and url.lower().startswith(("http:", "https:"))
    sink = BlockSink(None, None, http, keep_sha256)
    body = bytearray()

    def keep(view: memoryview) -> None:  # the version block is read for its version
        body.extend(view)
        sink.feed(view)

    got = stream.take(length, keep if first else sink.feed)
    record.block_sha256 = sink.block_sha256_hex()
    record.payload_sha256 = sink.payload_sha256.hexdigest() if sink.payload_sha256 else None
    record.http_status, record.http_type = sink.status, next(
        (v for k, v in sink.headers if k.lower() == "content-type"), None)
    if got < length:
        record.failures.append(f"truncated: the file ends {length - got} bytes before the "
                               f"end of the record (length {length})")
        return record, None
    declared = None
    if first:
        version = body.split(b"\n", 1)[0].split(b" ")[0]
        declared = 10 if version == b"2" else 5
        if version not in (b"1", b"2"):
            record.failures.append(f"version block declares version {version!r}, not 1 or 2")
    tail = stream.peek(1)
    if tail not in (b"\n", b""):
        record.failures.append(f"not followed by a newline: its length is wrong, or it is "
                               f"truncated (next bytes {stream.peek(8)!r})")
        return record, None
    record.lost = False
    record.end = stream.position
    return record, declared
