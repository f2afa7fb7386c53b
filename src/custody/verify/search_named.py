"""The search index checked for named captures, without reading the whole index.

FTS5 keeps no list of a document's entries: reading them means reading every entry
(search_index.py does, for the whole archive). What FTS5 does answer quickly is a query
on one row: so each column of each of the captures' documents is asked for as one
phrase, anchored at the column's start (``^"w1 w2 ..."``), its words as index_text gives
them. The row matches only if the index holds each of those words at its position, in
order from the first: a word missing, moved or replaced fails it. And FTS5 keeps each
row's number of words per column (its docsize table), kept up by every insert and
delete: a word added to a document (which would make search find the page for it) makes
that number differ. Only an edit of the index's own pages, past FTS5's commands, could
add an entry both leave whole; the whole archive's pass (search_index.py) reads every
entry, and the README says so.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..index.textindex import index_text
from .report import FAILED, PASSED, UNCHECKED, Report

_COLUMNS = ("title", "body")


def check_named(db_path: Path, report: Report, capture_ids: list[str]) -> None:
    """Each document of these captures found in the index as its text gives it."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        report.add("search-index", "search_index", UNCHECKED, f"cannot be read ({exc})")
        return
    try:
        for cid in capture_ids:
            _capture(conn, cid, report)
    finally:
        conn.close()


def _capture(conn: sqlite3.Connection, cid: str, report: Report) -> None:
    subject = f"search_index documents of {cid}"
    try:
        docs = conn.execute("SELECT id, url, title, text, language FROM documents "
                            "WHERE capture_id = ? ORDER BY id", [cid]).fetchall()
        missing = []
        for doc_id, url, title, text, language in docs:
            sizes = _sizes(conn, doc_id)
            for number, (column, value) in enumerate(zip(_COLUMNS, (title, text), strict=True)):
                phrase = index_text(value, language).strip()
                count = _count(conn, phrase)
                if sizes is None or len(sizes) <= number or sizes[number] != count:
                    have = "none" if sizes is None or len(sizes) <= number else sizes[number]
                    missing.append(f"document {doc_id} ({url}): its {column} is indexed as "
                                   f"{have} words, its text gives {count}")
                elif phrase and not _holds(conn, doc_id, column, phrase):
                    missing.append(f"document {doc_id} ({url}): its {column} is not indexed "
                                   "as its text gives it")
    except sqlite3.Error as exc:
        report.add("search-index", subject, UNCHECKED, f"cannot be compared ({exc})", cid)
        return
    report.add("search-index", subject, FAILED if missing else PASSED,
               "; ".join(missing[:5]) or f"{len(docs)} documents, each word in its place",
               cid)


def _holds(conn: sqlite3.Connection, doc_id: int, column: str, phrase: str) -> bool:
    query = f'{column} : ^"' + phrase.replace('"', '""') + '"'
    row = conn.execute("SELECT rowid FROM search_index WHERE search_index MATCH ? "
                       "AND rowid = ?", [query, doc_id]).fetchone()
    return row is not None


def _count(conn: sqlite3.Connection, text: str) -> int:
    """How many words FTS5's tokenizer makes of the text: asked of FTS5 itself, in a
    temporary table with the index's tokenizer."""
    if not text:
        return 0
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.counted USING fts5(words, "
                 "tokenize = 'unicode61 remove_diacritics 0')")
    conn.execute("INSERT INTO temp.counted (rowid, words) VALUES (1, ?)", [text])
    try:
        row = conn.execute("SELECT sz FROM temp.counted_docsize WHERE id = 1").fetchone()
    finally:
        conn.execute("DELETE FROM temp.counted")
    sizes = _varints(row[0]) if row else []
    return sizes[0] if sizes else 0


def _sizes(conn: sqlite3.Connection, doc_id: int) -> list[int] | None:
    """The row's word count per column, from FTS5's docsize table (SQLite varints)."""
    row = conn.execute("SELECT sz FROM search_index_docsize WHERE id = ?", [doc_id]).fetchone()
    if row is None or not isinstance(row[0], bytes):
        return None
    return _varints(row[0])


def _varints(blob: bytes) -> list[int]:
    sizes: list[int] = []
    at = 0
    while at < len(blob):
        value = 0
        for step in range(9):
            byte = blob[at]
            at += 1
            if step == 8:
                value = (value << 8) | byte
                break
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        sizes.append(value)
    return sizes
