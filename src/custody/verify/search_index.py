"""Verification of the search index against the documents: rebuilt and compared.

The index (FTS5, contentless) holds folded and stemmed words by document; an edited or
injected entry would make ``custody search`` return a page for a word its text lacks,
or hide one. The index of the documents as they are is built again here, in a
temporary table with the same tokenizer, and the two are compared term by term,
position by position (fts5vocab), so that any difference is found and named.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..index.textindex import index_text
from .report import FAILED, PASSED, UNCHECKED, Report

_TOKENIZE = "unicode61 remove_diacritics 0"  # as db.ensure_schema makes the index


def check_search_index(db_path: Path, report: Report,
                       capture_ids: list[str] | None = None) -> None:
    """Compare the index with the documents (of the given captures, or all of them)."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        report.add("search-index", "search_index", UNCHECKED, f"cannot be read ({exc})")
        return
    try:
        _compare(conn, report, capture_ids)
    except sqlite3.Error as exc:
        report.add("search-index", "search_index", UNCHECKED, f"cannot be compared ({exc})")
    finally:
        conn.close()


def _compare(conn: sqlite3.Connection, report: Report, capture_ids: list[str] | None) -> None:
    sql = "SELECT id, url, title, text, language FROM documents"
    params: list[str] = []
    if capture_ids is not None:
        sql += f" WHERE capture_id IN ({','.join('?' * len(capture_ids))})"
        params = capture_ids
    docs = conn.execute(sql, params).fetchall()
    conn.execute(f"CREATE VIRTUAL TABLE temp.expected USING fts5(title, body, content='', "
                 f"tokenize = '{_TOKENIZE}')")
    conn.executemany("INSERT INTO temp.expected (rowid, title, body) VALUES (?, ?, ?)",
                     ((i, index_text(title, lang), index_text(text, lang))
                      for i, _, title, text, lang in docs))
    conn.execute("CREATE VIRTUAL TABLE temp.have USING fts5vocab(main, search_index, instance)")
    conn.execute("CREATE VIRTUAL TABLE temp.want USING fts5vocab(temp, expected, instance)")
    urls = {i: url for i, url, *_ in docs}
    scope = "" if capture_ids is None else \
        " WHERE doc IN (SELECT id FROM temp.chosen)"
    if capture_ids is not None:
        conn.execute("CREATE TEMP TABLE chosen (id INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO temp.chosen VALUES (?)", ((i,) for i in urls))
    extra = conn.execute(
        f"SELECT doc, term FROM (SELECT term, doc, col, offset FROM temp.have{scope} EXCEPT "
        "SELECT term, doc, col, offset FROM temp.want) ORDER BY doc LIMIT 50").fetchall()
    missing = conn.execute(
        f"SELECT doc, term FROM (SELECT term, doc, col, offset FROM temp.want EXCEPT "
        f"SELECT term, doc, col, offset FROM temp.have{scope}) ORDER BY doc LIMIT 50").fetchall()
    problems = []
    for doc, terms in _by_doc(extra).items():
        where = urls.get(doc)
        what = f"document {doc} ({where})" if where else f"row {doc}, which is no document,"
        problems.append(f"{what} is indexed under words its text lacks: {', '.join(terms)}")
    for doc, terms in _by_doc(missing).items():
        problems.append(f"document {doc} ({urls.get(doc)}) is not indexed under words its "
                        f"text holds: {', '.join(terms)}")
    detail = "; ".join(problems[:10]) or f"{len(docs)} documents"
    report.add("search-index", "search_index", FAILED if problems else PASSED, detail)


def _by_doc(rows: list[tuple[int, str]]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for doc, term in rows:
        terms = out.setdefault(doc, [])
        if term not in terms and len(terms) < 5:
            terms.append(term)
    return out
