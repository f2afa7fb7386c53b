"""A file's bytes as one stream, inflated when it is gzip, with the place of each gzip
member kept, so that a record can be named by the offset tools use and its layout
(one record per member, or not) judged.

Damage inside gzip data does not end the reading: the stream says where it was, and
goes on from the next gzip member header it finds in the file.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Callable
from typing import IO

_READ = 1024 * 1024
_STEP = 16 * 1024  # compressed bytes given to the inflater at a time (bounds its output)
GZIP_MAGIC = b"\x1f\x8b\x08"


class Damaged(Exception):
    """The gzip data of the member at ``offset`` cannot be inflated."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset


class Stream:
    """Uncompressed bytes, read forward; ``position`` counts them from the start."""

    def __init__(self, fh: IO[bytes], gzipped: bool, base: int = 0) -> None:
        """``base``: the file's offset where ``fh`` is (reading may begin at a member)."""
        self.fh = fh
        self.gzipped = gzipped
        self.position = 0  # uncompressed offset of the next byte to be taken
        # where each gzip member begins, uncompressed, and its compressed offset in the
        # file: of the members from ``forgotten`` on (those before are let go: a file may
        # hold millions)
        self.starts: list[int] = []
        self.offsets: list[int] = []
        self.forgotten = 0
        self.problems: list[str] = []  # truncated members, and the like
        self._buf = bytearray()
        self._at = 0  # the next byte to be taken, in _buf
        self._raw = memoryview(b"")
        self._raw_at = 0
        self._file_at = base  # compressed offset of _raw[0]
        self._inflater: zlib._Decompress | None = None
        self._eof = False

    # -- reading ------------------------------------------------------------------------

    def _fill(self) -> bool:
        """More bytes into the buffer; False at the end of the file."""
        if self._at and self._at > len(self._buf) // 2:
            del self._buf[: self._at]
            self._at = 0
        while not self._eof:
            if self._raw_at >= len(self._raw):
                self._file_at += len(self._raw)
                self._raw, self._raw_at = memoryview(self.fh.read(_READ)), 0
                if not self._raw:
                    self._eof = True
                    if self._inflater is not None and not self._inflater.eof:
                        self.problems.append(f"the gzip member at offset {self.offsets[-1]} "
                                             "is truncated: the file ends inside it")
                    return False
            if not self.gzipped:
                self._buf += self._raw[self._raw_at :]
                self._raw_at = len(self._raw)
                return True
            if self._inflater is None or self._inflater.eof:
                self._inflater = zlib.decompressobj(wbits=31)
                self.starts.append(self.position + len(self._buf) - self._at)
                self.offsets.append(self._file_at + self._raw_at)
            piece = self._raw[self._raw_at : self._raw_at + _STEP]
            try:
                data = self._inflater.decompress(piece)
            except zlib.error as exc:
                raise Damaged(self.offsets[-1], str(exc)) from None
            used = len(piece) - len(self._inflater.unused_data) if self._inflater.eof \
                else len(piece)
            self._raw_at += used
            if data:
                self._buf += data
                return True
        return False

    def available(self) -> int:
        return len(self._buf) - self._at

    def peek(self, n: int) -> bytes:
        while self.available() < n and self._fill():
            pass
        return bytes(self._buf[self._at : self._at + n])

    def skip(self, n: int) -> None:
        self._at += n
        self.position += n

    def read_until(self, marker: bytes, limit: int) -> tuple[bytes, bool]:
        """The bytes up to the marker, and whether it was found (the marker is taken but
        not returned); when not found within ``limit`` bytes or before the end, what there
        was, left in place."""
        searched = 0
        while True:
            at = self._buf.find(marker, self._at + max(0, searched - len(marker)))
            if at >= 0 and at - self._at <= limit:
                data = bytes(self._buf[self._at : at])
                self.skip(at - self._at + len(marker))
                return data, True
            searched = self.available()
            if searched > limit or not self._fill():
                return bytes(self._buf[self._at : self._at + limit]), False

    def take(self, n: int, sink: Callable[[memoryview], None]) -> int:
        """Hand the next ``n`` bytes to ``sink`` a part at a time; how many there were."""
        done = 0
        while done < n:
            if not self.available() and not self._fill():
                break
            end = min(len(self._buf), self._at + n - done)
            with memoryview(self._buf) as view:
                sink(view[self._at : end])
            done += end - self._at
            self.position += end - self._at
            self._at = end
        return done

    def find(self, marker: bytes) -> bool:
        """Move on to the next place the marker is found (True), or to the end."""
        while True:
            at = self._buf.find(marker, self._at)
            if at >= 0:
                self.skip(at - self._at)
                return True
            keep = max(self._at, len(self._buf) - len(marker) + 1)
            self.skip(keep - self._at)
            if not self._fill():
                self.skip(self.available())
                return False

    # -- damage ---------------------------------------------------------------------------

    def resync(self, after: int) -> int | None:
        """Go on from the next gzip member header after compressed offset ``after``;
        its offset, or None when there is none."""
        self.fh.seek(after + 1)
        at, carry = after + 1, b""
        while True:
            chunk = self.fh.read(_READ)
            if not chunk:
                break
            data = carry + chunk
            found = data.find(GZIP_MAGIC)
            if found >= 0:
                start = at - len(carry) + found
                self.fh.seek(start)
                self._file_at, self._raw, self._raw_at = start, memoryview(b""), 0
                self._inflater = None
                del self._buf[:]
                self._at = 0
                self._eof = False
                return start
            carry = data[-2:]
            at += len(chunk)
        self._eof = True
        del self._buf[:]
        self._at = 0
        return None

    def consumed(self) -> int:
        """The file offset up to which compressed bytes have been taken."""
        return self._file_at + self._raw_at

    # -- places ---------------------------------------------------------------------------

    @property
    def members(self) -> int:
        """How many gzip members have begun."""
        return self.forgotten + len(self.starts)

    def forget(self, index: int) -> None:
        """Let go of the members before member ``index``: nothing will ask for them."""
        drop = index - self.forgotten
        if drop > 0:
            del self.starts[:drop], self.offsets[:drop]
            self.forgotten = index

    def member_of(self, position: int) -> int:
        """The index of the gzip member holding the uncompressed byte at ``position``."""
        return self.forgotten + bisect.bisect_right(self.starts, position) - 1

    def offset_of(self, index: int) -> int:
        """The compressed offset of member ``index`` (one not forgotten)."""
        return self.offsets[index - self.forgotten]

    def place(self, position: int) -> tuple[int, int]:
        """(compressed offset of the member, uncompressed offset within it); for a plain
        file, (position, 0)."""
        if not self.gzipped or not self.starts:
            return position, 0
        index = max(0, self.member_of(position) - self.forgotten)
        return self.offsets[index], position - self.starts[index]

    def member_end(self, index: int) -> int | None:
        """The compressed offset where member ``index`` ends, when it is known."""
        index -= self.forgotten
        if index + 1 < len(self.offsets):
            return self.offsets[index + 1]
        if self._inflater is not None and self._inflater.eof and index == len(self.offsets) - 1:
            return self._file_at + self._raw_at
        return None
