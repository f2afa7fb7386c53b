"""Verification of the search index against the documents: rebuilt and compared.

The index (FTS5, contentless) holds folded and stemmed words by document; an edited or
injected entry would make ``custody search`` return a page for a word its text lacks,
or hide one. The index of the documents as they are is built again here, in a
temporary table with the same tokenizer, and the two are compared term by term,
position by position (fts5vocab), so that any difference is found and named.

The documents are compared in ranges of their ids (``ranges``), each a job of its own:
the work is shared among the workers, and what one job holds does not grow with the
archive. The ranges cover every id, so that an entry for no document falls in one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ..index.textindex import index_text
from .report import FAILED, PASSED, UNCHECKED, Report

_TOKENIZE = "unicode61 remove_diacritics 0"  # as db.ensure_schema makes the index


Range = tuple[int | None, int | None]  # document ids from, to (None: unbounded)
_RANGE_DOCUMENTS = 4000  # at most, in one job


def ranges(db_path: Path, capture_ids: list[str] | None, processes: int) -> list[Range]:
    """The ranges of document ids to compare, each in a job of its own: a few for each
    of the ``processes`` taking jobs, none larger than _RANGE_DOCUMENTS; one, unbounded,
    when the database is missing or cannot be read (the job then says so, or nothing)."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            sql, params = _documents(capture_ids, "id")
            ids = [row[0] for row in conn.execute(sql + " ORDER BY id", params)]
        finally:
            conn.close()
    except sqlite3.Error:
        return [(None, None)]
    size = min(_RANGE_DOCUMENTS, max(500, -(-len(ids) // max(1, processes * 3))))
    starts = ids[size::size]
    lows: list[int | None] = [None, *starts]
    highs: list[int | None] = [start - 1 for start in starts]
    return list(zip(lows, [*highs, None], strict=True))


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
        _compare(conn, report, capture_ids, between)
    except sqlite3.Error as exc:
        report.add("search-index", "search_index", UNCHECKED, f"cannot be compared ({exc})")
    finally:
        conn.close()


def _documents(capture_ids: list[str] | None, columns: str,
               between: Range = (None, None)) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if capture_ids is not None:
        where.append(f"capture_id IN ({','.join('?' * len(capture_ids))})")
        params += capture_ids
    where += _bounds("id", between, params)
    return f"SELECT {columns} FROM documents" + \
        (" WHERE " + " AND ".join(where) if where else ""), params


def _bounds(column: str, between: Range, params: list[Any]) -> list[str]:
    lo, hi = between
    found = []
    if lo is not None:
        found.append(f"{column} >= ?")
        params.append(lo)
    if hi is not None:
        found.append(f"{column} <= ?")
        params.append(hi)
    return found


def _compare(conn: sqlite3.Connection, report: Report, capture_ids: list[str] | None,
             between: Range) -> None:
    sql, params = _documents(capture_ids, "id, url, title, text, language", between)
    docs = conn.execute(sql, params).fetchall()
    conn.execute(f"CREATE VIRTUAL TABLE temp.expected USING fts5(title, body, content='', "
                 f"tokenize = '{_TOKENIZE}')")
    conn.executemany("INSERT INTO temp.expected (rowid, title, body) VALUES (?, ?, ?)",
                     ((i, index_text(title, lang), index_text(text, lang))
                      for i, _, title, text, lang in docs))
    conn.execute("CREATE VIRTUAL TABLE temp.have USING fts5vocab(main, search_index, instance)")
    conn.execute("CREATE VIRTUAL TABLE temp.want USING fts5vocab(temp, expected, instance)")
    urls = {i: url for i, url, *_ in docs}
    have_params: list[Any] = []
    scope = _bounds("doc", between, have_params)
    if capture_ids is not None:
        conn.execute("CREATE TEMP TABLE chosen (id INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO temp.chosen VALUES (?)", ((i,) for i in urls))
        scope.append("doc IN (SELECT id FROM temp.chosen)")
    have = "SELECT term, doc, col, offset FROM temp.have" + \
        (" WHERE " + " AND ".join(scope) if scope else "")
    want = "SELECT term, doc, col, offset FROM temp.want"
    extra = conn.execute(f"SELECT doc, term FROM ({have} EXCEPT {want}) ORDER BY doc LIMIT 50",
                         have_params).fetchall()
    missing = conn.execute(f"SELECT doc, term FROM ({want} EXCEPT {have}) ORDER BY doc "
                           "LIMIT 50", have_params).fetchall()
    problems = []
    for doc, terms in _by_doc(extra).items():
        where = urls.get(doc)
        what = f"document {doc} ({where})" if where else f"row {doc}, which is no document,"
        problems.append(f"{what} is indexed under words its text lacks: {', '.join(terms)}")
    for doc, terms in _by_doc(missing).items():
        problems.append(f"document {doc} ({urls.get(doc)}) is not indexed under words its "
                        f"text holds: {', '.join(terms)}")
    detail = "; ".join(problems[:10]) or f"{len(docs)} documents"
    report.add("search-index", _subject(between), FAILED if problems else PASSED, detail)


def _subject(between: Range) -> str:
    lo, hi = between
    if lo is None and hi is None:
        return "search_index"
    return f"search_index documents {'' if lo is None else lo}..{'' if hi is None else hi}"


def _by_doc(rows: list[tuple[int, str]]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for doc, term in rows:
        terms = out.setdefault(doc, [])
        if term not in terms and len(terms) < 5:
            terms.append(term)
    return out
