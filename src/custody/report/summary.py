"""What one capture holds, gathered for a person to read: its seeds and where they led,
when, from where, what came back, the titles of its pages, its timestamps, and whether
it verifies now. `custody show` prints it."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..core.archive import Archive
from ..core.errors import CustodyError
from ..seal import manifest


@dataclass
class Summary:
    content: dict[str, Any]  # the manifest
    manifest_sha256: str
    titles: dict[str, str | None] = field(default_factory=dict)  # url -> title
    languages: dict[str, str | None] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)  # redirect record id -> Location
    verification: str = ""  # passed, failed, incomplete
    problems: list[str] = field(default_factory=list)  # what failed or could not be checked
    timestamps: list[str] = field(default_factory=list)  # each token's check, as verify says


def summarise(archive: Archive, capture_id: str, *, check: bool = True) -> Summary:
    sealed, content = manifest.read_capture(archive.manifests_dir, capture_id)
    summary = Summary(content, sealed.sha256)
    _titles(archive, summary)
    _locations(archive, summary)
    if check:
        from ..verify.report import PASSED
        from ..verify.run import verify

        report = verify(archive, [capture_id], jobs=0)
        summary.verification = report.status
        summary.problems = [f"{c.outcome} {c.check} {c.subject}: {c.detail}"
                            for c in report.checks if c.outcome != PASSED]
        summary.timestamps = [f"{c.subject}: {c.detail}" for c in report.checks
                              if c.check == "timestamp"]
    if not summary.timestamps and not _stamped(archive, sealed.path):
        asked = (content.get("settings") or {}).get("tsa")
        summary.timestamps = [
            "none: no RFC 3161 token; the capture's time rests on the archivist's signature "
            "alone (" + ("no TSA answered: `custody timestamp` asks again" if asked else
                         "no TSA was configured: custody.toml [timestamp] tsa, then "
                         f"`custody timestamp {capture_id} --tsa URL`") + ")"]
    return summary


def _stamped(archive: Archive, path: Any) -> bool:
    from ..seal.timestamp import pending_path, token_paths

    return bool(token_paths(path)) or pending_path(path).exists()


def _titles(archive: Archive, summary: Summary) -> None:
    """The titles the manifest seals; for manifests too old to seal them, the database's."""
    for entry in summary.content.get("documents") or []:
        meta = entry.get("metadata")
        if meta is not None:
            summary.titles[entry["url"]] = meta.get("title")
            summary.languages[entry["url"]] = meta.get("language")
    if summary.titles or not archive.db_path.exists():
        return
    from ..index.query import open_readonly

    try:
        conn = open_readonly(archive.db_path)
        for url, title, language in conn.execute(
                "SELECT url, title, language FROM documents WHERE capture_id = ?",
                [summary.content["capture_id"]]):
            summary.titles[url] = title
            summary.languages[url] = language
    except (CustodyError, sqlite3.Error):
        return


def _locations(archive: Archive, summary: Summary) -> None:
    """Where each redirect pointed, read from its record's HTTP headers."""
    from ..warc.payload import read_payload

    for record in summary.content.get("records") or []:
        status = record.get("http_status") or 0
        if record.get("type") != "response" or not 300 <= status < 400:
            continue
        try:
            payload = read_payload(archive.root / record["warc_path"], record["offset"], 0)
        except (OSError, ValueError, StopIteration):
            continue
        location = next((v for k, v in payload.headers if k.lower() == "location"), None)
        if location:
            summary.locations[record["record_id"]] = location
