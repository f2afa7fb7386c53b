"""Reading a WARC file back for verification: every gzip member, with its digests.

One sequential pass per file with zlib and hashlib alone (warcio's parser is not
used here, and not imported): the file's sha256, then each member's place, length,
the WARC header fields verification compares, and the sha256 of its block.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..core.fields import byte_count

_CHUNK = 1024 * 1024
_STEP = 16 * 1024
_OUT = 4 * 1024 * 1024  # inflated bytes taken at a time from one member

# The header fields verification compares, as custody writes them (byte-exact names: any
# other change to a record's bytes already shows in its digests); the first one counts.
_COMPARED = [(b"\r\n" + name.encode() + b":", name) for name in (
    "WARC-Record-ID", "WARC-Type", "WARC-Target-URI", "WARC-Block-Digest", "Content-Length")]


def parse_headers(raw: bytes) -> dict[str, str]:
    """The compared fields of a WARC header block (without its closing blank line).

    Each is looked for as a whole line of its own (every line after the first follows a
    CRLF): a few searches, rather than parsing every line of every record.
    """
    headers = {}
    for line_start, name in _COMPARED:
        at = raw.find(line_start)
        if at >= 0:
            at += len(line_start)
            end = raw.find(b"\r\n", at)
            value = raw[at:] if end < 0 else raw[at:end]
            headers[name] = value.strip().decode("utf-8", errors="replace")
    return headers


def _int(value: str | None) -> int:
    """A Content-Length; 0 when it is not one (verify fails the field against its manifest
    entry, and the block against its digest)."""
    return byte_count(value) or 0


@dataclass
class Member:
    """One gzip member found in a WARC file, as it is on disk now."""

    offset: int
    length: int
    member_sha256: str | None  # None: not computed, the whole file being as sealed
    headers: dict[str, str]
    block_sha256: str | None
    error: str | None = None


@dataclass
class Scan:
    size: int
    sha256: str
    members: list[Member]
    error: str | None = None  # where reading stopped: the rest of the file is unreadable


class _MemberReader:
    """Parses one member's decompressed bytes: WARC headers, then the block's digest."""

    def __init__(self) -> None:
        self.head = b""
        self.headers: dict[str, str] | None = None
        self.block = hashlib.sha256()
        self.remaining = 0

    def feed(self, data: bytes) -> None:
        block: bytes | memoryview = data
        if self.headers is None:
            if self.head:  # the header block began in an earlier piece
                data = self.head + data
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.head = data
                return
            self.head = b""
            self.headers = parse_headers(data[:end])
            self.remaining = _int(self.headers.get("Content-Length"))
            block = memoryview(data)[end + 4 :]  # the block is hashed where it lies
        take = block[: self.remaining]
        self.block.update(take)
        self.remaining -= len(take)

    def problem(self) -> str | None:
        if self.headers is None:
            return "no WARC header block"
        if self.remaining:
            return f"block is {self.remaining} bytes shorter than its Content-Length"
        return None


def _walk(fh: IO[bytes], hash_members: bool,
          places: list[int] | None = None) -> tuple[list[Member], str | None]:
    """Every member of the file, in one pass.

    Where the bytes are not a valid gzip member, reading goes on from the next sealed record
    place (``places``, offsets) that holds one, so that damage to one record does not
    hide the state of the records after it; the unreadable ranges are reported.

    The inflater is fed small slices of a large buffer: what it leaves unused after a
    member ends is copied, and with whole buffers that copying would dwarf the work.
    """
    members: list[Member] = []
    problems: list[str] = []
    bad: tuple[int, str] | None = None  # an unreadable range starts here, for this reason
    position = begin = 0  # bytes consumed; where the current member began
    inflater = zlib.decompressobj(wbits=31)
    member_hash = hashlib.sha256() if hash_members else None
    reader = _MemberReader()
    view, at = memoryview(b""), 0
    while True:
        if at >= len(view):
            view, at = memoryview(fh.read(_CHUNK)), 0
            if not view:
                break
        piece = view[at : at + _STEP]
        try:
            data = inflater.decompress(piece)
        except zlib.error as exc:
            bad = bad or (begin, f"not a valid gzip member ({exc})")
            later = [p for p in places or [] if p > begin]
            if not later:
                break
            fh.seek(later[0])
            position = begin = later[0]
            view, at = memoryview(b""), 0
            inflater = zlib.decompressobj(wbits=31)
            member_hash = hashlib.sha256() if hash_members else None
            reader = _MemberReader()
            continue
        reader.feed(data)
        used = len(piece) - len(inflater.unused_data) if inflater.eof else len(piece)
        if member_hash is not None:
            member_hash.update(piece[:used])
        position += used
        at += used
        if inflater.eof:
            if bad is not None:
                problems.append(f"unreadable from offset {bad[0]} to {begin}: {bad[1]}")
                bad = None
            members.append(_member(begin, position - begin, member_hash.hexdigest()
                                   if member_hash is not None else None, reader))
            begin = position
            inflater = zlib.decompressobj(wbits=31)
            member_hash = hashlib.sha256() if hash_members else None
            reader = _MemberReader()
    if bad is not None:
        problems.append(f"unreadable from offset {bad[0]} to the end: {bad[1]}")
    elif position > begin:
        problems.append(f"file ends inside the record at offset {begin}")
    return members, "; ".join(problems) or None


def _member(offset: int, length: int, digest: str | None, reader: _MemberReader) -> Member:
    block = reader.block.hexdigest() if reader.headers is not None else None
    return Member(offset, length, digest, reader.headers or {}, block, reader.problem())


def contiguous(layout: list[tuple[int, int]]) -> bool:
    """Whether the places (offset, length) follow one another from the start of a file."""
    at = 0
    for offset, length in layout:
        if offset != at or length <= 0:
            return False
        at += length
    return bool(layout)


def read_members(path: Path, layout: list[tuple[int, int]], *, window: int = _CHUNK,
                 take: int = _OUT) -> list[Member] | None:
    """The members at the sealed places (offset, length), each inflated on its own.

    Each place must hold exactly one whole gzip member (its CRC and length checked):
    the same members a walk of those bytes finds, without searching for their ends.
    None when a place does not hold one, and the caller walks the file instead.
    ``window`` bytes of the file are read at a time, and at most ``take`` inflated bytes
    taken at a time: a member larger than either is read in parts.
    """
    members: list[Member] = []
    buffer = memoryview(bytearray(window))  # one buffer, read into again and again
    held, base = buffer[:0], 0
    with open(path, "rb", buffering=0) as fh:
        for offset, length in layout:
            end = offset + length
            if end > base + len(held) and length <= window:  # read on, whole members
                fh.seek(offset)
                held, base = buffer[: _read_into(fh, buffer)], offset
            member = None
            if end <= base + len(held):
                member = _whole_member(held[offset - base : end - base], offset, take)
            if member is None:  # larger than a window, or not inflated at once
                member = _streamed_member(fh, offset, length, window, take)
                if member is None:
                    return None
            members.append(member)
    return members


def _whole_member(piece: memoryview, offset: int, take: int) -> Member | None:
    """The member in ``piece`` inflated with one call. None when that cannot tell: the
    piece is not exactly one whole gzip member, or inflates to more than is taken at
    once; reading it a part at a time then tells the two apart."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(piece, take)
    except zlib.error:
        return None
    if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
        return None
    reader = _MemberReader()
    reader.feed(data)
    return _member(offset, len(piece), None, reader)


def _streamed_member(fh: IO[bytes], offset: int, length: int, window: int,
                     take: int) -> Member | None:
    """The member at ``offset`` read and inflated a part at a time, its output taken a
    bounded part at a time; None when the place does not hold exactly one member."""
    inflater = zlib.decompressobj(wbits=31)
    reader = _MemberReader()
    fh.seek(offset)
    left = length
    try:
        while left:
            piece = fh.read(min(window, left))
            if not piece or inflater.eof:
                return None  # the file ends, or the member ended before its place does
            left -= len(piece)
            reader.feed(inflater.decompress(piece, take))
            while inflater.unconsumed_tail:
                reader.feed(inflater.decompress(inflater.unconsumed_tail, take))
    except zlib.error:
        return None
    if not inflater.eof or inflater.unused_data:
        return None
    return _member(offset, length, None, reader)


def _read_into(fh: IO[bytes], buffer: memoryview) -> int:
    """Fill the buffer from the file, as far as the file goes; the bytes read."""
    filled = 0
    while filled < len(buffer) and (got := fh.readinto(buffer[filled:])):  # type: ignore[attr-defined]
        filled += got
    return filled


def file_sha256(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    buffer = memoryview(bytearray(_CHUNK))  # read into again and again: no new pages
    with open(path, "rb", buffering=0) as fh:
        while got := fh.readinto(buffer):
            digest.update(buffer[:got])
            size += got
    return size, digest.hexdigest()


def scan(path: Path, expected_sha256: str | None = None,
         layout: list[tuple[int, int]] | None = None) -> Scan:
    """Read a WARC file: its sha256, and every gzip member with its digests.

    When the file's sha256 is the expected (sealed) one, every member is byte for byte
    the sealed one, and its own digest is not computed again (``member_sha256`` None);
    the members are then read at the sealed places (``layout``) when they are given
    and hold. Otherwise the file is walked member by member to find what changed.
    """
    size, digest = file_sha256(path)
    if (digest == expected_sha256 and layout and contiguous(layout)
            and sum(length for _, length in layout) == size):
        members = read_members(path, layout)
        if members is not None:
            return Scan(size, digest, members)
    with open(path, "rb") as fh:
        found, error = _walk(fh, digest != expected_sha256,
                             [offset for offset, _ in layout or []])
    return Scan(size, digest, found, error)
