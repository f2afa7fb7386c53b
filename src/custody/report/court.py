"""Everything a capture report states, gathered from the evidence itself: the manifest,
the WARC records it seals (certificates, screenshots), the custody log, the ledger, the
timestamp tokens, and a verification run made now. html.py lays it out for a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ..core.archive import Archive
from ..seal import manifest
from ..seal.bundle import verify_instructions
from ..seal.ledger import Ledger
from ..seal.timestamp import token_paths


@dataclass
class Certificate:
    subject: str
    issuer: str
    not_before: str
    not_after: str
    sha256: str


@dataclass
class Report:
    content: dict[str, Any]
    manifest_sha256: str
    made_at: str
    titles: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    screenshot: bytes | None = None  # the first page's, with its band (URL and UTC time)
    screenshot_of: str | None = None
    screenshots: list[tuple[str, bytes]] = field(default_factory=list)  # every page's: URL, PNG
    renders: list[dict[str, Any]] = field(default_factory=list)  # resource records: kind, page
    timestamps: list[tuple[str, str, str]] = field(default_factory=list)  # name, outcome, detail
    hosts: dict[str, set[str]] = field(default_factory=dict)  # host -> server IPs
    certificates: dict[str, list[Certificate]] = field(default_factory=dict)  # host -> chain
    events: list[dict[str, Any]] = field(default_factory=list)
    inclusion: dict[str, Any] | None = None
    verification: str = ""
    verification_counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    commands: str = ""


def gather(archive: Archive, capture_id: str, *, check: bool = True) -> Report:
    """The report's facts; ``check``: with a verification of the capture made now (the
    workbench shows a capture without one, and verifies it when asked)."""
    sealed, content = manifest.read_capture(archive.manifests_dir, capture_id)
    report = Report(content, sealed.sha256,
                    datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))
    for entry in content.get("documents") or []:
        meta = entry.get("metadata") or {}
        report.titles.append((entry["url"], meta.get("title"), meta.get("language")))
    _records(archive, report)
    _log(archive, report)
    if check:
        _verification(archive, report)
    else:
        report.timestamps = _tokens(archive, sealed)
    ledger = Ledger(archive.manifests_dir)
    try:
        report.inclusion = ledger.prove(sealed)
    except (LookupError, ValueError):  # none, or an unreadable checkpoint: verify says
        report.inclusion = None
    try:
        checkpoint = ledger.latest()
    except (OSError, ValueError):
        checkpoint = None
    tokens = token_paths(sealed.path)
    from ..core.config import load

    report.commands = verify_instructions(content, checkpoint.size if checkpoint else 0,
                                          tokens, bool(load(archive.root).tsa_roots))
    return report


def _records(archive: Archive, report: Report) -> None:
    """Server addresses, the certificates the servers presented, the renders and media
    (resource records named by URN), and every page's screenshot."""
    for record in report.content.get("records") or []:
        target = str(record.get("target_uri") or "")
        try:
            host = urlsplit(target).hostname if "://" in target else None
        except ValueError:  # an imported record's URL that no parser takes
            host = None
        if record.get("type") == "response" and host:
            report.hosts.setdefault(host, set())
            if record.get("ip"):
                report.hosts[host].add(str(record["ip"]))
        if record.get("type") == "metadata" and host and host not in report.certificates \
                and record.get("content_type") == "application/pem-certificate-chain":
            pem = _block(archive, record, report)
            if pem is not None:
                report.certificates[host] = _certificates(pem)
        if record.get("type") == "resource" and target.startswith("urn:"):
            kind, _, page = target.removeprefix("urn:").partition(":")
            report.renders.append({"kind": kind, "page": page, "date": record.get("date"),
                                   "type": record.get("payload_type"),
                                   "sha256": record.get("payload_sha256")
                                   or record.get("block_sha256")})
            png = _block(archive, record, report) if kind == "screenshot" else None
            if png is not None:
                report.screenshots.append((page, png))
    if report.screenshots:
        report.screenshot_of, report.screenshot = report.screenshots[0]


def _block(archive: Archive, record: dict[str, Any], report: Report) -> bytes | None:
    """The record's block as sealed; None, and a problem said, when it cannot be read or
    is not what was sealed (a changed WARC file: the verification says the rest)."""
    from ..warc.payload import sealed_block

    data, why = sealed_block(archive.root, record)
    if data is None:
        report.problems.append(f"{record.get('warc_path')} at {record.get('offset')}: "
                               f"{why}; not shown")
    return data


def _certificates(pem: bytes) -> list[Certificate]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        certs = x509.load_pem_x509_certificates(pem)
    except (ValueError, x509.InvalidVersion):
        return []
    return [Certificate(c.subject.rfc4514_string(), c.issuer.rfc4514_string(),
                        c.not_valid_before_utc.isoformat(), c.not_valid_after_utc.isoformat(),
                        c.fingerprint(hashes.SHA256()).hex(":").upper())
            for c in certs]


def _log(archive: Archive, report: Report) -> None:
    """Every event of the custody log about this capture, and the archive-wide
    verifications made since it was sealed: found through custody.db's index of the log,
    each read from the log itself (the whole log only when there is no index)."""
    from ..seal.log_events import of_capture

    cid = report.content["capture_id"]
    sealed_at = report.content.get("finished_at") or ""
    events, _ = of_capture(archive.root, cid, archive_wide_since=sealed_at)
    report.events.extend(event.entry for event in events)


def _tokens(archive: Archive, sealed: manifest.Sealed) -> list[tuple[str, str, str]]:
    """Each timestamp token's check (imprint, signature, chain at its genTime), without
    the rest of a verification."""
    import hashlib

    from ..core.config import load
    from ..seal.timestamp import check_token, load_certificates

    try:
        roots = load_certificates(load(archive.root).tsa_roots)
    except (OSError, ValueError):
        roots = []
    digest = hashlib.sha256(sealed.data).digest()
    out = []
    for path in token_paths(sealed.path):
        checked = check_token(path.read_bytes(), digest, roots)
        when = checked.gen_time.isoformat() if checked.gen_time else ""
        out.append((path.name, checked.outcome,
                    checked.detail if checked.outcome == "passed" or not when
                    else f"genTime {when}: {checked.detail}"))
    return out


def _verification(archive: Archive, report: Report) -> None:
    from ..verify.report import PASSED
    from ..verify.run import verify

    checked = verify(archive, [report.content["capture_id"]], jobs=0)
    report.verification = checked.status
    report.verification_counts = {o: checked.count(o) for o in ("passed", "failed",
                                                                 "unchecked")}
    report.problems += [f"{c.outcome}: {c.check} {c.subject}: {c.detail}"
                       for c in checked.checks if c.outcome != PASSED]
    report.timestamps = [(c.subject, c.outcome, c.detail) for c in checked.checks
                         if c.check == "timestamp"]
