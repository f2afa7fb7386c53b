"""The search index as a search reads it: its definition, its settings and FTS5's own
structure.

The comparison with the documents (search_index.py) reads the index's entries through
fts5vocab, which walks the leaves of its segments. A search does not: it finds a word's
leaf through the segments' b-tree of terms (``search_index_idx``), and ranks by the
sizes kept for each document (``search_index_docsize``) under the ranking kept in
``search_index_config``. An edit there leaves every entry in place while a search misses
a word, a page, or fails. FTS5's ``integrity-check`` checks the structure -- each
segment, its b-tree against its leaves, the entries' checksum -- but it is asked for
with an INSERT, and verify reads custody.db read-only: so it runs on a copy of the
index's tables in SQLite's temporary database, made under custody's own definition of
the index (never the one the file holds, which is compared with it). The sizes kept for
each document are compared with its text in search_index.py; here, that none is kept
for a row that is no document.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .postings import COLUMNS, varints
from .report import FAILED, PASSED, UNCHECKED, Report

# as index/db.py makes the index, and what it keeps in its settings
DEFINITION = ('CREATE VIRTUAL TABLE search_index USING fts5(title, body, content="", '
              'tokenize = "unicode61 remove_diacritics 0")')
SETTINGS = {"rank": "bm25(5.0, 1.0)", "version": 4}
_SHADOWS = ("data", "idx", "docsize", "config")
_SUBJECT = "search_index structure"
_SORTER_KIB = 4 * 1024


def check_index_structure(db_path: Path, report: Report) -> None:
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        report.add("search-index", _SUBJECT, UNCHECKED, f"cannot be read ({exc})")
        return
    try:
        conn.execute("PRAGMA temp_store = FILE")  # a copy as large as the index
        conn.execute(f"PRAGMA cache_size = -{_SORTER_KIB}")
        problems = _problems(conn)
    except sqlite3.Error as exc:
        report.add("search-index", _SUBJECT, FAILED, f"cannot be read as an FTS5 index "
                   f"({exc}): custody search fails or misses what is indexed")
        return
    finally:
        conn.close()
    if problems:
        report.add("search-index", _SUBJECT, FAILED, "; ".join(problems))
    else:
        report.add("search-index", _SUBJECT, PASSED,
                   "its definition, ranking and FTS5 integrity-check")


def _problems(conn: sqlite3.Connection) -> list[str]:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'search_index'").fetchone()
    if row is None:
        return []  # a database without the index: the comparison says so
    problems = []
    if " ".join(str(row[0]).split()) != DEFINITION:
        problems.append(f"it is defined otherwise than custody defines it ({row[0]!r:.200})")
    settings = dict(conn.execute("SELECT k, v FROM search_index_config"))
    if settings != SETTINGS:
        differ = [f"{k} is {settings.get(k)!r:.60}, not {SETTINGS.get(k)!r}"
                  for k in sorted({*settings, *SETTINGS}, key=str)
                  if settings.get(k) != SETTINGS.get(k)]
        problems.append("its settings are not custody's (a search ranks by them): "
                        + ", ".join(differ))
    strays = conn.execute("SELECT count(*), min(id) FROM search_index_docsize WHERE id NOT IN "
                          "(SELECT id FROM documents)").fetchone()
    if strays[0]:
        problems.append(f"it keeps the sizes of {strays[0]} rows that are no document "
                        f"(the first {strays[1]})")
    problems += _totals(conn)
    failed = _integrity(conn)
    if failed:
        problems.append(f"FTS5's integrity-check fails ({failed}): a search may miss "
                        "words its documents hold, or fail")
    return problems


def _totals(conn: sqlite3.Connection) -> list[str]:
    """The index's totals (its averages record, search_index_data 1: how many documents,
    and the words of each column in all), which FTS5's check of a contentless index
    does not read and every ranked search does: held to the sizes kept for each document
    (each held to its text in search_index.py)."""
    row = conn.execute("SELECT block FROM search_index_data WHERE id = 1").fetchone()
    kept = varints(row[0]) if row is not None else None
    count, sums = 0, [0] * len(COLUMNS)
    for (blob,) in conn.execute("SELECT sz FROM search_index_docsize"):
        count += 1
        for i, size in enumerate((varints(blob) or ())[:len(COLUMNS)]):
            sums[i] += size
    given = (count, *sums)
    if not kept and not count:
        return []  # (an index with nothing in it yet has no totals, or empty ones)
    if kept != given:
        said = "none that can be read" if not kept else \
            f"{kept[0]} documents and {', '.join(map(str, kept[1:]))} words"
        return [f"its totals (what a search ranks by) say {said}, where the sizes it keeps "
                f"give {count} documents and {', '.join(map(str, sums))} words (title, "
                "body)"]
    return []


def _integrity(conn: sqlite3.Connection) -> str | None:
    """FTS5's integrity-check of a copy of the index's tables: what it says, or None."""
    conn.execute(DEFINITION.replace("TABLE search_index", "TABLE temp.structure"))
    for shadow in _SHADOWS:
        conn.execute(f"DELETE FROM temp.structure_{shadow}")
        conn.execute(f"INSERT INTO temp.structure_{shadow} "
                     f"SELECT * FROM main.search_index_{shadow}")
    try:
        conn.execute("INSERT INTO temp.structure (structure) VALUES ('integrity-check')")
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.execute("DROP TABLE temp.structure")
    return None
