"""A capture's credentials file: the values its WARC holds only as keyed hashes.

The manifest seals the file by its sha256 and lists each redacted value's hash. When
the file is here, it must be the sealed one, and each value in it must give, under its
key, the hash the WARC and the manifest hold. It may be gone: an archivist may destroy
the session secrets once they are no longer needed; the evidence does not depend on
them, and verify says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from ..core.archive import Archive
from .report import FAILED, PASSED, Report

MARK = "custody-redacted:hmac-sha256:"  # as capture.redact writes it


def check_credentials(archive: Archive, cid: str, content: dict[str, Any],
                      report: Report) -> None:
    redactions = content.get("redactions")
    if not redactions:
        return
    held = redactions.get("credentials_file") or {}
    path = archive.root / str(held.get("path", ""))
    name = str(held.get("path", "credentials"))
    if not held.get("path") or not path.is_file():
        report.add("credentials", name, PASSED,
                   f"{len(redactions.get('values') or [])} redacted values; their file is not "
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
    except (ValueError, KeyError, TypeError):
        report.add("credentials", name, FAILED, "unreadable", cid)
        return
    listed = [(v.get("record_id"), v.get("field"), v.get("hmac"))
              for v in redactions.get("values") or []]
    wrong = [v for v in values if not hmac.compare_digest(
        MARK + hmac.new(key, str(v.get("value")).encode("latin-1", errors="replace"),
                        hashlib.sha256).hexdigest(), str(v.get("hmac")))]
    if wrong or [(v.get("record_id"), v.get("field"), v.get("hmac")) for v in values] != listed:
        report.add("credentials", name, FAILED,
                   "its values do not give the hashes the manifest lists", cid)
        return
    report.add("credentials", name, PASSED,
               f"{len(values)} redacted values match their keyed hashes", cid)
