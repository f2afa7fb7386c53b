"""A gzip WARC read a whole member at a time, for speed: each member inflated in one call
and taken as one record -- header, block, closing CRLF CRLF -- where it lies.

This is the quick way through a file whose members each hold one well-formed record, as
the WARC spec asks and as most tools write them. Anything else -- a member that is not
one whole record, damage, a record larger than is taken at once -- ends it, and the
caller reads that part of the file as a stream (warcfile), which places every problem.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import IO

from . import headers
from .claims import Claims
from .record import Record

_WINDOW = 8 * 1024 * 1024  # compressed bytes held at a time
_TAKE = 16 * 1024 * 1024  # inflated bytes taken from one member at once
_STEP = 16 * 1024  # compressed bytes given to the inflater at a time


def read(fh: IO[bytes], begin: int, end: int, keep_sha256: bool,
         sink: Callable[[Record], None]) -> tuple[int, int, bool]:
    """The records of the members from offset ``begin`` (a member's start) up to the first
    member at or after ``end``, each handed to ``sink``: how many; where reading stopped;
    and whether it stopped there because it was done (True) or because a member was not
    one whole well-formed record."""
    count = 0
    at, start = begin, 0
    fh.seek(at)
    window = memoryview(fh.read(_WINDOW))
    base = at
    while at < end:
        if at - base > len(window) - 1024 * 1024 and len(window) == _WINDOW:
            fh.seek(at)
            window, base = memoryview(fh.read(_WINDOW)), at
        piece = window[at - base :]
        if not piece:
            return count, at, True  # the end of the file
        inflated = _inflate(piece)
        if inflated is None:
            return count, at, False
        data, length, whole = inflated
        if not whole:
            if len(window) == _WINDOW and at != base:  # it may fit a window of its own
                fh.seek(at)
                window, base = memoryview(fh.read(_WINDOW)), at
                continue
            return count, at, False  # larger than is taken at once, or truncated
        record = _record(data, at, length, start, keep_sha256)
        if record is None:
            return count, at, False
        sink(record)
        count += 1
        at += length
        start += len(data)
    return count, at, True


def _inflate(piece: memoryview) -> tuple[bytes, int, bool] | None:
    """The member at the start of ``piece``: its inflated bytes, its length, and whether it
    ended within the piece; None when it cannot be inflated, or inflates to more than is
    taken at once. Fed a slice at a time: what the inflater leaves unused when a member
    ends is copied, and handed the whole window it would copy megabytes per record."""
    inflater = zlib.decompressobj(wbits=31)
    parts, size, used = [], 0, 0
    try:
        while not inflater.eof and used < len(piece):
            chunk = piece[used : used + _STEP]
            data = inflater.decompress(chunk)
            used += len(chunk) - len(inflater.unused_data)
            parts.append(data)
            size += len(data)
            if size > _TAKE:
                return None
    except zlib.error:
        return None
    return b"".join(parts), used, inflater.eof


def _record(data: bytes, offset: int, length: int, start: int,
            keep_sha256: bool) -> Record | None:
    """The member's one record; None when the member is anything else."""
    cut = data.find(b"\r\n\r\n")
    if cut < 0:
        return None
    header = headers.parse(data[:cut])
    if header is None or header.content_length is None:
        return None
    size = header.content_length
    if len(data) != cut + 4 + size + 4 or data[cut + 4 + size :] != b"\r\n\r\n":
        return None
    record = Record(start, offset, 0, header, length=length, end=start + cut + 4 + size)
    record.failures += header.failures
    record.notes += header.notes
    claims = Claims(record, header, keep_sha256)
    with memoryview(data) as view:
        claims.feed(view[cut + 4 : cut + 4 + size])
    claims.fed()
    claims.compare()
    return record
