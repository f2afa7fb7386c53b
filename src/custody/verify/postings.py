"""A document's entries in the search index -- word, column, position -- as FTS5 holds
them, and as its text gives them.

fts5vocab reads an FTS5 index term by term, and narrows a read by term alone, so a
document's entries come from one pass over the index grouped by document: the positions
and the terms of a group as two lists joined by spaces (``Group``), the title's positions
below zero (HELD_POSITION), which ``columns`` puts in order of position, column by column
(``words`` does the same for one column's group). No tokenizer puts two words at one
position, leaves one empty or makes a word with a space in it; a group that does gives
None.

What a text gives is index_text's output as FTS5's tokenizer (unicode61) splits it.
``Tokenizer.split`` answers that without FTS5 when it is simply the output's split at
its spaces: when every character of it is one that unicode61 keeps in a word, as it is.
Which characters are is asked of FTS5 itself, a block of code points at a time, so that
the answer is the tokenizer's (its Unicode tables are older than Python's), not ours.
Otherwise ``Tokenizer.groups`` has FTS5 tokenize the texts in a temporary table.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable

Group = tuple[int, str, str]  # entries of a document (or a column): count, positions, terms
Texts = tuple[int, str, str]  # a document's id, and index_text of its title and text

COLUMNS = ("title", "body")  # the index's columns, as fts5vocab names them
# a held entry's position in a document's group, its column told by its sign: the title's
# word n at -1 - n, the body's at n; an entry of any other column at none (NULL, which
# group_concat leaves out, so that the group's count and its positions disagree)
HELD_POSITION = (f"CASE col WHEN '{COLUMNS[0]}' THEN -1 - offset "
                 f"WHEN '{COLUMNS[1]}' THEN offset END")
_TITLE_POSITIONS: list[str] = []  # "-1", "-2"...: the title's positions in a group
_BLOCK = 1024  # code points asked of the tokenizer at once
_POSITIONS: list[str] = []  # "0", "1"...: the positions of the longest text seen, as text
_POSITIONS_HELD = 100_000


def words(group: Group | None) -> list[str] | None:
    """A group's terms in order of position: one at each position from 0, else None."""
    if group is None:
        return []
    count, positions, terms = group
    at_positions, found = positions.split(" "), terms.split(" ")
    if len(at_positions) != count or len(found) != count:
        return None  # a term with a space in it
    at = dict(zip(at_positions, found, strict=True))
    if len(at) != count:
        return None  # two terms at one position
    try:
        return list(map(at.__getitem__, _in_order(count, _POSITIONS, 0)))
    except KeyError:  # a position missing
        return None


def columns(group: Group | None) -> tuple[list[str], list[str]] | None:
    """A document's group's terms (positions as HELD_POSITION gives them) in order of
    position, the title's and the body's: one at each position from 0 in each, else None."""
    if group is None:
        return [], []
    count, positions, terms = group
    if positions is None or terms is None:
        return None  # entries of other columns alone
    at_positions, found = positions.split(" "), terms.split(" ")
    if len(at_positions) != count or len(found) != count:
        return None  # a term with a space in it, or an entry of another column
    at = dict(zip(at_positions, found, strict=True))
    if len(at) != count:
        return None  # two terms at one position
    in_title = positions.count("-")
    try:
        return (list(map(at.__getitem__, _in_order(in_title, _TITLE_POSITIONS, -1))),
                list(map(at.__getitem__, _in_order(count - in_title, _POSITIONS, 0))))
    except KeyError:  # a position missing
        return None


def _in_order(count: int, held: list[str], first: int) -> list[str]:
    """Positions ``first``, ``first`` + 1 (or - 1)... ``count`` of them, as text."""
    step = -1 if first < 0 else 1
    if count > _POSITIONS_HELD:
        return [str(first + step * i) for i in range(count)]
    while len(held) < count:
        held.append(str(first + step * len(held)))
    return held[:count]


class Tokenizer:
    """FTS5's tokenizer on a connection, with temporary tables of its own."""

    def __init__(self, conn: sqlite3.Connection, tokenize: str) -> None:
        self.conn = conn
        for name, columns in (("probe", "text"), ("given", ", ".join(COLUMNS))):
            conn.execute(f"CREATE VIRTUAL TABLE temp.{name} USING fts5({columns}, "
                         f"content='', tokenize = '{tokenize}')")
            conn.execute(f"CREATE VIRTUAL TABLE temp.{name}_entries "
                         f"USING fts5vocab(temp, {name}, instance)")
        self._kept: set[str] = set()  # characters unicode61 keeps in a word as they are
        self._probed: set[int] = set()  # blocks of code points asked of it
        self._other = re.compile("[^ ]")  # a character not (yet) known to be kept

    def split(self, text: str, pieces: list[str] | None = None) -> list[str] | None:
        """The words FTS5 makes of ``text``, if they are its pieces between single spaces
        (``pieces``, when the caller joined them); None when FTS5 must be asked
        (``groups``)."""
        if not text:
            return []
        if text.startswith(" ") or text.endswith(" ") or "  " in text:
            return None
        while (found := self._other.search(text)) is not None:
            block = ord(found.group()) // _BLOCK
            if block in self._probed:
                return None  # a character unicode61 splits at, or changes
            self._probe(block)
        if pieces is not None and text.count(" ") == len(pieces) - 1:
            return pieces  # no piece with a space in it: they are text.split(" ")
        return text.split(" ")

    def _probe(self, block: int) -> None:
        self._probed.add(block)
        codes = [code for code in range(block * _BLOCK, (block + 1) * _BLOCK)
                 if code and not 0xD800 <= code <= 0xDFFF]  # no NUL, no lone surrogate
        self.conn.execute("INSERT INTO temp.probe (probe) VALUES ('delete-all')")
        self.conn.executemany("INSERT INTO temp.probe (rowid, text) VALUES (?, ?)",
                              ((code, chr(code)) for code in codes))
        self._kept.update(
            chr(doc) for doc, term, entries in self.conn.execute(
                "SELECT doc, min(term), count(*) FROM temp.probe_entries GROUP BY doc")
            if entries == 1 and term == chr(doc))
        self._other = re.compile(f"[^ {_ranges(self._kept)}]")

    def groups(self, texts: Iterable[Texts]) -> dict[tuple[int, str], Group]:
        """What FTS5 makes of each document's texts, by (document, column)."""
        self._fill(texts)
        return {(doc, col): (count, positions, terms)
                for doc, col, count, positions, terms in self.conn.execute(
                    "SELECT doc, col, count(*), group_concat(offset, ' '), "
                    "group_concat(term, ' ') FROM temp.given_entries GROUP BY doc, col")}

    def entries(self, texts: Iterable[Texts]) -> list[tuple[int, str, int, str]]:
        """Each entry FTS5 makes of the documents' texts: document, column, position, term."""
        self._fill(texts)
        return self.conn.execute("SELECT doc, col, offset, term FROM temp.given_entries"
                                 ).fetchall()

    def _fill(self, texts: Iterable[Texts]) -> None:
        self.conn.execute("INSERT INTO temp.given (given) VALUES ('delete-all')")
        self.conn.executemany(
            f"INSERT INTO temp.given (rowid, {', '.join(COLUMNS)}) VALUES (?, ?, ?)", texts)


def _ranges(chars: set[str]) -> str:
    """A regular expression's character class of ``chars``, in runs of code points."""
    codes = sorted(map(ord, chars))
    out = []
    start = 0
    for i in range(1, len(codes) + 1):
        if i == len(codes) or codes[i] != codes[i - 1] + 1:
            first, last = codes[start], codes[i - 1]
            out.append(f"\\U{first:08x}" + (f"-\\U{last:08x}" if last > first else ""))
            start = i
    return "".join(out)


def varints(blob: bytes | None) -> tuple[int, ...] | None:
    """FTS5's varints (SQLite's): a document's sizes, one a column (search_index_docsize);
    the index's totals (its averages record); None for what is not one."""
    if not isinstance(blob, bytes):
        return None
    values, value, length = [], 0, 0
    for byte in blob:
        length += 1
        if length == 9:
            values.append(value << 8 | byte)
            value, length = 0, 0
        elif byte & 0x80:
            value = value << 7 | byte & 0x7F
        else:
            values.append(value << 7 | byte)
            value, length = 0, 0
    return tuple(values) if not length else None
