"""Verification of the database against the sealed manifests: it is derived, and
rebuildable, but a row that says something the evidence does not is reported.

Every column that comes from the evidence is compared: each capture's row with its
manifest, each resource with its record, each document's text with its sealed digest
and its metadata (title, author, dates, language, charset) with what the manifest
seals, each failure and image. Manifests made before custody sealed document
metadata have their documents extracted again from the WARC and compared, when the
extractor is the one they were sealed with. The search index is checked against the
documents in verify_index.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from ..core.archive import Archive
from ..core.errors import ArchiveError
from ..extract.sealed import SEALED_METADATA
from ..index.query import open_readonly
from .report import FAILED, PASSED, UNCHECKED, Report

_CAPTURE_COLUMNS = ("sequence", "seed_url", "final_url", "started_at", "finished_at", "status",
                    "operator", "key_fingerprint", "manifest_sha256", "responses", "documents",
                    "failures")
_RESOURCE_COLUMNS = ("url", "status_code", "content_type", "warc_path", "warc_offset",
                     "warc_length", "payload_sha256", "ip", "fetched_at", "truncated")
_IMAGE_COLUMNS = ("url", "format", "width", "height", "exif_datetime")
_NOT_SEALED = ("(not sealed)",) * len(SEALED_METADATA)


def open_db(archive: Archive, report: Report) -> sqlite3.Connection | None:
    try:
        conn = open_readonly(archive.db_path)
        conn.execute("SELECT 1 FROM captures LIMIT 1")
        return conn
    except (ArchiveError, sqlite3.Error) as exc:
        report.add("database", "custody.db", UNCHECKED,
                   f"cannot be read ({exc}); `custody reindex` rebuilds it")
        return None


def check_database(archive: Archive, conn: sqlite3.Connection, cid: str,
                   content: dict[str, Any], manifest_sha: str, report: Report,
                   sealing: frozenset[str] = frozenset()) -> None:
    row = conn.execute(f"SELECT {', '.join(_CAPTURE_COLUMNS)} FROM captures WHERE id = ?",
                       [cid]).fetchone()
    if row is None:
        if cid in sealing:
            report.notes.append(f"{cid}: sealed, but its sealing was interrupted before it "
                                "was indexed (the next `custody archive`, `--resume` or "
                                "`reindex` indexes it)")
        else:
            report.add("database", f"captures/{cid}", FAILED,
                       "sealed capture is not in the database (`custody reindex` rebuilds it)",
                       cid)
        return
    records = content["records"]
    responses = [r for r in records if r["type"] == "response"]
    collector = content.get("collector") or {}
    want = (content["chain"]["sequence"], content["seed_url"], content["final_url"],
            content["started_at"], content["finished_at"], content["status"],
            collector.get("operator"), collector.get("key_fingerprint"), manifest_sha,
            len(responses), len(content.get("documents") or []),
            len(content.get("failures") or []))
    diffs = [f"{n} is {a!r}, manifest says {b!r}"
             for n, a, b in zip(_CAPTURE_COLUMNS, row, want, strict=True) if a != b]
    report.add("database", f"captures/{cid}", FAILED if diffs else PASSED, "; ".join(diffs), cid)

    db_resources = {
        r[0]: r[1:] for r in conn.execute(
            f"SELECT record_id, {', '.join(_RESOURCE_COLUMNS)} FROM resources "
            "WHERE capture_id = ?", [cid])
    }
    sealed_resources = {
        r["record_id"]: (r["target_uri"], r["http_status"], r.get("payload_type"),
                         r["warc_path"], r["offset"], r["length"], r["payload_sha256"],
                         r["ip"], r["date"], r.get("truncated"))
        for r in responses
    }
    _compare_rows(report, cid, "resources", db_resources, sealed_resources, _RESOURCE_COLUMNS)
    _check_documents(archive, conn, cid, content, report)
    _check_failures(conn, cid, content, report)
    _check_images(archive, conn, cid, content, report)
    _check_files(conn, cid, content, report)


def _check_documents(archive: Archive, conn: sqlite3.Connection, cid: str,
                     content: dict[str, Any], report: Report) -> None:
    columns = ("url", "text_sha256", *SEALED_METADATA)
    db_docs: dict[str, tuple[Any, ...]] = {}
    extractors: dict[str, str] = {}
    altered = []
    for record_id, url, text, text_sha, extractor, *meta in conn.execute(
        "SELECT d.record_id, d.url, d.text, d.text_sha256, d.extractor, "
        f"{', '.join('d.' + c for c in SEALED_METADATA)} FROM documents d "
        "WHERE d.capture_id = ?", [cid]
    ):
        actual = hashlib.sha256((text or "").encode("utf-8")).hexdigest()
        if actual != text_sha:
            altered.append(f"{url}: text hashes to {actual}, not {text_sha}")
        db_docs[record_id] = (url, actual, *meta)
        extractors[record_id] = extractor
    if altered:
        report.add("database", f"documents/{cid}", FAILED,
                   "text changed in the database: " + "; ".join(altered), cid)
    sealed_docs: dict[str, tuple[Any, ...]] = {}
    other_extractor: list[str] = []
    other_detector: list[str] = []
    unsealed: list[str] = []
    legacy = [d for d in content["documents"] if "metadata" not in d]
    extracted = _extract_again(archive, content, legacy) if legacy else {}
    language = columns.index("language")
    for entry in content["documents"]:
        record_id = entry["record_id"]
        meta = entry.get("metadata")
        if meta is None:
            meta = extracted.get(record_id)
        text_by, language_by = _made_by(str(entry["extractor"]))
        if record_id in extractors and _made_by(extractors[record_id])[0] != text_by:
            # re-extracted by another version: a different text is no sign of tampering
            other_extractor.append(f"{entry['url']} ({extractors[record_id]}, sealed with "
                                   f"{entry['extractor']})")
            db_docs[record_id] = (db_docs[record_id][0],) + ("(other extractor)",) * (
                len(columns) - 1)
            sealed_docs[record_id] = db_docs[record_id]
            continue
        if meta is None:  # not sealed, and not extracted again: the text's digest alone
            if record_id in db_docs:
                db_docs[record_id] = db_docs[record_id][:2] + _NOT_SEALED
            sealed_docs[record_id] = (entry["url"], entry["text_sha256"], *_NOT_SEALED)
            unsealed.append(entry["url"])
            continue
        sealed = [entry["url"], entry["text_sha256"],
                  *(meta.get(n, "http" if n == "source" else None) for n in SEALED_METADATA)]
        named_by = language_by if "metadata" in entry else _made_by(_current())[1]
        if record_id in db_docs and _made_by(extractors[record_id])[1] != named_by:
            # the language was named by another detector version: it may differ, honestly
            other_detector.append(f"{entry['url']} ({extractors[record_id]})")
            row = list(db_docs[record_id])
            row[language] = sealed[language] = "(other detector)"
            db_docs[record_id] = tuple(row)
        sealed_docs[record_id] = tuple(sealed)
    if unsealed:
        report.add("database", f"document-metadata/{cid}", UNCHECKED,
                   "titles, authors, dates and languages were not sealed by this (older) "
                   "manifest, and extracting them again needs the extractor it was made "
                   "with: " + "; ".join(unsealed[:10]), cid)
    if other_extractor:
        report.add("database", f"document-text/{cid}", UNCHECKED,
                   "text extracted by another extractor version than sealed: "
                   + "; ".join(other_extractor), cid)
    if other_detector:
        report.add("database", f"document-language/{cid}", UNCHECKED,
                   "language named by another detector version than sealed: "
                   + "; ".join(other_detector[:10]), cid)
    _compare_rows(report, cid, "documents", db_docs, sealed_docs, columns)


def _made_by(extractor: str) -> tuple[str, str | None]:
    """What made a document's text, and what named its language ("trafilatura 2.3.1;
    lingua 2.1.1"); manifests before the language detector was named have the first."""
    text, _, language = extractor.partition(";")
    return text.strip(), language.strip() or None


def _current() -> str:
    from ..extract.content import extractor_version
    from ..extract.language import detector_version

    return f"{extractor_version()}; {detector_version()}"


def _extract_again(archive: Archive, content: dict[str, Any],
                   legacy: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Metadata of documents whose manifest predates sealed metadata, extracted again from
    the WARC, for those the same extractor version made; the rest stay unchecked."""
    from ..extract.content import extractor_version
    from ..extract.workers import extract_record

    records = {r["record_id"]: r for r in content["records"]}
    out = {}
    for entry in legacy:
        record = records.get(entry["record_id"])
        if record is None or _made_by(str(entry["extractor"]))[0] != extractor_version():
            continue
        try:
            doc = extract_record(archive.root, record)
        except (OSError, ValueError, StopIteration):
            continue
        if doc is not None and doc.text_sha256 == entry["text_sha256"]:
            out[entry["record_id"]] = {name: getattr(doc, name) for name in SEALED_METADATA}
    return out


def _check_failures(conn: sqlite3.Connection, cid: str, content: dict[str, Any],
                    report: Report) -> None:
    fields = ("url", "kind", "reason", "at")
    in_db = Counter(conn.execute(f"SELECT {', '.join(fields)} FROM failures "
                                 "WHERE capture_id = ?", [cid]).fetchall())
    sealed = Counter(tuple(f.get(k) for k in fields) for f in content.get("failures") or [])
    problems = [f"{row[0]}: in the database but not in the manifest"
                for row in (in_db - sealed).elements()]
    problems += [f"{row[0]}: sealed, but missing or altered in the database"
                 for row in (sealed - in_db).elements()]
    report.add("database", f"failures/{cid}", FAILED if problems else PASSED,
               "; ".join(problems[:10]) or f"{sum(sealed.values())} rows", cid)


def _check_images(archive: Archive, conn: sqlite3.Connection, cid: str,
                  content: dict[str, Any], report: Report) -> None:
    db_images = {r[0]: r[1:] for r in conn.execute(
        f"SELECT r.record_id, {', '.join('i.' + c for c in _IMAGE_COLUMNS)} FROM images i "
        "LEFT JOIN resources r ON r.id = i.resource_id WHERE i.capture_id = ?", [cid])}
    listed = content.get("images")
    if listed is None:  # sealed before images were listed: described again from the WARC
        from ..extract.workers import describable, image_of

        listed = []
        for record in content["records"]:
            if describable(record):
                try:
                    image = image_of(archive.root, record)
                except (OSError, ValueError, StopIteration):
                    image = None
                if image is not None:
                    listed.append(image)
    sealed = {i["record_id"]: tuple(i.get(c) for c in _IMAGE_COLUMNS) for i in listed}
    if db_images or sealed:
        _compare_rows(report, cid, "images", db_images, sealed, _IMAGE_COLUMNS)


def _check_files(conn: sqlite3.Connection, cid: str, content: dict[str, Any],
                 report: Report) -> None:
    """The capture's files as the manifest seals them: what an import asks, to tell a
    file the archive holds already (a row made up there would refuse new evidence)."""
    if not _has_files(conn):
        return  # a database of an earlier custody: any command that writes adds the table
    in_db = {r[0]: r[1:] for r in conn.execute(
        "SELECT path, bytes, sha256, imported FROM files WHERE capture_id = ?", [cid])}
    sealed = {f.get("path"): (f.get("bytes"), f.get("sha256"), 1 if f.get("imported") else 0)
              for f in content.get("warc_files") or [] if isinstance(f, dict)}
    _compare_rows(report, cid, "files", in_db, sealed, ("bytes", "sha256", "imported"))


def _has_files(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'files'"
                        ).fetchone() is not None


def _compare_rows(report: Report, cid: str, table: str, in_db: dict[Any, Any],
                  sealed: dict[Any, Any], columns: tuple[str, ...]) -> None:
    problems = []
    for key in sealed.keys() - in_db.keys():
        problems.append(f"{key} missing from the database")
    for key in in_db.keys() - sealed.keys():
        problems.append(f"{key} in the database but not in the manifest")
    for key in sealed.keys() & in_db.keys():
        for name, have, want in zip(columns, in_db[key], sealed[key], strict=True):
            if have != want:
                problems.append(f"{key}: {name} is {have!r} in the database, "
                                f"the manifest says {want!r}")
    outcome = FAILED if problems else PASSED
    more = f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""
    detail = "; ".join(problems[:10]) + more
    report.add("database", f"{table}/{cid}", outcome, detail if problems else f"{len(sealed)} rows",
               cid)


def check_integrity(conn: sqlite3.Connection, report: Report) -> None:
    """SQLite's own check of custody.db: each index holds exactly its table's rows. A
    command reads by the indexes (a report finds the verifications since a capture by
    log_events_event); the rows verify compares are read by the tables: an index edited
    apart from its table would show a person what verify never read."""
    said = [row[0] for row in conn.execute("PRAGMA integrity_check(20)")]
    if said == ["ok"]:
        report.add("database", "custody.db integrity", PASSED, "SQLite's integrity_check")
        return
    report.add("database", "custody.db integrity", FAILED,
               "SQLite's integrity_check: " + "; ".join(said[:5]) +
               (f" (and {len(said) - 5} more)" if len(said) > 5 else "") +
               "; `custody reindex` makes custody.db again from the evidence")


def check_database_extras(conn: sqlite3.Connection, manifests_dir: Path,
                          report: Report) -> None:
    """Rows of captures with no sealed manifest, and rows of no capture."""
    extra = [r[0] for r in conn.execute("SELECT id FROM captures")
             if "/" in r[0] or not (manifests_dir / f"{r[0]}.json").is_file()]
    orphans = [f"{table} {n}" for table, n in (
        (t, conn.execute(f"SELECT count(*) FROM {t} WHERE capture_id NOT IN "
                         "(SELECT id FROM captures)").fetchone()[0])
        for t in ("resources", "documents", "failures", "images",
                  *(("files",) if _has_files(conn) else ()))) if n]
    outcome = FAILED if extra or orphans else PASSED
    parts = []
    if extra:
        parts.append("captures with no manifest: " + ", ".join(extra))
    if orphans:
        parts.append("rows of no capture: " + ", ".join(orphans))
    report.add("database", "captures", outcome, "; ".join(parts))
