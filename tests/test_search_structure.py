"""What a search reads besides the index's entries -- the b-tree of terms that finds a
word's page, the sizes kept for each document, the ranking -- is verified too: an edit
there leaves every entry in place while a search misses a page or fails."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import Custody
from custody.core.errors import QueryError
from custody.index.db import connect, index_documents
from custody.index.search import search
from custody.verify.index_structure import check_index_structure
from custody.verify.report import FAILED, PASSED, Report
from custody.verify.search_index import check_search_index
from test_keys import failed

WORDS = ["checkpoint", "convoy", "curfew", "detained", "evacuated", "flooded", "hospital",
         "journalist", "killed", "looted", "market", "militia", "protest", "refugees",
         "shelled", "sniper", "statement", "tortured", "village", "witness"]


@pytest.fixture(scope="module")
def large_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Documents enough for an index of many pages, written by custody's own index code,
    each holding a word no other holds (``marker<i>``)."""
    path = tmp_path_factory.mktemp("large") / "custody.db"
    db = connect(path)
    db.table("captures").insert({"id": "c1", "sequence": 1})
    db.table("documents").insert_all(
        {"capture_id": "c1", "url": f"http://example.org/{i}", "title": f"Report {i}",
         "text": " ".join([f"marker{i}"] + [WORDS[(i * 7 + k) % len(WORDS)] + str(k % 50)
                                            for k in range(300)]),
         "language": "en"} for i in range(1500))
    index_documents(db, "SELECT id, title, text, language FROM documents")
    db.conn.execute("INSERT INTO search_index (search_index) VALUES ('optimize')")
    db.conn.commit()
    db.conn.close()
    return path


def structure(path: Path) -> tuple[str, str]:
    report = Report("x")
    check_index_structure(path, report)
    (check,) = report.checks
    return check.outcome, check.detail


def found(path: Path, word: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [hit["url"] for hit in search(conn, word)]
    finally:
        conn.close()


def test_a_page_hidden_from_search_by_the_terms_b_tree_is_caught(large_index: Path,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "custody.db"
    shutil.copy(large_index, path)
    assert structure(path) == (PASSED, "its definition, ranking and FTS5 integrity-check")
    with sqlite3.connect(path) as conn:
        # the b-tree's key of a leaf page of markers, raised past the page's first words:
        # a search for them now looks in the page before
        segid, term, page = conn.execute(
            "SELECT segid, term, pgno FROM search_index_idx WHERE term > CAST('0marker' AS "
            "BLOB) ORDER BY term LIMIT 1 OFFSET 1").fetchone()
        first = next(w for w in (f"marker{i}" for i in range(1500))
                     if f"0{w}".encode() >= term and f"0{w}".encode() < term + b"\xff")
        assert found(path, first)  # found, before
        conn.execute("UPDATE search_index_idx SET term = CAST(? AS BLOB) WHERE segid = ? "
                     "AND term = ?", [term + b"\xff", segid, term])
    assert page > 1 and found(path, first) == []  # the page is hidden from search
    report = Report("x")
    check_search_index(path, report)  # every entry is where it was
    assert report.checks[0].outcome == PASSED
    outcome, detail = structure(path)
    assert outcome == FAILED and "FTS5's integrity-check fails" in detail, detail


def test_a_size_removed_or_changed_is_caught_and_named(large_index: Path,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "custody.db"
    shutil.copy(large_index, path)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM search_index_docsize WHERE id = 253")
        conn.execute("UPDATE search_index_docsize SET sz = x'0305' WHERE id = 100")
    with pytest.raises(QueryError, match="damaged"):  # what a search that finds it does now
        found(path, "marker252")
    report = Report("x")
    check_search_index(path, report)
    (check,) = report.checks
    assert check.outcome == FAILED
    assert "document 100 (http://example.org/99): the index keeps its size as 3 and 5 " \
        "words, where its text gives 2 and 301 (title, body)" in check.detail, check.detail
    assert "document 253 (http://example.org/252): the index keeps no size for it" \
        in check.detail
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO search_index_docsize VALUES (99999, x'0102')")
    outcome, detail = structure(path)
    assert outcome == FAILED and "sizes of 1 rows that are no document (the first 99999)" \
        in detail


def test_the_whole_verify_checks_the_definition_and_the_ranking(sealed: Custody) -> None:
    with sqlite3.connect(sealed.root / "custody.db") as conn:
        conn.execute("UPDATE search_index_config SET v = 'bm25(0.0, 1.0)' WHERE k = 'rank'")
    code, report = sealed.verify()
    assert code == 1
    (bad,) = failed(report)
    assert bad["subject"] == "search_index structure"
    assert "rank is 'bm25(0.0, 1.0)', not 'bm25(5.0, 1.0)'" in bad["detail"]


def test_the_totals_a_search_ranks_by_are_held_to_the_sizes(large_index: Path,
                                                             tmp_path: Path) -> None:
    """FTS5's check of a contentless index leaves its totals (the averages record)
    alone; every ranked search reads them: removed, a search fails; changed, it ranks
    otherwise."""
    for block in (None, b"\x01\x01\x01"):
        path = tmp_path / f"{block!r}.db"
        shutil.copy(large_index, path)
        with sqlite3.connect(path) as conn:
            if block is None:
                conn.execute("DELETE FROM search_index_data WHERE id = 1")
            else:
                conn.execute("UPDATE search_index_data SET block = ? WHERE id = 1", [block])
        outcome, detail = structure(path)
        assert outcome == FAILED, detail
        said = "none that can be read" if block is None else "1 documents and 1, 1 words"
        assert f"its totals (what a search ranks by) say {said}, where the sizes it keeps " \
            "give 1500 documents" in detail, detail
