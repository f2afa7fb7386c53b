"""The database is checked against the evidence, column by column, and the search index
against the documents: an edit to any value that comes from a capture is caught."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Custody
from custody.testing.site import Page, SiteServer
from test_keys import failed


@pytest.fixture(scope="module")
def db_template(tmp_path_factory: pytest.TempPathFactory, site: SiteServer) -> Iterator[Custody]:
    """A capture with pages in three languages, a 404, a real photo and a failure."""
    from PIL import Image

    photo = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(photo, "JPEG")
    base = tmp_path_factory.mktemp("db")
    os.environ.pop("CUSTODY_KEY_PASSPHRASE", None)
    runner = Custody(base / "evidence", base / "keys" / "id_ed25519")
    runner.ok("init", "--no-tsa", "--operator", "tester@example.org")
    with SiteServer({"/photo.jpg": Page(photo.getvalue(), "image/jpeg")}) as photos:
        runner.archive(site.url + "/en.html", site.url + "/fa.html", site.url + "/missing.html",
                       photos.url + "/photo.jpg", "http://127.0.0.1:9/")
    runner.archive(site.url + "/ru.html", extra=("--max-bytes", "1k"))  # a truncated record
    yield runner


@pytest.fixture
def sealed(db_template: Custody, tmp_path: Path) -> Custody:
    root = tmp_path / "copy"
    shutil.copytree(db_template.root, root)
    return Custody(root, db_template.key)

EDITS = {
    "capture sequence": "UPDATE captures SET sequence = sequence + 10",
    "capture operator": "UPDATE captures SET operator = 'someone else'",
    "capture key": "UPDATE captures SET key_fingerprint = 'SHA256:x'",
    "capture status": "UPDATE captures SET status = 'complete' WHERE status != 'complete'",
    "capture start": "UPDATE captures SET started_at = '2020-01-01T00:00:00Z'",
    "capture removed": "DELETE FROM captures WHERE id = (SELECT min(id) FROM captures)",
    "capture responses": "UPDATE captures SET responses = responses + 1",
    "capture documents": "UPDATE captures SET documents = documents - 1",
    "capture failures": "UPDATE captures SET failures = failures + 1",
    "resource url": "UPDATE resources SET url = url || '?x' WHERE id = 2",
    "resource status": "UPDATE resources SET status_code = 200 WHERE status_code = 404",
    "resource type": "UPDATE resources SET content_type = 'text/plain' WHERE id = 1",
    "resource ip": "UPDATE resources SET ip = '10.0.0.1' WHERE id = 1",
    "resource time": "UPDATE resources SET fetched_at = '2020-01-01T00:00:00Z' WHERE id = 1",
    "resource digest": "UPDATE resources SET payload_sha256 = 'ab' WHERE id = 1",
    "resource offset": "UPDATE resources SET warc_offset = warc_offset + 1 WHERE id = 1",
    "resource truncated": "UPDATE resources SET truncated = 'length' WHERE id = 1",
    "document title": "UPDATE documents SET title = 'Another title' WHERE id = 1",
    "document author": "UPDATE documents SET author = 'Someone' WHERE id = 1",
    "document date": "UPDATE documents SET published = '1999-01-01' WHERE id = 1",
    "document site": "UPDATE documents SET sitename = 'elsewhere' WHERE id = 1",
    "document language": "UPDATE documents SET language = 'de' WHERE id = 1",
    "document charset": "UPDATE documents SET charset = 'latin-1' WHERE id = 1",
    "document note": "UPDATE documents SET note = 'fine' WHERE id = 1",
    "document url": "UPDATE documents SET url = url || '#' WHERE id = 1",
    "document text and digest":
        "UPDATE documents SET text = 'x', text_sha256 = "
        "'2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881' WHERE id = 1",
    "failure reason": "UPDATE failures SET reason = 'nothing happened'",
    "failure removed": "DELETE FROM failures",
    "failure added": "INSERT INTO failures (capture_id, url, kind, reason, at) "
                     "SELECT id, 'http://x/', 'dns', 'made up', finished_at FROM captures",
    "image size": "UPDATE images SET width = width + 1",
    "image removed": "DELETE FROM images",
    "orphan row": "INSERT INTO documents (capture_id, url, text, text_sha256) "
                  "VALUES ('no-such-capture', 'http://x/', '', '')",
}


def edit(runner: Custody, sql: str) -> int:
    with sqlite3.connect(runner.root / "custody.db") as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        return conn.execute(sql).rowcount


@pytest.mark.parametrize("name", sorted(EDITS))
def test_an_edited_column_is_caught(sealed: Custody, name: str) -> None:
    assert edit(sealed, EDITS[name]) > 0, "the edit must change something"
    code, report = sealed.verify()
    assert code == 1, name
    assert any(c["check"] == "database" for c in failed(report)), failed(report)


def test_an_untouched_database_passes(sealed: Custody) -> None:
    code, report = sealed.verify()
    assert code == 0, failed(report)
    assert any(c["check"] == "search-index" and c["outcome"] == "passed"
               for c in report["checks"])


def test_a_row_injected_into_the_search_index_is_caught(sealed: Custody) -> None:
    from custody.index.textindex import index_text

    with sqlite3.connect(sealed.root / "custody.db") as conn:
        (doc_id, language), = conn.execute(
            "SELECT id, language FROM documents WHERE url LIKE '%/en.html'").fetchall()
        conn.execute("INSERT INTO search_index (rowid, title, body) VALUES (?, '', ?)",
                     [doc_id + 1000, index_text("fabricated massacre", language)])
    assert sealed.query("select count(*) as n from search_index "
                        "where search_index match 'fabric'")[0]["n"] == 1
    code, report = sealed.verify()
    assert code == 1
    bad, sized = sorted((c for c in failed(report) if c["check"] == "search-index"),
                        key=lambda c: c["subject"])
    assert "which is no document" in bad["detail"] and "fabric" in bad["detail"]
    # and FTS5 keeps its size, which the index's structure is checked for
    assert sized["subject"] == "search_index structure"
    assert f"sizes of 1 rows that are no document (the first {doc_id + 1000})" in \
        sized["detail"], sized


def test_a_word_removed_from_the_search_index_is_caught(sealed: Custody) -> None:
    from custody.index.textindex import index_text

    with sqlite3.connect(sealed.root / "custody.db") as conn:
        doc_id, title, text, language = conn.execute(
            "SELECT id, title, text, language FROM documents WHERE url LIKE '%/en.html'"
        ).fetchone()
        old_body = index_text(text, language)
        conn.execute("INSERT INTO search_index (search_index, rowid, title, body) "
                     "VALUES ('delete', ?, ?, ?)", [doc_id, index_text(title, language),
                                                    old_body])
        conn.execute("INSERT INTO search_index (rowid, title, body) VALUES (?, ?, ?)",
                     [doc_id, index_text(title, language),
                      old_body.replace("massacr", "celebr")])
    assert not sealed.query("select rowid from search_index where search_index match "
                            f"'massacr' and rowid = {doc_id}")
    code, report = sealed.verify()
    assert code == 1
    (bad,) = [c for c in failed(report) if c["check"] == "search-index"]
    assert "massacr" in bad["detail"] and "celebr" in bad["detail"]


def test_a_database_from_an_earlier_custody_is_migrated(sealed: Custody, site: SiteServer
                                                        ) -> None:
    with sqlite3.connect(sealed.root / "custody.db") as conn:  # as version 2 made it
        conn.execute("ALTER TABLE captures RENAME COLUMN responses TO pages")
        conn.execute("ALTER TABLE captures DROP COLUMN documents")
        conn.execute("ALTER TABLE documents DROP COLUMN record_id")
        conn.execute("ALTER TABLE documents DROP COLUMN source")
        conn.execute("PRAGMA user_version = 2")
    sealed.archive(site.url + "/ru.html", extra=("--no-requisites",))
    code, report = sealed.verify()
    assert code == 0, failed(report)
    columns = {r["name"] for r in sealed.query("select name from pragma_table_info('captures')")}
    assert {"responses", "documents"} <= columns and "pages" not in columns


def test_an_index_that_disagrees_with_its_table_is_caught(sealed: Custody) -> None:
    """A report finds the verifications since a capture through log_events_event; an
    index that says other than its table shows a person what verify never read."""
    with sqlite3.connect(sealed.root / "custody.db") as conn:
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX log_events_event ON "
                     "log_events (event, who)' WHERE name = 'log_events_event'")
    code, report = sealed.verify()
    assert code == 1
    (bad,) = failed(report)
    assert bad["subject"] == "custody.db integrity", bad
    assert "missing from index log_events_event" in bad["detail"], bad
    assert "`custody reindex` makes custody.db again" in bad["detail"]
