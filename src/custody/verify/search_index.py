"""Verification of the search index against the documents: every entry compared.

The index (FTS5, contentless) holds folded and stemmed words by document; an edited or
injected entry would make ``custody search`` return a page for a word its text lacks,
or hide one. Each document's text is folded and stemmed again (index_text) and its
entries -- word, column, position -- compared with the index's, so that any entry the
texts do not give, and any they give that is missing, is found and named.

FTS5 keeps the index by term, and fts5vocab narrows a read by term alone: reading one
document's entries means reading them all. So a job makes one pass over the index,
grouped by document in SQLite's sorter (on disk past a bound, like the temporary
tables; a column's positions told apart by their sign, postings.HELD_POSITION), and
walks those groups in step with the documents, each text tokenized once: the work is
linear in the entries, and what a job holds is one document's. The jobs (``ranges``)
share the documents by id, one for each process that takes jobs: each pass reads every
entry, sorting only its own.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .postings import (
    COLUMNS,
    HELD_POSITION,
    Group,
    Texts,
    Tokenizer,
    columns,
    varints,
    words,
)
from .report import FAILED, PASSED, UNCHECKED, Report

_TOKENIZE = "unicode61 remove_diacritics 0"  # as db.ensure_schema makes the index

Range = tuple[int | None, int | None]  # document ids from, to (None: unbounded)
_RANGE_DOCUMENTS = 500  # at least, for a job of their own: each job reads every entry
_SORTER_KIB = 4 * 1024  # memory for the sorter (cache_size); past it, temporary files
_PENDING_CHARS = 4_000_000  # of texts FTS5 tokenizes at once
_NAMED = 10  # documents named in a report, with their entries that differ


def ranges(db_path: Path, capture_ids: list[str] | None, processes: int) -> list[Range]:
    """The ranges of document ids to compare, each in a job of its own: one for each of
    the ``processes`` taking jobs (fewer for few documents), the ids shared evenly; one,
    unbounded, when the database is missing or cannot be read (the job then says so).
    The first and last are open, so that an entry for no document falls in one."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            where, params = _chosen(conn, capture_ids)
            count, low, high = conn.execute(
                f"SELECT count(*), min(id), max(id) FROM documents {where}", params).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return [(None, None)]
    parts = max(1, min(processes, count // _RANGE_DOCUMENTS))
    if parts == 1:
        return [(None, None)]
    starts = [low + (high - low + 1) * i // parts for i in range(1, parts)]
    return list(zip([None, *starts], [*(start - 1 for start in starts), None], strict=True))


def check_search_index(db_path: Path, report: Report,
                       capture_ids: list[str] | None = None,
                       between: Range = (None, None)) -> None:
    """Compare the index with the documents (of the given captures, or all of them)
    whose ids are ``between`` (inclusive)."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        report.add("search-index", "search_index", UNCHECKED, f"cannot be read ({exc})")
        return
    try:
        conn.execute("PRAGMA temp_store = FILE")
        conn.execute(f"PRAGMA cache_size = -{_SORTER_KIB}")
        _compare(conn, report, capture_ids, between)
    except sqlite3.Error as exc:
        report.add("search-index", _subject(between), UNCHECKED,
                   f"cannot be compared ({exc})")
    finally:
        conn.close()


def _chosen(conn: sqlite3.Connection, capture_ids: list[str] | None,
            between: Range = (None, None), column: str = "id") -> tuple[str, list[Any]]:
    """A WHERE clause for the documents in range (of the chosen captures), naming their
    ids as ``column``; the captures go in a temporary table, however many."""
    where: list[str] = []
    params: list[Any] = []
    if capture_ids is not None:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS chosen (id TEXT PRIMARY KEY)")
        conn.executemany("INSERT OR IGNORE INTO temp.chosen VALUES (?)",
                         ((c,) for c in capture_ids))
        where.append(f"{column} IN (SELECT id FROM documents WHERE capture_id IN "
                     "(SELECT id FROM temp.chosen))" if column != "id" else
                     "capture_id IN (SELECT id FROM temp.chosen)")
    lo, hi = between
    if lo is not None:
        where.append(f"{column} >= ?")
        params.append(lo)
    if hi is not None:
        where.append(f"{column} <= ?")
        params.append(hi)
    return ("WHERE " + " AND ".join(where) if where else ""), params


class _Differences:
    """The documents whose entries differ: counted, the first few kept to be named; and
    those whose size (the words of each column, which a search ranks by) differs."""

    def __init__(self) -> None:
        self.count = 0
        self.named: dict[int, str | None] = {}  # document id -> its url (None: no document)
        self.sizes = 0
        self.sized: list[str] = []

    def add(self, doc: int, url: str | None) -> None:
        self.count += 1
        if len(self.named) < _NAMED:
            self.named[doc] = url

    def size(self, doc: int, url: str, kept: bytes | None, given: Sequence[list[str] | None]
             ) -> None:
        """Compare the size the index keeps for a document with the words its text gives."""
        counts = tuple(len(g or ()) for g in given)
        held = varints(kept)
        if held == counts:
            return
        self.sizes += 1
        if len(self.sized) < _NAMED:
            said = "keeps no size for it (a search that finds it fails)" if held is None \
                else f"keeps its size as {' and '.join(map(str, held))} words"
            self.sized.append(f"document {doc} ({url}): the index {said}, where its text "
                              f"gives {counts[0]} and {counts[1]} (title, body)")

    def problems(self, named: list[str]) -> list[str]:
        """What differs, said: the entries named, then the sizes."""
        more = self.count - len(self.named)
        said = named + ([f"and {more} more documents" if named else f"{more} documents"]
                        if more else [])
        more_sized = self.sizes - len(self.sized)
        return said + self.sized + ([f"and {more_sized} more documents' sizes"]
                                    if more_sized else [])


def _compare(conn: sqlite3.Connection, report: Report, capture_ids: list[str] | None,
             between: Range) -> None:
    conn.execute("CREATE VIRTUAL TABLE temp.held USING fts5vocab(main, search_index, instance)")
    tokenizer = Tokenizer(conn, _TOKENIZE)  # its tables made before any read is under way
    in_range, params = _chosen(conn, capture_ids, between, "doc")
    # one group a document, its columns told apart by their positions (HELD_POSITION):
    # the sorter's key an integer alone, and half as many groups
    groups = conn.execute(
        f"SELECT doc, count(*), group_concat({HELD_POSITION}, ' '), group_concat(term, ' ') "
        f"FROM temp.held {in_range} GROUP BY doc ORDER BY doc", params)
    documents_in, params = _chosen(conn, capture_ids, between)
    indexed_as = _indexed_as(conn)
    documents = conn.execute(f"SELECT id, url, title, text, language, (SELECT sz FROM "
                             f"search_index_docsize AS s WHERE s.id = documents.id) FROM "
                             f"documents {documents_in} ORDER BY id", params)
    differ = _Differences()
    pending: list[tuple[Texts, str, Group | None, bytes | None]] = []  # for FTS5 to split
    checked = waiting = 0
    for doc, document, held in _in_step(documents, groups):
        if document is None:
            differ.add(doc, None)
            continue
        checked += 1
        # (its tables and patterns made only where there is a document to compare)
        from ..index.textindex import index_words

        _, url, title, text, language, size = document
        language = indexed_as(language)
        found = (index_words(title, language), index_words(text, language))
        texts = (doc, " ".join(found[0]), " ".join(found[1]))
        given = [tokenizer.split(t, f) for t, f in zip(texts[1:], found, strict=True)]
        if any(g is None for g in given):
            pending.append((texts, url, held, size))
            waiting += len(texts[1]) + len(texts[2])
            if waiting > _PENDING_CHARS:
                _settle(tokenizer, pending, differ)
                waiting = 0
            continue
        if columns(held) != tuple(given):
            differ.add(doc, url)  # (its size too, most likely: the entries say more)
        else:
            differ.size(doc, url, size, given)
    _settle(tokenizer, pending, differ)
    # a difference the entries' groups showed is read again in full, and named
    problems = differ.problems(_name(conn, tokenizer, differ) if differ.count else [])
    if not problems:  # (read in full, the entries were those the texts give)
        report.add("search-index", _subject(between), PASSED, f"{checked} documents")
        return
    report.add("search-index", _subject(between), FAILED, "; ".join(problems))


def _indexed_as(conn: sqlite3.Connection) -> Callable[[str | None], str | None]:
    """A document's language as the index was made for it: Arabic as the database's
    schema stemmed it (textindex.ARABIC_BEFORE_7, before schema 7: a database opened
    only for reading since keeps the entries it was made with)."""
    from ..index.textindex import ARABIC_BEFORE_7

    if conn.execute("PRAGMA user_version").fetchone()[0] >= 7:
        return lambda language: language
    return lambda language: ARABIC_BEFORE_7 if (language or "").split("-")[0].lower() == "ar" \
        else language


def _in_step(documents: Iterator[tuple[Any, ...]], groups: Iterator[tuple[Any, ...]]
             ) -> Iterator[tuple[int, tuple[Any, ...] | None, Group | None]]:
    """Each document id that either the documents or the index's groups (both in order
    of it) have: its document row (None if it is no document's) and its group."""
    document, group = next(documents, None), next(groups, None)
    while document is not None or group is not None:
        doc = min(row[0] for row in (document, group) if row is not None)
        held: Group | None = None
        if group is not None and group[0] == doc:
            held = group[1:]
            group = next(groups, None)
        row = None
        if document is not None and document[0] == doc:
            row, document = document, next(documents, None)
        yield doc, row, held


def _settle(tokenizer: Tokenizer,
            pending: list[tuple[Texts, str, Group | None, bytes | None]],
            differ: _Differences) -> None:
    """Compare the documents whose words FTS5 had to make itself, and forget them."""
    given = tokenizer.groups(texts for texts, _, _, _ in pending)
    for (doc, *_), url, held, size in pending:
        made = tuple(words(given.get((doc, col))) for col in COLUMNS)
        if columns(held) != made:
            differ.add(doc, url)
        else:
            differ.size(doc, url, size, made)
    pending.clear()


def _name(conn: sqlite3.Connection, tokenizer: Tokenizer, differ: _Differences) -> list[str]:
    """What differs in the first documents found: their entries in the index and those
    their texts give, read in full (one more pass over the index)."""
    from ..index.textindex import index_text

    ids = list(differ.named)
    marks = ",".join("?" * len(ids))
    held = Counter(conn.execute(f"SELECT doc, col, offset, term FROM temp.held "
                                f"WHERE doc IN ({marks})", ids))
    indexed_as = _indexed_as(conn)
    texts = [(doc, index_text(title, indexed_as(language)), index_text(text, indexed_as(language)))
             for doc, title, text, language in conn.execute(
                 f"SELECT id, title, text, language FROM documents WHERE id IN ({marks})", ids)]
    given = Counter(tokenizer.entries(texts))
    extras, absent = held - given, given - held
    problems = []
    for doc, url in differ.named.items():
        extra = _listed(e for e in extras if e[0] == doc)
        missing = _listed(e for e in absent if e[0] == doc)
        if url is None:
            problems.append(f"row {doc}, which is no document, is indexed under {extra}")
            continue
        said = [f"is indexed under {extra}, which its text does not give"] if extra else []
        said += [f"is not indexed under {missing}, which its text gives"] if missing else []
        if said:
            problems.append(f"document {doc} ({url}) " + " and ".join(said))
    return problems


def _listed(entries: Iterator[tuple[int, str, int, str]], most: int = 5) -> str:
    found = sorted(entries, key=lambda e: (e[1] != "title", e[2]))
    shown = ", ".join(f"{_short(term)} ({col} word {offset})"
                      for _, col, offset, term in found[:most])
    return shown + (f" and {len(found) - most} more" if len(found) > most else "")


def _short(term: str, most: int = 40) -> str:
    """A term as a report shows it: an index made otherwise may hold a whole text as one."""
    return term if len(term) <= most else term[:most] + "…"


def _subject(between: Range) -> str:
    lo, hi = between
    if lo is None and hi is None:
        return "search_index"
    return f"search_index documents {'' if lo is None else lo}..{'' if hi is None else hi}"
