"""Where an HTTP message's head ends and its payload begins, as warcio reads a record.

A server may end its lines with a bare LF (RFC 9112 section 2.2 lets a recipient accept
one), and custody keeps the bytes as sent. warcio -- and with it ``warcio check``,
pywb and the tools built on them -- reads a block a line at a time, each line ended by
LF, decodes each line as UTF-8 (or, where that fails, ISO-8859-1), and ends the head at
the first line that is empty or white space once decoded, the status line included.
The payload digest custody writes is of what follows that line, so that a peer checking
custody's WARC files finds the digest it computes. An HTTP client frames the body
otherwise: it takes a line of white space for part of the field before it, and ends the
head at the first empty line (``wire_end``); what custody passes on to a browser, and
cuts at --max-bytes, is framed that way, as it was fetched.

custody before 2026-12-07 ended the head at the first CRLF CRLF instead. The two rules
agree on every head whose lines end in CRLF and hold no line of white space; where they
differ, the old end (``legacy_end``) lies after the new one, and ``custody check``
accepts a payload digest taken either way (saying which).
"""

from __future__ import annotations

import re

# a line that may be blank: ASCII white space and bytes that are not ASCII (which may
# decode to white space, U+00A0 or U+3000 say), ended by LF; ``_blank`` decides
_MAYBE_BLANK = re.compile(rb"^[\t\x0b\x0c\r\x1c-\x20\x80-\xff]*\n", re.MULTILINE)
_NOT_BLANK = re.compile(rb"[^\t\n\x0b\x0c\r\x1c-\x20\x80-\xff]")
_WIRE_END = re.compile(rb"\n\r?\n")
LEGACY = b"\r\n\r\n"
_PROBE = 8 * 1024


def _blank(line: bytes) -> bool:
    """Whether warcio takes this line (LF included) for the end of a head."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        text = line.decode("iso-8859-1")
    return not text.strip()


def head_end(data: bytes, start: int = 0) -> int | None:
    """The offset just past the blank line that ends the head in ``data`` (searched from
    ``start``, which must begin a line); None when no whole line in it is blank."""
    at = start
    while (line := _MAYBE_BLANK.search(data, at)) is not None:
        if _blank(line.group()):
            return line.end()
        at = line.end()
    return None


def wire_end(data: bytes | bytearray, start: int = 0) -> int | None:
    """The offset just past the empty line (LF or CRLF) that ends the head in ``data``,
    searched from ``start``: where an HTTP client (h11, which fetched it, and a browser)
    ends it, to frame the body. A line of white space alone is, to them, the
    continuation of the field before it; to warcio, the head's end (``head_end``)."""
    found = _WIRE_END.search(data, start)
    return None if found is None else found.end()


def legacy_end(data: bytes) -> int | None:
    """The offset just past the first CRLF CRLF: where custody ended a head before."""
    at = data.find(LEGACY)
    return None if at < 0 else at + len(LEGACY)


class HeadEnd:
    """Fed a block a piece at a time, from its first byte: where its head ends."""

    def __init__(self) -> None:
        self._line = b""  # the unfinished last line, while it may still be blank
        self._spoilt = False  # the unfinished last line holds a byte of something

    def feed(self, piece: bytes | memoryview) -> int | None:
        """The offset in ``piece`` at which the payload begins, once the head has ended
        in it; None while it has not (then feed the next piece)."""
        data = bytes(piece[:_PROBE])  # most heads end in the first few KB: no copy of more
        end = self._search(data)
        if end is None and len(piece) > len(data):
            data = bytes(piece)
            end = self._search(data)
        if end is None:
            last = data.rfind(b"\n")
            if last >= 0:
                self._line, self._spoilt = b"", False
            self._hold(data[last + 1 :])
        return end

    def _search(self, data: bytes) -> int | None:
        first = data.find(b"\n")
        if first < 0:
            return None
        line = self._line + data[: first + 1]
        if not self._spoilt and not _NOT_BLANK.search(line) and _blank(line):
            return first + 1
        return head_end(data, first + 1)

    def _hold(self, part: bytes) -> None:
        if self._spoilt:
            return
        if _NOT_BLANK.search(part):
            self._line, self._spoilt = b"", True
        else:
            self._line += part


class LegacyEnd:
    """Fed the block after the head has ended (from ``after``, its last bytes): where
    the first CRLF CRLF of the whole block ends, in the piece that holds it."""

    def __init__(self, after: bytes) -> None:
        self._tail = after[-3:]

    def feed(self, piece: bytes | memoryview) -> int | None:
        data = bytes(piece)
        at = (self._tail + data[:3]).find(LEGACY)  # across the joint
        if at >= 0:
            return at + len(LEGACY) - len(self._tail)
        at = data.find(LEGACY)
        if at >= 0:
            return at + len(LEGACY)
        self._tail = (self._tail + data)[-3:]
        return None
