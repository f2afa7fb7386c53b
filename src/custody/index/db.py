"""The SQLite database (sqlite-utils): derived from the manifests and WARC files, rebuildable.

Tables: ``captures``, ``resources`` (one per HTTP exchange), ``documents`` (text
and metadata read back from the WARC), ``failures`` (fetches that got no
response), and ``search_index``, an FTS5 index over the folded and stemmed title
and text (see textindex.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a database is written, not for reading one
    import sqlite_utils


SCHEMA_VERSION = 7
ARABIC = "lower(language) = 'ar' OR lower(language) LIKE 'ar-%'"  # documents in Arabic


def _migrate(db: sqlite_utils.Database) -> None:
    """A database made by an earlier custody, brought to this schema in place (it is
    derived: `custody reindex` would rebuild it, but that takes the time of extraction).
    Version 3: captures.pages, which counted responses, is `responses`; `documents` added.
    Version 4: documents.record_id (a rendered DOM is no resource's) and .source.
    Version 5: a record may be in two sealed captures (an import of files that hold
    records the archive has): resources.record_id is indexed, not unique; and the
    custody log's events are indexed (events.py).
    Version 7: Arabic documents' index entries stemmed as textindex stems Arabic now
    (the rest of the index is as it was)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version and version < 3 and "captures" in db.table_names():
        with db.conn:
            db.execute("ALTER TABLE captures RENAME COLUMN pages TO responses")
            db.execute("ALTER TABLE captures ADD COLUMN documents INTEGER")
            db.execute("UPDATE captures SET documents = (SELECT count(*) FROM documents d "
                       "WHERE d.capture_id = captures.id)")
    if version and version < 4 and "documents" in db.table_names():
        with db.conn:
            db.execute("ALTER TABLE documents ADD COLUMN record_id TEXT")
            db.execute("ALTER TABLE documents ADD COLUMN source TEXT")
            db.execute("UPDATE documents SET source = 'http', record_id = (SELECT r.record_id "
                       "FROM resources r WHERE r.id = documents.resource_id)")
    if version and version < 5 and "resources" in db.table_names():
        with db.conn:
            db.execute("DROP INDEX IF EXISTS idx_resources_record_id")
            db.execute("CREATE INDEX idx_resources_record_id ON resources (record_id)")
            # (its files are found by their sha256 from now on; reindex fills the rows of
            # the captures before: ingest/held.py looks in their manifests until then)


def _stem_arabic_again(db: sqlite_utils.Database) -> None:
    """Version 7's change, in the transaction that then says the database is of version
    7 (done once: a contentless index forgets an entry given what it was made of, and
    given anything else it is damaged)."""
    from .textindex import ARABIC_BEFORE_7, index_text

    for doc_id, title, text in db.execute(
            f"SELECT id, title, text FROM documents WHERE {ARABIC}").fetchall():
        db.conn.execute("INSERT INTO search_index (search_index, rowid, title, body) "
                        "VALUES ('delete', ?, ?, ?)", [doc_id, index_text(
                            title, ARABIC_BEFORE_7), index_text(text, ARABIC_BEFORE_7)])
        db.conn.execute("INSERT INTO search_index (rowid, title, body) VALUES (?, ?, ?)",
                        [doc_id, index_text(title, "ar"), index_text(text, "ar")])


def connect(path: Path) -> sqlite_utils.Database:
    import sqlite_utils

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    # derived, and rebuilt from the evidence: a power cut may cost its last transaction
    # (recovery indexes that capture again), never the evidence
    conn.execute("PRAGMA synchronous = NORMAL")
    db = sqlite_utils.Database(conn)
    if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
        ensure_schema(db)
    return db


def open_writer(path: Path) -> sqlite3.Connection:
    """A plain connection for writing a capture's rows (index_capture, delete_capture):
    sqlite-utils, whose import costs a one-page capture 40 ms, only makes the schema,
    the first time (through ``connect``)."""
    conn = sqlite3.connect(path)
    if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
        conn.close()
        made = connect(path).conn
        made.commit()  # (filling a new table opened a transaction: closing would undo it)
        made.close()
        conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")  # (derived: see connect)
    return conn


def _insert(conn: sqlite3.Connection, table: str, rows: Iterable[dict[str, Any]]) -> None:
    """Rows that share their keys, inserted in one statement each batch."""
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if batch:
            names = list(batch[0])
            marks = ", ".join("?" * len(names))
            conn.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})",
                             [[row[n] for n in names] for row in batch])
            batch.clear()

    for row in rows:
        if batch and list(row) != list(batch[0]):
            flush()
        batch.append(row)
        if len(batch) >= 500:
            flush()
    flush()


def _conn(db: Any) -> sqlite3.Connection:
    """A sqlite-utils Database's connection, or the connection itself."""
    return db.conn if hasattr(db, "conn") else db


def ensure_schema(db: sqlite_utils.Database) -> None:
    from . import events

    version = db.execute("PRAGMA user_version").fetchone()[0]
    _migrate(db)
    events.ensure(db.conn)
    if "captures" not in db.table_names():
        db.table("captures").create(
            {
                "id": str, "sequence": int, "seed_url": str, "final_url": str,
                "started_at": str, "finished_at": str, "status": str, "operator": str,
                "key_fingerprint": str, "manifest_sha256": str, "responses": int,
                "documents": int, "failures": int,
            },
            pk="id",
        )
    if "resources" not in db.table_names():
        db.table("resources").create(
            {
                "id": int, "capture_id": str, "url": str, "status_code": int,
                "content_type": str, "record_id": str, "warc_path": str, "warc_offset": int,
                "warc_length": int, "payload_sha256": str, "ip": str, "fetched_at": str,
                "truncated": str,
            },
            pk="id",
            foreign_keys=[("capture_id", "captures", "id")],
        )
        db.table("resources").create_index(["capture_id"])
        db.table("resources").create_index(["url"])
        db.table("resources").create_index(["record_id"])
    if "documents" not in db.table_names():
        db.table("documents").create(
            {
                "id": int, "capture_id": str, "resource_id": int, "record_id": str,
                "source": str, "url": str, "title": str,
                "author": str, "published": str, "sitename": str, "language": str,
                "text": str, "text_sha256": str, "charset": str, "extractor": str, "note": str,
            },
            pk="id",
            foreign_keys=[("capture_id", "captures", "id"), ("resource_id", "resources", "id")],
        )
        db.table("documents").create_index(["capture_id"])
        db.table("documents").create_index(["url"])
        db.table("documents").create_index(["language"])
    if "images" not in db.table_names():
        db.table("images").create(
            {"id": int, "capture_id": str, "resource_id": int, "url": str, "format": str,
             "width": int, "height": int, "exif_datetime": str},
            pk="id",
            foreign_keys=[("capture_id", "captures", "id"), ("resource_id", "resources", "id")],
        )
        db.table("images").create_index(["capture_id"])
    if "files" not in db.table_names():
        # each capture's WARC (or imported) files, by sha256: an import asks whether the
        # archive holds a file already
        db.table("files").create(
            {"capture_id": str, "path": str, "bytes": int, "sha256": str, "imported": int},
            pk=("capture_id", "path"),
            foreign_keys=[("capture_id", "captures", "id")],
        )
        db.table("files").create_index(["sha256"])
    if "failures" not in db.table_names():
        db.table("failures").create(
            {"id": int, "capture_id": str, "url": str, "kind": str, "reason": str, "at": str},
            pk="id",
            foreign_keys=[("capture_id", "captures", "id")],
        )
        db.table("failures").create_index(["capture_id"])
    if "search_index" not in db.table_names():
        # folded and stemmed title and text, rowid = documents.id (see textindex.py)
        # contentless: the text is in documents already; bm25 with the title weighted 5:1
        db.execute('CREATE VIRTUAL TABLE search_index USING fts5(title, body, content="", '
                   'tokenize = "unicode61 remove_diacritics 0")')
        db.execute("INSERT INTO search_index (search_index, rank) "
                   "VALUES ('rank', 'bm25(5.0, 1.0)')")
        index_documents(db, "SELECT id, title, text, language FROM documents")
    from . import listing, selectors

    listing.ensure(db.conn)
    selectors.ensure(db.conn)
    db.conn.commit()
    if version and version < 7:
        _stem_arabic_again(db)
    db.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.conn.commit()


def index_documents(db: Any, sql: str, params: Iterable[Any] = ()) -> None:
    """Add the documents the query selects (id, title, text, language) to the search index."""
    from .textindex import index_text

    conn = _conn(db)
    rows = conn.execute(sql, list(params)).fetchall()
    conn.executemany(
        "INSERT INTO search_index (rowid, title, body) VALUES (?, ?, ?)",
        ((doc_id, index_text(title, lang), index_text(text, lang))
         for doc_id, title, text, lang in rows),
    )


def index_capture(
    db: Any,
    head: dict[str, Any],
    manifest_sha256: str,
    records: Iterable[dict[str, Any]],
    documents: Iterable[tuple[dict[str, Any], dict[str, Any]]],
    images: Iterable[dict[str, Any]] = (),
) -> None:
    """Put one sealed capture into the database, replacing any earlier rows for it.

    ``head`` is the manifest without its lists; ``records`` its records and
    ``documents`` pairs of (manifest entry, extracted document with its text).
    """
    capture_id = head["capture_id"]
    failures = head.get("failures", [])
    conn = _conn(db)
    with conn:
        delete_capture(conn, capture_id)
        _insert(conn, "captures", [{
            "id": capture_id,
            "sequence": head["chain"]["sequence"],
            "seed_url": head["seed_url"],
            "final_url": head["final_url"],
            "started_at": head["started_at"],
            "finished_at": head["finished_at"],
            "status": head["status"],
            "operator": head["collector"]["operator"],
            "key_fingerprint": head["collector"]["key_fingerprint"],
            "manifest_sha256": manifest_sha256,
            "responses": 0,
            "documents": 0,
            "failures": len(failures),
        }])
        _insert(conn, "resources",
                (resource_row(capture_id, r) for r in records if r["type"] == "response"))
        from ..core import faults

        faults.after("index.mid-write")  # (a test's kill -9 inside the transaction)
        ids = _ResourceIds(conn, capture_id)  # looked up, not held: an import lists 300,000
        _insert(conn, "documents", (document_row(capture_id, ids.get(entry["record_id"]), entry,
                                                 doc) for entry, doc in documents))
        conn.execute("UPDATE captures SET responses = (SELECT count(*) FROM resources WHERE "
                     "capture_id = ?), documents = (SELECT count(*) FROM documents WHERE "
                     "capture_id = ?) WHERE id = ?", [capture_id, capture_id, capture_id])
        _insert(conn, "failures", ({"capture_id": capture_id, **f} for f in failures))
        _insert(conn, "files", (
            {"capture_id": capture_id, "path": f["path"], "bytes": f["bytes"],
             "sha256": f["sha256"], "imported": 1 if f.get("imported") else 0}
            for f in head.get("warc_files") or []))
        _insert(conn, "images", (
            {"capture_id": capture_id, "resource_id": ids.get(image["record_id"]),
             "url": image["url"], "format": image["format"], "width": image["width"],
             "height": image["height"], "exif_datetime": image["exif_datetime"]}
            for image in images))
        index_documents(conn, "SELECT id, title, text, language FROM documents "
                              "WHERE capture_id = ?", [capture_id])
        from . import listing, selectors

        selectors.index_capture(conn, capture_id)
        listing.index_capture(conn, capture_id)


class _ResourceIds:
    """A capture's resource row ids by record id (the last row, when one repeats), each
    looked up in the index on record_id."""

    def __init__(self, conn: sqlite3.Connection, capture_id: str) -> None:
        self.conn, self.capture_id = conn, capture_id

    def get(self, record_id: str) -> int | None:
        row = self.conn.execute("SELECT id FROM resources WHERE record_id = ? AND capture_id = ? "
                                "ORDER BY id DESC LIMIT 1", [record_id, self.capture_id]).fetchone()
        return row[0] if row else None


def document_row(capture_id: str, resource_id: int | None, entry: dict[str, Any],
                 extracted: dict[str, Any]) -> dict[str, Any]:
    return {
        "capture_id": capture_id,
        "resource_id": resource_id,  # none for a rendered DOM: no HTTP response is its own
        "record_id": entry["record_id"],
        "source": extracted.get("source", "http"),
        "url": entry["url"],
        "title": extracted.get("title"),
        "author": extracted.get("author"),
        "published": extracted.get("published"),
        "sitename": extracted.get("sitename"),
        "language": extracted.get("language"),
        "text": extracted.get("text", ""),
        # what this extraction gave; verify compares it with the sealed digest
        "text_sha256": extracted.get("text_sha256", entry["text_sha256"]),
        "charset": extracted.get("charset"),
        "extractor": extracted.get("extractor", entry["extractor"]),
        "note": extracted.get("note"),
    }


def resource_row(capture_id: str, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "capture_id": capture_id,
        "url": record["target_uri"],
        "status_code": record["http_status"],
        "content_type": record.get("payload_type"),
        "record_id": record["record_id"],
        "warc_path": record["warc_path"],
        "warc_offset": record["offset"],
        "warc_length": record["length"],
        "payload_sha256": record["payload_sha256"],
        "ip": record["ip"],
        "fetched_at": record["date"],
        "truncated": record.get("truncated"),
    }


def delete_capture(db: Any, capture_id: str) -> None:
    from .textindex import index_text

    conn = _conn(db)
    # a contentless index forgets a row only when told the very tokens it was given
    rows = conn.execute("SELECT id, title, text, language FROM documents WHERE capture_id = ?",
                        [capture_id]).fetchall()
    conn.executemany(
        "INSERT INTO search_index (search_index, rowid, title, body) VALUES ('delete', ?, ?, ?)",
        ((doc_id, index_text(title, lang), index_text(text, lang))
         for doc_id, title, text, lang in rows))
    for table in ("selectors", "capture_facets", "documents", "images", "failures", "files",
                  "resources", "captures"):
        column = "id" if table == "captures" else "capture_id"
        conn.execute(f"DELETE FROM {table} WHERE {column} = ?", [capture_id])


def capture_ids(db: sqlite_utils.Database) -> set[str]:
    return {row[0] for row in db.execute("SELECT id FROM captures").fetchall()}
