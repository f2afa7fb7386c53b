"""Verification of the database against the sealed manifests: it is derived, and
rebuildable, but a row that says something the evidence does not is reported.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from .db import open_readonly
from .errors import ArchiveError
from .report import FAILED, PASSED, UNCHECKED, Report
from .root import Archive


def open_db(archive: Archive, report: Report) -> sqlite3.Connection | None:
    try:
        conn = open_readonly(archive.db_path)
        conn.execute("SELECT 1 FROM captures LIMIT 1")
        return conn
    except (ArchiveError, sqlite3.Error) as exc:
        report.add("database", "custody.db", UNCHECKED,
                   f"cannot be read ({exc}); `custody reindex` rebuilds it")
        return None


def check_database(conn: sqlite3.Connection, cid: str, content: dict[str, Any],
                   manifest_sha: str, report: Report) -> None:
    row = conn.execute(
        "SELECT seed_url, final_url, started_at, finished_at, status, manifest_sha256 "
        "FROM captures WHERE id = ?", [cid]).fetchone()
    if row is None:
        report.add("database", f"captures/{cid}", FAILED,
                   "sealed capture is not in the database (`custody reindex` rebuilds it)", cid)
        return
    want = (content["seed_url"], content["final_url"], content["started_at"],
            content["finished_at"], content["status"], manifest_sha)
    names = ("seed_url", "final_url", "started_at", "finished_at", "status", "manifest_sha256")
    diffs = [f"{n} is {a!r}, manifest says {b!r}" for n, a, b in zip(names, row, want, strict=True)
             if a != b]
    report.add("database", f"captures/{cid}", FAILED if diffs else PASSED, "; ".join(diffs), cid)

    db_resources = {
        r[0]: r[1:] for r in conn.execute(
            "SELECT record_id, url, status_code, warc_path, warc_offset, warc_length, "
            "payload_sha256 FROM resources WHERE capture_id = ?", [cid])
    }
    sealed_resources = {
        r["record_id"]: (r["target_uri"], r["http_status"], r["warc_path"], r["offset"],
                         r["length"], r["payload_sha256"])
        for r in content["records"] if r["type"] == "response"
    }
    _compare_rows(report, cid, "resources", db_resources, sealed_resources)

    db_docs = {}
    altered = []
    other_extractor: list[str] = []
    re_extracted: set[str] = set()
    sealed_by = {d["record_id"]: d["extractor"] for d in content["documents"]}
    for record_id, url, text, text_sha, extractor in conn.execute(
        "SELECT r.record_id, d.url, d.text, d.text_sha256, d.extractor FROM documents d "
        "LEFT JOIN resources r ON r.id = d.resource_id WHERE d.capture_id = ?", [cid]
    ):
        actual = hashlib.sha256((text or "").encode("utf-8")).hexdigest()
        if actual != text_sha:
            altered.append(f"{url}: text hashes to {actual}, not {text_sha}")
        if record_id in sealed_by and extractor != sealed_by[record_id]:
            # re-extracted by another version: a different text is no sign of tampering
            other_extractor.append(f"{url} ({extractor}, sealed with {sealed_by[record_id]})")
            re_extracted.add(record_id)
            text_sha = "(other extractor)"
        db_docs[record_id] = (url, text_sha)
    sealed_docs = {
        d["record_id"]: (
            d["url"], "(other extractor)" if d["record_id"] in re_extracted else d["text_sha256"]
        )
        for d in content["documents"]
    }
    if altered:
        report.add("database", f"documents/{cid}", FAILED,
                   "text changed in the database: " + "; ".join(altered), cid)
    if other_extractor:
        report.add("database", f"document-text/{cid}", UNCHECKED,
                   "text extracted by another extractor version than sealed: "
                   + "; ".join(other_extractor), cid)
    _compare_rows(report, cid, "documents", db_docs, sealed_docs)


def _compare_rows(report: Report, cid: str, table: str, in_db: dict[Any, Any],
                  sealed: dict[Any, Any]) -> None:
    problems = []
    for key in sealed.keys() - in_db.keys():
        problems.append(f"{key} missing from the database")
    for key in in_db.keys() - sealed.keys():
        problems.append(f"{key} in the database but not in the manifest")
    for key in sealed.keys() & in_db.keys():
        if tuple(in_db[key]) != tuple(sealed[key]):
            problems.append(f"{key}: database has {in_db[key]}, manifest has {sealed[key]}")
    outcome = FAILED if problems else PASSED
    more = f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""
    detail = "; ".join(problems[:10]) + more
    report.add("database", f"{table}/{cid}", outcome, detail if problems else f"{len(sealed)} rows",
               cid)


def check_database_extras(conn: sqlite3.Connection, sealed_ids: set[str],
                          report: Report) -> None:
    extra = [r[0] for r in conn.execute("SELECT id FROM captures")
             if r[0] not in sealed_ids]
    outcome = FAILED if extra else PASSED
    detail = ("captures with no manifest: " + ", ".join(extra)) if extra else ""
    report.add("database", "captures", outcome, detail)
