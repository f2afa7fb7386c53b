"""A capture's credentials file: the values its WARC holds only as keyed hashes.

The manifest seals the file by its sha256 and lists each redacted value's hash, and the
hash of each session value seen in a URL. Each listed hash must be in the record the
manifest names (so the list says what the WARC holds). When the file is here, it must
be the sealed one, and each value in it must give, under its key, the hash the manifest
lists: that is what lets the archivist show which session a request carried. The file
may be gone: an archivist may destroy the session secrets once they are no longer
needed; the evidence does not depend on them, and verify says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from ..core.archive import Archive
from .report import FAILED, PASSED, Report

MARK = "custody-redacted:hmac-sha256:"  # as capture.redact writes it
_READ = 1024 * 1024
_BLOCK_LIMIT = 64 * 1024 * 1024  # a record's block read this far for the hashes it holds


def check_credentials(archive: Archive, cid: str, content: dict[str, Any],
                      report: Report) -> None:
    redactions = content.get("redactions")
    if not redactions:
        return
    listed = [(v.get("record_id"), v.get("field"), v.get("hmac"))
              for v in redactions.get("values") or []]
    secrets = [(v.get("record_id"), v.get("where"), v.get("hmac"))
               for v in redactions.get("secrets") or []]
    held = redactions.get("credentials_file") or {}
    name = str(held.get("path", "credentials"))
    missing = _not_in_records(archive, content, listed)
    if missing:
        report.add("credentials", name, FAILED, f"the record {missing[0]} does not hold "
                   f"the hash the manifest lists for its {missing[1]}", cid)
        return
    path = archive.root / str(held.get("path", ""))
    if not held.get("path") or not path.is_file():
        report.add("credentials", name, PASSED,
                   f"{len(listed)} redacted values, each in its record; their file is not "
                   "kept here (the evidence does not need it)", cid)
        return
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != held.get("sha256"):
        report.add("credentials", name, FAILED, "is not the file the manifest seals", cid)
        return
    try:
        kept = json.loads(data)
        key = bytes.fromhex(kept["key"])
        values = kept["values"]
        urls = kept.get("secrets") or []
    except (ValueError, KeyError, TypeError, AttributeError):
        report.add("credentials", name, FAILED, "unreadable", cid)
        return
    try:
        wrong = [v for v in [*values, *urls] if not _gives(key, v)]
        mismatch = ([(v.get("record_id"), v.get("field"), v.get("hmac")) for v in values]
                    != listed or
                    [(v.get("record_id"), v.get("where"), v.get("hmac")) for v in urls]
                    != secrets)
    except AttributeError:  # an entry that is not an object
        report.add("credentials", name, FAILED, "unreadable", cid)
        return
    if wrong or mismatch:
        report.add("credentials", name, FAILED,
                   "its values do not give the hashes the manifest lists", cid)
        return
    report.add("credentials", name, PASSED,
               f"{len(values)} redacted values match their keyed hashes, each in its record"
               + (f"; {len(urls)} session values seen in URLs" if urls else ""), cid)


def _gives(key: bytes, entry: dict[str, Any]) -> bool:
    """The kept value gives, under the key, the hash kept beside it."""
    value = str(entry.get("value")).encode("latin-1", errors="replace")
    expected = MARK + hmac.new(key, value, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, str(entry.get("hmac")))


def _not_in_records(archive: Archive, content: dict[str, Any],
                    listed: list[tuple[Any, Any, Any]]) -> tuple[str, str] | None:
    """The first (record, field) whose listed hash its record does not hold; None."""
    from warcio.archiveiterator import ArchiveIterator

    wanted: dict[str, list[tuple[str, bytes]]] = {}
    for record_id, field, mark in listed:
        wanted.setdefault(str(record_id), []).append((str(field), str(mark).encode()))
    places = {r.get("record_id"): r for r in content.get("records") or []}
    for record_id, marks in wanted.items():
        entry = places.get(record_id)
        if entry is None:
            return record_id, marks[0][0]
        try:
            with open(archive.root / entry["warc_path"], "rb") as fh:
                fh.seek(int(entry["offset"]))
                stream = next(iter(ArchiveIterator(fh, no_record_parse=True))).raw_stream
                read, tail = 0, b""
                left = {mark for _, mark in marks}
                while left and read < _BLOCK_LIMIT and (piece := stream.read(_READ)):
                    read += len(piece)
                    window = tail + piece  # a mark cut across two reads is found
                    left = {mark for mark in left if mark not in window}
                    tail = window[-len(MARK) - 64:]
        except (OSError, ValueError, KeyError, StopIteration):
            return record_id, marks[0][0]  # the records' own check says what is wrong
        if left:
            return record_id, next(field for field, mark in marks if mark in left)
    return None
