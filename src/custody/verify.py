"""Verification of an archive: the manifests, their signatures and chain, every WARC
file and record against them; then the proofs (verify_proofs) and the database
(verify_db), into one report (report).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from . import manifest, signing
from .report import FAILED, PASSED, UNCHECKED, Report
from .root import Archive
from .scanpool import Layout, Scans
from .verify_db import check_database, check_database_extras, open_db
from .verify_proofs import TsaRoots, check_ledger, check_log, check_timestamps, when
from .warcscan import Member

__all__ = ["FAILED", "PASSED", "UNCHECKED", "Report", "verify"]


def verify(archive: Archive, capture_ids: list[str] | None = None, *,
           against: str | None = None, jobs: int | None = None) -> Report:
    """Check the archive (or the named captures); ``against`` is an older checkpoint's text;
    ``jobs`` worker processes read the WARC files (None: one per core)."""
    report = Report(str(archive.root))
    sealed = manifest.read_all(archive.manifests_dir)
    by_id = {m.capture_id: m for m in sealed}
    wanted = capture_ids or [m.capture_id for m in sealed]
    missing = [c for c in wanted if c not in by_id]
    for capture_id in missing:
        report.add("manifest", capture_id, FAILED, "no such manifest", capture_id)
    report.captures = [c for c in wanted if c in by_id]
    # the WARC files are read in workers meanwhile; their records are compared last
    chosen = [by_id[c] for c in report.captures]
    with Scans(_warc_files(archive, chosen), jobs, tokens=_tokens(chosen),
               root=archive.root) as scans:
        signers = _signers(archive, report)
        _check_chain(sealed, report, set(report.captures))
        conn = open_db(archive, report)
        roots = TsaRoots(archive, report)
        for capture_id in report.captures:
            _check_capture(archive, by_id[capture_id], signers, conn, report)
            check_timestamps(by_id[capture_id], roots, report, scans)
        check_ledger(archive, sealed, set(report.captures), signers, report, against)
        if not capture_ids:
            check_log(archive, signers, report)
        if conn is not None and not capture_ids:
            check_database_extras(conn, set(by_id), report)
        if not capture_ids:
            _note_leftovers(archive, sealed, report)
        if conn is not None:
            conn.close()
        for capture_id in report.captures:
            _check_warcs(archive, by_id[capture_id], scans, report)
    return report


def _warc_files(archive: Archive,
                sealed: list[manifest.Sealed]) -> list[tuple[Path, str | None, Layout | None]]:
    """The WARC files the manifests name that are there to read: each with its sealed
    sha256 and its records' sealed places, which let the file be read in parts."""
    files: dict[Path, tuple[Path, str | None, Layout | None]] = {}
    for one in sealed:
        try:
            entries, records = _layout(one.content)
            for relpath, entry in entries.items():
                path = archive.root / relpath
                places = sorted((r["offset"], r["length"]) for r in records.get(relpath, []))
                if path.is_file() and path not in files:
                    files[path] = (path, str(entry["sha256"]), places)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # a malformed manifest: reported by _check_capture, nothing to read early
    return list(files.values())


def _tokens(sealed: list[manifest.Sealed]) -> list[tuple[Path, Path]]:
    """The RFC 3161 tokens beside the manifests, each with its manifest."""
    from .timestamp import token_paths

    return [(token, one.path) for one in sealed for token in token_paths(one.path)]


def _signers(archive: Archive, report: Report) -> list[signing.AllowedSigner] | None:
    try:
        return signing.read_allowed_signers(archive.allowed_signers)
    except (OSError, UnicodeDecodeError) as exc:
        report.notes.append(f"allowed_signers cannot be read: {exc}")
        return None


# -- the hash chain ----------------------------------------------------------------------------


def _check_chain(sealed: list[manifest.Sealed], report: Report, selected: set[str]) -> None:
    """Sequence numbers 1..N without gaps, each naming the sha256 of the one before."""
    previous: manifest.Sealed | None = None
    expected = 1
    for item in sealed:
        if item.content is None:
            continue
        chain = item.content.get("chain") or {}
        problems = []
        if item.sequence != expected:
            if item.sequence is not None and item.sequence > expected:
                problems.append(
                    f"sequence {item.sequence} follows {expected - 1}: "
                    f"{item.sequence - expected} sealed capture(s) missing before it"
                )
            else:
                problems.append(f"sequence {item.sequence} where {expected} was expected")
        want = previous.sha256 if previous is not None else None
        if chain.get("previous_sha256") != want:
            before = previous.capture_id if previous is not None else "nothing"
            problems.append(
                f"previous_sha256 is {chain.get('previous_sha256')}, "
                f"but the manifest before it ({before}) hashes to {want}"
            )
        if item.capture_id in selected:
            outcome = FAILED if problems else PASSED
            detail = "; ".join(problems) or f"sequence {item.sequence}"
            report.add("chain", item.capture_id, outcome, detail, item.capture_id)
        previous = item
        expected = (item.sequence or expected) + 1


# -- one capture -------------------------------------------------------------------------------


def _check_capture(archive: Archive, sealed: manifest.Sealed,
                   signers: list[signing.AllowedSigner] | None,
                   conn: sqlite3.Connection | None, report: Report) -> None:
    cid = sealed.capture_id
    _check_signature(archive, sealed, signers, report)
    content = sealed.content
    if content is None:
        report.add("manifest", sealed.path.name, FAILED, sealed.problem or "unreadable", cid)
        return
    if content.get("capture_id") != cid:
        report.add("manifest", sealed.path.name, FAILED,
                   f"names capture {content.get('capture_id')!r}, not {cid!r}", cid)
    try:
        _layout(content)
    except (KeyError, TypeError) as exc:
        report.add("manifest", sealed.path.name, FAILED, f"missing field {exc}", cid)
        return
    _check_sums(archive, sealed, report)
    _check_documents_listed(cid, content, report)
    if conn is not None:
        check_database(conn, cid, content, sealed.sha256, report)


def _check_warcs(archive: Archive, sealed: manifest.Sealed, scans: Scans,
                 report: Report) -> None:
    """Each WARC file of a capture whose manifest is readable, against its records."""
    try:
        files, by_file = _layout(sealed.content)
    except (KeyError, TypeError):
        return  # reported by _check_capture
    for path, entry in files.items():
        _check_warc(archive, sealed.capture_id, entry, by_file.get(path, []), scans, report)


def _layout(content: Any) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """A manifest's WARC files by path, and their records; KeyError/TypeError if malformed."""
    files = {f["path"]: f for f in content["warc_files"]}
    by_file: dict[str, list[dict[str, Any]]] = {}
    for record in content["records"]:
        by_file.setdefault(record["warc_path"], []).append(record)
    return files, by_file


def _check_signature(archive: Archive, sealed: manifest.Sealed,
                     signers: list[signing.AllowedSigner] | None, report: Report) -> None:
    cid = sealed.capture_id
    sig_path = sealed.path.with_name(sealed.path.name + ".sig")
    name = archive.relative(sig_path)
    if not sig_path.exists():
        report.add("signature", name, FAILED, "signature file is missing", cid)
        return
    try:
        signature = signing.parse_signature(sig_path.read_text(encoding="ascii"))
    except (ValueError, UnicodeDecodeError) as exc:
        report.add("signature", name, FAILED, f"not a usable SSH signature: {exc}", cid)
        return
    if signers is None:
        report.add("signature", name, UNCHECKED, "allowed_signers cannot be read", cid)
        return
    blob = signing.public_key_blob(signature.public_key)
    signer = next((s for s in signers if signing.public_key_blob(s.public_key) == blob), None)
    fp = signing.fingerprint(signature.public_key)
    if signer is None:
        report.add("signature", name, FAILED, f"signed by {fp}, a key not in allowed_signers", cid)
        return
    if signature.namespace != signing.MANIFEST_NAMESPACE or not signer.allows_namespace(
        signature.namespace
    ):
        report.add("signature", name, FAILED, f"wrong namespace {signature.namespace!r}", cid)
        return
    if not signature.verifies(sealed.data):
        report.add("signature", name, FAILED,
                   "does not match the manifest's bytes (manifest or signature altered)", cid)
        return
    named = ((sealed.content or {}).get("collector") or {}).get("key_fingerprint")
    if named is not None and named != fp:
        report.add("signature", name, FAILED,
                   f"valid signature by {fp}, but the manifest names key {named}", cid)
        return
    sealed_at = when((sealed.content or {}).get("finished_at"))
    if sealed_at is not None and not signing.valid_at(signer, sealed_at):
        report.add("signature", name, FAILED, f"signed by {fp} outside its validity in "
                   f"allowed_signers (sealed {sealed_at.isoformat()})", cid)
        return
    report.add("signature", name, PASSED, f"{signer.principals[0]} {fp}", cid)


def _check_sums(archive: Archive, sealed: manifest.Sealed, report: Report) -> None:
    cid = sealed.capture_id
    path = archive.manifests_dir / f"{cid}.SHA256SUMS"
    name = archive.relative(path)
    content = sealed.content or {}
    expected = [(f["path"], f["sha256"]) for f in content.get("warc_files", [])]
    expected.append((archive.relative(sealed.path), sealed.sha256))
    if not path.exists():
        report.add("sha256sums", name, FAILED, "missing", cid)
        return
    if path.read_bytes() != manifest.sha256sums(expected):
        report.add("sha256sums", name, FAILED,
                   "does not list the manifest's files and digests", cid)
        return
    report.add("sha256sums", name, PASSED, "", cid)


def _check_warc(archive: Archive, cid: str, entry: dict[str, Any],
                records: list[dict[str, Any]], scans: Scans, report: Report) -> None:
    """One pass over the file: its size and sha256, its records' places and digests."""
    relpath = entry["path"]
    path = archive.root / relpath
    if not path.is_file():
        report.add("warc-file", relpath, FAILED, "missing", cid)
        report.add("warc-records", relpath, UNCHECKED, "the file is missing", cid)
        return
    try:
        found = scans.get(path)
    except OSError as exc:
        report.add("warc-file", relpath, UNCHECKED, f"cannot be read: {exc.strerror or exc}", cid)
        report.add("warc-records", relpath, UNCHECKED, "the file cannot be read", cid)
        return
    problems = []
    if found.size != entry["bytes"]:
        problems.append(f"{found.size} bytes, manifest says {entry['bytes']}")
    if found.sha256 != entry["sha256"]:
        problems.append(f"sha256 {found.sha256}, manifest says {entry['sha256']}")
    report.add("warc-file", relpath, FAILED if problems else PASSED, "; ".join(problems), cid)

    listed = [(r["offset"], r["record_id"]) for r in records]
    present = [(m.offset, m.headers.get("WARC-Record-ID")) for m in found.members]
    if present == listed and found.error is None:
        report.add("warc-records", relpath, PASSED, f"{len(present)} records", cid)
    else:
        parts = [found.error] if found.error else []
        gone = [f"{rid} at {off}" for off, rid in listed if (off, rid) not in present]
        extra = [f"{rid} at {off}" for off, rid in present if (off, rid) not in listed]
        if gone:
            parts.append("not found where the manifest puts them: " + ", ".join(gone[:5]))
        if extra:
            parts.append("not in the manifest: " + ", ".join(extra[:5]))
        report.add("warc-records", relpath, FAILED, "; ".join(parts) or "order differs", cid)
    at = {m.offset: m for m in found.members}
    for record in records:
        _check_record(at.get(record["offset"]), cid, relpath, record, report)


def _check_record(member: Member | None, cid: str, relpath: str, record: dict[str, Any],
                  report: Report) -> None:
    subject = f"{relpath}@{record['offset']} {record['record_id']}"
    if member is None:
        report.add("record", subject, FAILED, "no readable record starts at this offset", cid)
        return
    problems = []
    if member.length != record["length"] or member.member_sha256 not in (
            None, record["member_sha256"]):  # None: the whole file is as sealed
        problems.append("record bytes differ from the sealed ones")
    if member.error:
        problems.append(member.error)
    headers = member.headers
    for field_name, key in (("WARC-Record-ID", "record_id"), ("WARC-Type", "type"),
                            ("WARC-Target-URI", "target_uri")):
        if headers.get(field_name) != record[key]:
            problems.append(f"WARC header {field_name} is {headers.get(field_name)!r}, "
                            f"manifest says {record[key]!r}")
    if headers.get("WARC-Block-Digest") != f"sha256:{record['block_sha256']}":
        problems.append("WARC-Block-Digest header differs from the manifest")
    if member.block_sha256 is not None and member.block_sha256 != record["block_sha256"]:
        problems.append(f"block sha256 is {member.block_sha256}, "
                        f"manifest says {record['block_sha256']} (HTTP headers or body changed)")
    report.add("record", subject, FAILED if problems else PASSED, "; ".join(problems), cid)


def _check_documents_listed(cid: str, content: dict[str, Any], report: Report) -> None:
    responses = {r["record_id"] for r in content["records"] if r["type"] == "response"}
    dangling = [d["record_id"] for d in content.get("documents", [])
                if d["record_id"] not in responses]
    if dangling:
        report.add("documents", cid, FAILED,
                   "documents name records the capture lacks: " + ", ".join(dangling), cid)


def _note_leftovers(archive: Archive, sealed: list[manifest.Sealed], report: Report) -> None:
    referenced = {
        f["path"] for m in sealed if m.content for f in m.content.get("warc_files", [])
    }
    for path in sorted(archive.archive_dir.rglob("*.warc*")):
        rel = archive.relative(path)
        if rel not in referenced:
            report.notes.append(f"{rel}: not sealed by any manifest (an interrupted capture?)")
    for state in sorted((archive.root / ".custody" / "crawls").glob("*/state.db")):
        report.notes.append(f"crawl {state.parent.name} was interrupted: "
                            "`custody archive --resume` continues it")
