"""The search index is compared with the documents entry by entry -- word, column and
position -- in ranges of documents that cover every id, and with the words FTS5's own
tokenizer makes, where they are not simply index_text's words."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Custody, chain_ids
from custody.index.db import connect, index_documents
from custody.index.textindex import index_text
from custody.testing.site import Page, SiteServer
from custody.verify.postings import HELD_POSITION, columns, words
from custody.verify.report import FAILED, PASSED, Report
from custody.verify.search_index import check_search_index, ranges
from test_keys import failed


def indexed(conn: sqlite3.Connection, url_like: str) -> tuple[int, str, str]:
    """A document's id, and what the index was given for its title and text."""
    doc, title, text, language = conn.execute(
        "SELECT id, title, text, language FROM documents WHERE url LIKE ?", [url_like]
    ).fetchone()
    return doc, index_text(title, language), index_text(text, language)


def reindex(conn: sqlite3.Connection, doc: int, was: tuple[str, str], now: tuple[str, str]
            ) -> None:
    """Give the index other words for a document (a contentless index forgets a row only
    when told what it was given)."""
    conn.execute("INSERT INTO search_index (search_index, rowid, title, body) "
                 "VALUES ('delete', ?, ?, ?)", [doc, *was])
    conn.execute("INSERT INTO search_index (rowid, title, body) VALUES (?, ?, ?)", [doc, *now])


def index_failure(report: dict[str, object]) -> str:
    """What the comparison of the entries with the texts found (test_search_structure.py
    has the index's structure)."""
    (bad,) = [c for c in failed(report) if c["check"] == "search-index" and
              c["subject"] != "search_index structure"]
    return str(bad["detail"])


def test_two_words_that_swap_places_are_caught(sealed: Custody) -> None:
    with sqlite3.connect(sealed.root / "custody.db") as conn:
        doc, title, body = indexed(conn, "%/en.html")
        words = body.split(" ")
        j = next(i for i, w in enumerate(words) if w != words[0])
        swapped = [words[j], *words[1:j], words[0], *words[j + 1:]]
        reindex(conn, doc, (title, body), (title, " ".join(swapped)))
    code, report = sealed.verify()
    assert code == 1
    detail = index_failure(report)
    # the same words, at the wrong places: each named where it is, and where it should be
    assert f"{words[j]} (body word 0)" in detail and f"{words[0]} (body word {j})" in detail
    assert f"{words[0]} (body word 0)" in detail and f"{words[j]} (body word {j})" in detail
    assert f"document {doc} (" in detail


def test_a_word_of_the_text_indexed_in_the_title_is_caught(sealed: Custody) -> None:
    with sqlite3.connect(sealed.root / "custody.db") as conn:
        doc, title, body = indexed(conn, "%/en.html")
        k = len(title.split(" "))
        word = body.split(" ")[k]
        # the same word at the same position: only the column says it is not the title's
        reindex(conn, doc, (title, body), (f"{title} {word}", body))
    code, report = sealed.verify()
    assert code == 1
    assert f"is indexed under {word} (title word {k}), which its text does not give" \
        in index_failure(report)


def test_an_index_that_keeps_spaces_inside_its_words_is_caught(sealed: Custody) -> None:
    """Made with a tokenizer for which a space is part of a word, the index holds each
    title and text as one word: joined with spaces, its words are the texts exactly."""
    with sqlite3.connect(sealed.root / "custody.db") as conn:
        rows = conn.execute("SELECT id, title, text, language FROM documents").fetchall()
        conn.execute("DROP TABLE search_index")
        conn.execute("CREATE VIRTUAL TABLE search_index USING fts5(title, body, content='', "
                     "tokenize = \"unicode61 remove_diacritics 0 tokenchars ' '\")")
        conn.executemany("INSERT INTO search_index (rowid, title, body) VALUES (?, ?, ?)",
                         [(i, index_text(t, lang), index_text(x, lang))
                          for i, t, x, lang in rows])
        doc, title, body = indexed(conn, "%/en.html")
    code, report = sealed.verify()
    assert code == 1
    detail = index_failure(report)
    (named,) = [part for part in detail.split("; ") if part.startswith(f"document {doc} (")]
    assert f"{body[:40]}… (body word 0), which its text does not give" in named
    assert f"is not indexed under {title.split(' ')[0]} (title word 0)" in named
    (made,) = [c for c in failed(report) if c["subject"] == "search_index structure"]
    assert "it is defined otherwise than custody defines it" in made["detail"]


# New Tai Lue vowel signs: letters to Python (so index_text keeps them in its words),
# not to unicode61, which splits the words at them
TAI_LUE = "ᦎᦱᦺ ᦃᦸᧂ ᦓᦲᧃ ᦵᦋᦲᧆ ᦗᦸᧂ ᦟᦱᧁ"


@pytest.fixture(scope="module")
def tai_lue_site() -> Iterator[SiteServer]:
    text = ("The river festival opened on Saturday with boat races and music. " * 3
            + f"The sign over the gate reads {TAI_LUE} in the old script of the valley.")
    html = (f"<html><head><meta charset='utf-8'><title>Festival {TAI_LUE}</title></head>"
            f"<body><article><h1>Festival</h1><p>{text}</p><p>{text}</p></article>"
            "</body></html>")
    with SiteServer({"/festival.html": Page(html.encode(), "text/html; charset=utf-8")}
                    ) as server:
        yield server


def fts5_words(text: str) -> list[str]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'unicode61 remove_diacritics 0')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
    conn.execute("INSERT INTO t (rowid, x) VALUES (1, ?)", [text])
    return [term for term, in conn.execute("SELECT term FROM v ORDER BY offset")]


def test_words_the_tokenizer_splits_are_compared_as_it_splits_them(
        custody: Custody, tai_lue_site: SiteServer) -> None:
    custody.archive(tai_lue_site.url + "/festival.html", extra=("--no-requisites",))
    with sqlite3.connect(custody.root / "custody.db") as conn:
        doc, title, body = indexed(conn, "%/festival.html")
    given = fts5_words(body)
    assert given != body.split(" "), "the text must hold words unicode61 splits"
    code, report = custody.verify()
    assert code == 0, failed(report)
    assert any(c["check"] == "search-index" and c["outcome"] == "passed"
               for c in report["checks"])
    dropped = given[-3]  # a piece of a Tai Lue word, as FTS5 made it
    with sqlite3.connect(custody.root / "custody.db") as conn:
        reindex(conn, doc, (title, body), (title, body.replace(dropped, "", 1)))
    code, report = custody.verify()
    assert code == 1
    assert dropped in index_failure(report)


def test_verifying_one_capture_compares_its_documents_only(sealed: Custody,
                                                          site: SiteServer) -> None:
    sealed.archive(site.url + "/ru.html")
    first, second = chain_ids(sealed)
    with sqlite3.connect(sealed.root / "custody.db") as conn:
        doc, title, body = indexed(conn, "%/en.html")
        reindex(conn, doc, (title, body), (title, body + " fabricated"))
    code, report = sealed.verify(second)
    assert code == 0, failed(report)
    code, report = sealed.verify(first)
    # verify ID reads no other entry of the index: the word added shows as one word more
    # than the text gives, in the document and column named (the whole pass names it)
    assert code == 1
    assert "en.html" in index_failure(report) and "body" in index_failure(report)
    code, report = sealed.verify()
    assert code == 1 and "fabric" in index_failure(report)


@pytest.fixture(scope="module")
def many_documents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database of 2,400 short documents, written by custody's own index code."""
    path = tmp_path_factory.mktemp("many") / "custody.db"
    db = connect(path)
    db.table("captures").insert({"id": "c1", "sequence": 1})
    words = ["evidence", "of", "the", "blockade", "was", "kept", "by", "observers", "in",
             "every", "city"]
    db.table("documents").insert_all(
        {"capture_id": "c1", "url": f"http://example.org/{i}", "title": f"Page {i}",
         "text": " ".join(words[(i + k) % len(words)] for k in range(i % 40)),
         "language": "en"} for i in range(2400))
    index_documents(db, "SELECT id, title, text, language FROM documents")
    db.conn.commit()
    db.conn.close()
    return path


def compared(path: Path, spans: list[tuple[int | None, int | None]]) -> list[tuple[str, str]]:
    out = []
    for span in spans:
        report = Report("x")
        check_search_index(path, report, None, span)
        (check,) = report.checks
        out.append((check.outcome, check.detail))
    return out


def test_the_ranges_cover_every_id_and_each_range_is_compared(many_documents: Path,
                                                               tmp_path: Path) -> None:
    spans = ranges(many_documents, None, 4)
    assert len(spans) == 4 and spans[0][0] is None and spans[-1][1] is None
    for (_, high), (low, _) in itertools.pairwise(spans):
        assert high is not None and low == high + 1
    assert ranges(many_documents, None, 1) == [(None, None)]
    assert compared(many_documents, spans) == [(PASSED, "600 documents")] * 4

    tampered = tmp_path / "custody.db"
    tampered.write_bytes(many_documents.read_bytes())
    middle = spans[2][0]
    with sqlite3.connect(tampered) as conn:
        for row, word in ((-7, "planted"), (100_000, "injected")):
            conn.execute("INSERT INTO search_index (rowid, title, body) VALUES (?, '', ?)",
                         [row, word])
        title, text = conn.execute("SELECT title, text FROM documents WHERE id = ?",
                                   [middle]).fetchone()
        was = (index_text(title, "en"), index_text(text, "en"))
        reindex(conn, middle, was, (was[0], (was[1] + " inserted").strip()))
    results = compared(tampered, spans)
    assert [outcome for outcome, _ in results] == [FAILED, PASSED, FAILED, FAILED]
    assert "row -7, which is no document, is indexed under planted (body word 0)" \
        in results[0][1]
    assert f"document {middle} (http://example.org/{middle - 1}) is indexed under " \
        "inserted (body word 0), which its text does not give" in results[2][1]
    assert "row 100000, which is no document, is indexed under injected (body word 0)" \
        in results[3][1]


def test_ten_documents_are_named_and_the_others_counted(many_documents: Path,
                                                         tmp_path: Path) -> None:
    tampered = tmp_path / "custody.db"
    tampered.write_bytes(many_documents.read_bytes())
    with sqlite3.connect(tampered) as conn:
        for doc, title, text in conn.execute(
                "SELECT id, title, text FROM documents WHERE id BETWEEN 101 AND 115").fetchall():
            was = (index_text(title, "en"), index_text(text, "en"))
            reindex(conn, doc, was, (was[0], was[1] + " planted"))
    ((outcome, detail),) = compared(tampered, [(None, None)])
    assert outcome == FAILED
    assert [f"document {doc} " in detail for doc in range(101, 116)] == [True] * 10 + [False] * 5
    assert detail.endswith("; and 5 more documents")


def test_a_group_of_entries_is_one_term_at_each_position_from_zero() -> None:
    assert words(None) == []
    assert words((3, "2 0 1", "c a b")) == ["a", "b", "c"]  # read in term order
    assert words((2, "0 1", "a b c")) is None  # a term with a space in it
    assert words((2, "0 0", "a b")) is None  # two terms at one position
    assert words((2, "0 2", "a b")) is None  # a position missing
    long = 250_000  # past the positions kept as text
    order = list(range(long))[::-1]
    assert words((long, " ".join(map(str, order)), " ".join(f"w{i}" for i in order))) \
        == [f"w{i}" for i in range(long)]


def test_an_entry_moved_anywhere_is_caught(many_documents: Path, tmp_path: Path) -> None:
    """One entry moved, and nothing else -- to another document that has the same term,
    or to another position of its own, both leaving every term's count and every
    document's count of entries as they were -- or one term of a column given to the
    other too."""
    def moved(change: dict[int, tuple[str, str]]) -> str:
        tampered = tmp_path / f"moved-{len(list(tmp_path.iterdir()))}.db"
        tampered.write_bytes(many_documents.read_bytes())
        with sqlite3.connect(tampered) as conn:
            for doc, now in change.items():
                title, text = conn.execute("SELECT title, text FROM documents WHERE id = ?",
                                           [doc]).fetchone()
                reindex(conn, doc, (index_text(title, "en"), index_text(text, "en")), now)
        ((outcome, detail),) = compared(tampered, [(None, None)])
        assert outcome == FAILED
        return detail

    def given(doc: int) -> tuple[str, list[str]]:
        with sqlite3.connect(many_documents) as conn:
            title, text = conn.execute("SELECT title, text FROM documents WHERE id = ?",
                                       [doc]).fetchone()
        return index_text(title, "en"), index_text(text, "en").split(" ")

    (title_a, body_a), (title_b, body_b) = given(30), given(31)
    last = body_a[-1]
    assert last in body_b, "the two documents must share the term"
    # the last word of document 30 moved to the end of document 31
    detail = moved({30: (title_a, " ".join(body_a[:-1])),
                    31: (title_b, " ".join([*body_b, last]))})
    assert f"document 30 (http://example.org/29) is not indexed under {last} " \
        f"(body word {len(body_a) - 1})" in detail
    assert f"document 31 (http://example.org/30) is indexed under {last} " \
        f"(body word {len(body_b)})" in detail
    # a word of document 30 moved one place on, where the same word already is once
    k = body_a.index(last)
    shifted = [*body_a[:k], body_a[k + 1], last, *body_a[k + 2:]]
    assert sorted(shifted) == sorted(body_a) and shifted != body_a
    detail = moved({30: (title_a, " ".join(shifted))})
    assert f"{last} (body word {k + 1})" in detail and f"{last} (body word {k})" in detail
    # a term of the text given to the title too, at a position past the title's end
    detail = moved({30: (f"{title_a} {last}", " ".join(body_a))})
    assert f"is indexed under {last} (title word {len(title_a.split(' '))})" in detail


def test_a_documents_group_is_one_term_at_each_position_of_each_column() -> None:
    assert columns(None) == ([], [])
    # read in term order; the title's word n at -1 - n
    assert columns((4, "1 -1 0 -2", "d a c b")) == (["a", "b"], ["c", "d"])
    assert columns((2, "0 1", "a b")) == ([], ["a", "b"])
    assert columns((1, "-1", "a")) == (["a"], [])
    assert columns((2, "-1 0", "a b c")) is None  # a term with a space in it
    assert columns((2, "-1 -1", "a b")) is None  # two terms at one position of the title
    assert columns((2, "-1 -3", "a b")) is None  # a position of the title missing
    assert columns((2, "0 -2", "a b")) is None  # the title's word 1 without its word 0
    assert columns((2, "0", "a b")) is None  # an entry of another column (no position)
    assert columns((1, None, "a")) is None  # entries of other columns alone
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(title, body, other)")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
    conn.execute("INSERT INTO t (rowid, title, body, other) VALUES "
                 "(1, 'a b', 'c d e', ''), (2, '', 'f', 'g')")
    groups = conn.execute(f"SELECT count(*), group_concat({HELD_POSITION}, ' '), "
                          "group_concat(term, ' ') FROM v GROUP BY doc ORDER BY doc").fetchall()
    assert [columns(g) for g in groups] == [(["a", "b"], ["c", "d", "e"]), None]
