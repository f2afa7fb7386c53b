"""An imported file's records as a manifest lists them: the same fields custody's own
captures have, so that the database, search, history and diff treat them alike.

Only records a tool can reach by offset are listed (each alone in its gzip member, or
in a plain file, or in a WARC stored whole inside a WACZ); the others are counted, and
the file's sha256 still seals every byte of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..check.record import Record
from ..check.run import Checked


def entries(checked: Checked, warc_path: str, listed: Any) -> int:
    """The records listed, added to ``listed`` (a Spool) one at a time; how many records
    could not be listed."""
    left_out = 0
    for entry, result in checked.files.items():
        base = 0
        if entry:  # a WARC inside a WACZ: reachable when stored as it is
            if entry not in checked.stored:
                left_out += result.count
                continue
            base = checked.stored[entry]
        if result.listing is None:  # checked without keeping its records
            left_out += result.count
            continue
        for record in result.listing:  # read back from disk, one at a time
            if record.header is None or record.length is None or record.within \
                    or record.block_sha256 is None:
                left_out += 1
                continue
            listed.add(_entry(record, warc_path, base))
    return left_out


ARC_ID = "<arc:"  # check/arcfile.py's stand-in for the WARC-Record-ID an ARC record lacks
ARC_KEY = "arc\x00"


def arc_key(url: str, date: str) -> str:
    """What stands for an ARC record's id when the archive is asked whether it holds it:
    its URL and date (held.py asks for them, not for the id)."""
    return f"{ARC_KEY}{url}\x00{date}"


def responses(checked: Checked) -> Iterator[tuple[str, str | None, str | None, str | None]]:
    """Every response record the file holds, listed or not (one inside a gzip member of
    many, a WACZ entry compressed in its zip), for the overlap with what the archive
    holds: its WARC-Record-ID, payload sha256, block sha256, and, where it differs, its
    payload sha256 as custody took it before 2026-12-07 (after the first CRLF CRLF),
    which an archive made then holds."""
    for result in checked.files.values():
        for record in result.listing or ():
            header = record.header
            if header is not None and header.type == "response" and record.record_id:
                record_id = record.record_id
                if record_id.startswith(ARC_ID):  # (an ARC record's id is its offset: it
                    # names no record but in its own file, so its URL and date do)
                    record_id = arc_key(header.get("WARC-Target-URI") or "",
                                        (header.get("WARC-Date") or "").strip())
                yield (record_id, record.payload_sha256 or record.block_sha256,
                       record.block_sha256, record.legacy_payload_sha256)


def _entry(record: Record, warc_path: str, base: int) -> dict[str, Any]:
    header = record.header
    assert header is not None
    record_type = header.type
    content_type = header.get("Content-Type") or ""
    http = record_type in ("response", "request") and (
        content_type.lower().startswith("application/http")
        or (header.version == "ARC" and record.http_status is not None))  # ARC: HTTP, untyped
    payload_type = record.http_type if http else content_type or None
    return {
        "warc_path": warc_path,
        "offset": base + record.offset,
        "length": record.length,
        "record_id": record.record_id,
        "type": record_type,
        "target_uri": (header.get("WARC-Target-URI") or "").strip().strip("<>") or None,
        "date": (header.get("WARC-Date") or "").strip() or None,
        "ip": (header.get("WARC-IP-Address") or "").strip() or None,
        "http_status": record.http_status if http else None,
        "payload_type": payload_type,
        "payload_sha256": record.payload_sha256 or record.block_sha256,
        "block_sha256": record.block_sha256,
        "member_sha256": "",  # not kept: the imported file's sha256 seals its bytes
        "truncated": (header.get("WARC-Truncated") or "").strip() or None,
        "imported": True,
    }
