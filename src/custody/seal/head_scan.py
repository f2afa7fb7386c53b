"""A manifest's head read from its file without holding its lists.

An import of 300,000 records seals a manifest of 200 MB; parsed whole it takes five
times that. What sealing needs of it -- its hashes, size and head (chain, settings,
what was imported) -- is read here in one pass, a chunk at a time: each list item is
decoded and dropped, so that what is held is one chunk and one item, whatever the
manifest's size.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .held import LISTS

CHUNK = 1 << 20
_WHITESPACE = " \t\r\n"


class _Malformed(ValueError):
    pass


@dataclass
class Scanned:
    sha256: str
    leaf_hash: bytes  # RFC 9162: sha256 of 0x00 and the bytes
    size: int
    head: dict[str, Any] | None  # None: not a JSON object
    problem: str | None = None


class _Reader:
    """The file's text, decoded a chunk at a time; what was consumed is let go."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.text = ""
        self.pos = 0
        self.eof = False
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.json = json.JSONDecoder()
        self.sha256 = hashlib.sha256()
        self.leaf = hashlib.sha256(b"\x00")
        self.size = 0

    def more(self, at_least: int = CHUNK) -> bool:
        if self.eof:
            return False
        data = self.fh.read(max(CHUNK, at_least))
        self.sha256.update(data)
        self.leaf.update(data)
        self.size += len(data)
        self.eof = not data
        self.text = self.text[self.pos:] + self.decoder.decode(data, final=self.eof)
        self.pos = 0
        return True

    def finish(self) -> None:
        while self.more():
            pass

    def peek(self) -> str:
        """The next character after whitespace ('' at the end)."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text) or not self.more():
                return self.text[self.pos:self.pos + 1]

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _Malformed(f"expected {char!r} at byte {self.size - len(self.text) + self.pos}")
        self.pos += 1

    def value(self) -> Any:
        """One JSON value; a value cut at the chunk's end is read again with more text (a
        number is taken only when something follows it)."""
        self.peek()
        want = CHUNK
        while True:
            try:
                found, end = self.json.raw_decode(self.text, self.pos)
                if end < len(self.text) or self.eof:
                    self.pos = end
                    return found
            except ValueError:
                if self.eof:
                    raise
            if not self.more(want):
                raise _Malformed("the file ends inside a value")
            want *= 2


def scan(path: Path) -> Scanned:
    """The manifest's hashes, size and head; a problem when it is no JSON object."""
    with open(path, "rb") as fh:
        reader = _Reader(fh)
        try:
            head = _object(reader)
            if reader.peek() != "":
                raise _Malformed("extra data after the object")
            problem = None
        except (ValueError, UnicodeDecodeError) as exc:
            head, problem = None, f"not valid JSON: {exc}"
        reader.finish()
    return Scanned(reader.sha256.hexdigest(), reader.leaf.digest(), reader.size, head, problem)


def _object(reader: _Reader) -> dict[str, Any]:
    reader.expect("{")
    head: dict[str, Any] = {}
    if reader.peek() == "}":
        reader.pos += 1
        return head
    while True:
        key = reader.value()
        if not isinstance(key, str):
            raise _Malformed("an object's key is not a string")
        reader.expect(":")
        if key in LISTS and reader.peek() == "[":
            _skip_list(reader)
        else:
            head[key] = reader.value()
        if reader.peek() == ",":
            reader.pos += 1
            continue
        reader.expect("}")
        return head


def _skip_list(reader: _Reader) -> None:
    reader.expect("[")
    if reader.peek() == "]":
        reader.pos += 1
        return
    while True:
        reader.value()  # decoded (so that bad JSON shows) and dropped
        if reader.peek() == ",":
            reader.pos += 1
            continue
        reader.expect("]")
        return
