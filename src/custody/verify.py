"""Verification of an archive, and its report.

Every check has one of three outcomes -- passed, failed, or unchecked (could not be
checked) -- and verification keeps going after a failure, so the report names
every capture, file and record that is wrong and what differs.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from . import __version__, manifest, signing
from .db import open_readonly
from .errors import ArchiveError
from .root import Archive
from .scanpool import Layout, Scans
from .warcscan import Member

PASSED, FAILED, UNCHECKED = "passed", "failed", "unchecked"
REPORT_FORMAT = "custody-verify/1"


@dataclass
class Check:
    check: str  # signature, chain, sha256sums, warc-file, warc-records, record, database, ...
    subject: str  # what was checked: a path, a record id, a table
    outcome: str
    detail: str = ""
    capture_id: str | None = None


@dataclass
class Report:
    root: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    captures: list[str] = field(default_factory=list)

    def add(self, check: str, subject: str, outcome: str, detail: str = "",
            capture_id: str | None = None) -> None:
        self.checks.append(Check(check, subject, outcome, detail, capture_id))

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.checks if c.outcome == outcome)

    @property
    def status(self) -> str:
        if self.count(FAILED):
            return FAILED
        return "incomplete" if self.count(UNCHECKED) else PASSED

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "custody_version": __version__,
            "root": self.root,
            "status": self.status,
            "summary": {o: self.count(o) for o in (PASSED, FAILED, UNCHECKED)},
            "captures": self.captures,
            "checks": [asdict(c) for c in self.checks],
            "notes": self.notes,
        }


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
    with Scans(_warc_files(archive, [by_id[c] for c in report.captures]), jobs) as scans:
        signers = _signers(archive, report)
        _check_chain(sealed, report, set(report.captures))
        conn = _open_db(archive, report)
        roots = _TsaRoots(archive, report)
        for capture_id in report.captures:
            _check_capture(archive, by_id[capture_id], signers, conn, report)
            _check_timestamps(by_id[capture_id], roots, report)
        _check_ledger(archive, sealed, set(report.captures), signers, report, against)
        if not capture_ids:
            _check_log(archive, signers, report)
        if conn is not None and not capture_ids:
            _check_database_extras(conn, set(by_id), report)
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


def _signers(archive: Archive, report: Report) -> list[signing.AllowedSigner] | None:
    try:
        return signing.read_allowed_signers(archive.allowed_signers)
    except (OSError, UnicodeDecodeError) as exc:
        report.notes.append(f"allowed_signers cannot be read: {exc}")
        return None


def _open_db(archive: Archive, report: Report) -> sqlite3.Connection | None:
    try:
        conn = open_readonly(archive.db_path)
        conn.execute("SELECT 1 FROM captures LIMIT 1")
        return conn
    except (ArchiveError, sqlite3.Error) as exc:
        report.add("database", "custody.db", UNCHECKED,
                   f"cannot be read ({exc}); `custody reindex` rebuilds it")
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
        _check_database(conn, cid, content, sealed.sha256, report)


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
    sealed_at = _when((sealed.content or {}).get("finished_at"))
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


# -- timestamps -------------------------------------------------------------------------------


class _TsaRoots:
    """The trusted TSA roots, read when the first token is to be checked."""

    def __init__(self, archive: Archive, report: Report) -> None:
        self._archive, self._report = archive, report
        self._roots: list[Any] | None = None

    def get(self) -> list[Any]:
        if self._roots is None:
            from .config import load
            from .errors import UsageError
            from .timestamp import load_certificates

            try:
                self._roots = load_certificates(load(self._archive.root).tsa_roots)
            except (OSError, ValueError, UsageError) as exc:
                self._report.notes.append(f"trusted TSA roots cannot be read: {exc}")
                self._roots = []
        return self._roots


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _check_timestamps(sealed: manifest.Sealed, roots: _TsaRoots, report: Report) -> None:
    from .timestamp import check_token, pending_path, token_paths

    cid = sealed.capture_id
    content = sealed.content or {}
    asked = (content.get("settings") or {}).get("tsa") or []
    tokens = token_paths(sealed.path)
    pending = pending_path(sealed.path)
    if not tokens:
        if pending.exists():
            report.add("timestamp", pending.name, UNCHECKED,
                       "timestamp pending: no TSA answered yet (`custody timestamp`)", cid)
        elif asked:
            report.add("timestamp", sealed.path.name + ".tsr", FAILED,
                       f"the capture asked {', '.join(asked)} for a timestamp, "
                       "and no token or pending mark is here", cid)
        return
    started = _when(content.get("started_at"))
    for path in tokens:
        result = check_token(path.read_bytes(), sealed.data, roots.get())
        outcome, detail = result.outcome, result.detail
        if result.gen_time and started and result.gen_time < started - timedelta(minutes=10):
            outcome = FAILED
            detail = (f"genTime {result.gen_time.isoformat()} is before the capture started "
                      f"({content.get('started_at')})")
        report.add("timestamp", path.name, outcome, detail, cid)


# -- the ledger and the custody log -------------------------------------------------------------


def _check_ledger(archive: Archive, sealed: list[manifest.Sealed], selected: set[str],
                  signers: list[signing.AllowedSigner] | None, report: Report,
                  against: str | None) -> None:
    from . import merkle
    from .ledger import Ledger, key_name, note_signers, parse_checkpoint

    ledger = Ledger(archive.manifests_dir)
    readable = [m for m in sealed if m.content is not None]
    if not ledger.exists:
        if readable:
            report.add("ledger", "manifests/ledger", FAILED, "the ledger is missing")
        return
    try:
        leaves = ledger.leaves()
    except (ValueError, OSError) as exc:
        report.add("ledger", "manifests/ledger/leaves", FAILED, f"unreadable: {exc}")
        return
    by_id = {m.capture_id: m for m in sealed}
    problems = []
    for position, leaf in enumerate(leaves):
        if leaf.index != position:
            problems.append(f"leaf {position} is numbered {leaf.index}")
        item = by_id.get(leaf.capture_id)
        if item is None:
            problems.append(f"leaf {leaf.index}: manifest of {leaf.capture_id} is gone")
        elif merkle.leaf_hash(item.data) != leaf.hash:
            problems.append(f"leaf {leaf.index}: manifest of {leaf.capture_id} changed "
                            "since it entered the ledger")
        elif item.sequence is not None and item.sequence != position + 1:
            problems.append(f"leaf {leaf.index} holds sequence {item.sequence}: reordered")
    in_ledger = {leaf.capture_id for leaf in leaves}
    last = max((m.sequence or 0 for m in readable if m.capture_id in in_ledger), default=0)
    for item in readable:
        if item.capture_id in in_ledger:
            continue
        if (item.sequence or 0) > last:
            report.add("ledger", item.capture_id, UNCHECKED,
                       "sealed after the last ledger entry (an interrupted seal; the next "
                       "`custody archive` appends it)", item.capture_id)
        else:
            problems.append(f"{item.capture_id} is sealed but not in the ledger")
    report.add("ledger", "manifests/ledger/leaves", FAILED if problems else PASSED,
               "; ".join(problems) or f"{len(leaves)} leaves")

    hashes = [leaf.hash for leaf in leaves]
    keys = [(key_name(p), s.public_key) for s in signers or [] for p in s.principals]
    try:
        checkpoint = ledger.latest()
    except (ValueError, OSError) as exc:
        report.add("checkpoint", "manifests/ledger/checkpoint", FAILED, f"unreadable: {exc}")
        return
    if checkpoint is None:
        report.add("checkpoint", "manifests/ledger/checkpoint", FAILED, "missing")
        return
    cp_problems = []
    if not note_signers(checkpoint.text, keys):
        cp_problems.append("not signed by a key in allowed_signers")
    cp_problems += _checkpoint_history_problems(ledger, checkpoint, signers)
    if checkpoint.size > len(hashes):
        cp_problems.append(f"covers {checkpoint.size} leaves, the ledger holds {len(hashes)}: "
                           "captures were removed")
    elif merkle.root(hashes[: checkpoint.size]) != checkpoint.root:
        cp_problems.append("root hash is not the root of the ledger's leaves")
    if checkpoint.size < len(hashes):
        report.add("checkpoint", "manifests/ledger/checkpoint", UNCHECKED,
                   f"covers {checkpoint.size} of {len(hashes)} leaves")
    report.add("checkpoint", "manifests/ledger/checkpoint", FAILED if cp_problems else PASSED,
               "; ".join(cp_problems) or f"size {checkpoint.size}, {checkpoint.origin}")
    if against is not None:  # needs only the leaves, whatever became of the checkpoint
        origin = ledger.read_origin() or checkpoint.origin
        _check_against(against, origin, hashes, keys, report, parse_checkpoint, note_signers)
    if cp_problems:
        return
    size = checkpoint.size
    for leaf in leaves[:size]:
        if leaf.capture_id in selected:
            proof = merkle.inclusion_proof(hashes[:size], leaf.index)
            ok = merkle.verify_inclusion(leaf.index, size, leaf.hash, proof, checkpoint.root)
            report.add("inclusion", leaf.capture_id, PASSED if ok else FAILED,
                       f"leaf {leaf.index} of {size}", leaf.capture_id)


def _checkpoint_history_problems(ledger: Any, checkpoint: Any,
                                 signers: list[signing.AllowedSigner] | None) -> list[str]:
    """The newest checkpoint must be the last of the history, with a valid SSH signature."""
    problems = []
    history = [int(p.name) for p in (ledger.dir / "checkpoints").glob("*") if p.name.isdigit()]
    if history and max(history) > checkpoint.size:
        problems.append(f"rolled back: the history holds a checkpoint of {max(history)} "
                        f"captures, this one covers {checkpoint.size}")
    sig_path = ledger.dir / "checkpoint.sig"
    try:
        signature = signing.parse_signature(sig_path.read_text(encoding="ascii"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        problems.append(f"checkpoint.sig missing or unreadable ({exc.__class__.__name__})")
        return problems
    blob = signing.public_key_blob(signature.public_key)
    known = any(signing.public_key_blob(s.public_key) == blob for s in signers or [])
    if not known or signature.namespace != signing.CHECKPOINT_NAMESPACE \
            or not signature.verifies(checkpoint.text.encode()):
        problems.append("checkpoint.sig does not verify over the checkpoint")
    return problems


def _check_against(text: str, origin: str, hashes: list[bytes], keys: list[Any],
                   report: Report, parse: Any, signed_by: Any) -> None:
    from . import merkle

    subject = "--against checkpoint"
    try:
        old = parse(text)
    except ValueError as exc:
        report.add("consistency", subject, FAILED, f"not a checkpoint: {exc}")
        return
    if not signed_by(text, keys):
        report.add("consistency", subject, FAILED, "not signed by a key in allowed_signers")
        return
    if old.origin != origin:
        report.add("consistency", subject, FAILED,
                   f"is of log {old.origin!r}, this archive's is {origin!r}")
        return
    if old.size > len(hashes):
        report.add("consistency", subject, FAILED,
                   f"the old checkpoint has {old.size} captures, the ledger now {len(hashes)}: "
                   "captures were removed")
        return
    if old.size == 0:
        report.add("consistency", subject, PASSED, "empty old tree")
        return
    new_root = merkle.root(hashes)
    proof = merkle.consistency_proof(hashes, old.size)
    ok = merkle.verify_consistency(old.size, len(hashes), proof, old.root, new_root)
    detail = (f"the ledger of {len(hashes)} extends the checkpoint of {old.size}" if ok else
              f"the first {old.size} captures are not those of the old checkpoint: a capture "
              "sealed before it was removed, changed or reordered")
    report.add("consistency", subject, PASSED if ok else FAILED, detail)


def _check_log(archive: Archive, signers: list[signing.AllowedSigner] | None,
               report: Report) -> None:
    from .events import CustodyLog

    log = CustodyLog(archive.manifests_dir)
    if not log.path.exists():
        return
    keys = {signing.fingerprint(s.public_key): s.public_key for s in signers or []}
    problems = log.check(keys)
    detail = "; ".join(f"line {p.line}: {p.detail}" for p in problems[:10])
    report.add("log", "manifests/ledger/log.jsonl", FAILED if problems else PASSED,
               detail or f"{len(log.lines())} events")


# -- the database ------------------------------------------------------------------------------


def _check_database(conn: sqlite3.Connection, cid: str, content: dict[str, Any],
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


def _check_database_extras(conn: sqlite3.Connection, sealed_ids: set[str],
                           report: Report) -> None:
    extra = [r[0] for r in conn.execute("SELECT id FROM captures")
             if r[0] not in sealed_ids]
    outcome = FAILED if extra else PASSED
    detail = ("captures with no manifest: " + ", ".join(extra)) if extra else ""
    report.add("database", "captures", outcome, detail)


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
