"""Verification of the seals on each manifest: its SSH signature against
allowed_signers, its fields, its SHA256SUMS file, and the hash chain that orders the
manifests (sequence numbers without gaps, each naming the digest of the one before).
"""

from __future__ import annotations

from typing import Any

from ..core import allowed_signers, sshsig
from ..core.archive import Archive
from ..seal import manifest
from ..seal.trust import Admission
from .credentials import check_credentials
from .report import FAILED, PASSED, UNCHECKED, Report


def read_signers(archive: Archive, report: Report) -> list[allowed_signers.AllowedSigner] | None:
    """The archive's allowed signers; None (and a note) when the file cannot be read."""
    try:
        return allowed_signers.read_allowed_signers(archive.allowed_signers)
    except (OSError, UnicodeDecodeError) as exc:
        report.notes.append(f"allowed_signers cannot be read: {exc}")
        return None


def check_seal(archive: Archive, sealed: manifest.Sealed,
               signers: list[allowed_signers.AllowedSigner] | None, admission: Admission,
               report: Report) -> None:
    """One capture's signature, manifest fields, SHA256SUMS and listed documents."""
    cid = sealed.capture_id
    _check_signature(archive, sealed, signers, admission, report)
    content = sealed.content
    if content is None:
        report.add("manifest", sealed.path.name, FAILED, sealed.problem or "unreadable", cid)
        return
    if content.get("capture_id") != cid:
        report.add("manifest", sealed.path.name, FAILED,
                   f"names capture {content.get('capture_id')!r}, not {cid!r}", cid)
    try:
        manifest.warc_layout(content)
    except ValueError as exc:
        report.add("manifest", sealed.path.name, FAILED, f"unreadable file or record list: {exc}",
                   cid)
        return
    _check_sums(archive, sealed, report)
    _check_documents_listed(cid, content, report)
    check_credentials(archive, cid, content, report)


def check_chain(sealed: list[manifest.Sealed], report: Report, selected: set[str]) -> None:
    """Sequence numbers 1..N without gaps, each naming the sha256 of the one before."""
    previous: manifest.Sealed | None = None
    expected = 1
    for item in sealed:
        if not item.readable:
            continue
        chain = item.head.get("chain") or {}
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


def _check_signature(archive: Archive, sealed: manifest.Sealed,
                     signers: list[allowed_signers.AllowedSigner] | None, admission: Admission,
                     report: Report) -> None:
    cid = sealed.capture_id
    sig_path = sealed.path.with_name(sealed.path.name + ".sig")
    name = archive.relative(sig_path)
    if not sig_path.exists():
        report.add("signature", name, FAILED, "signature file is missing", cid)
        return
    try:
        signature = sshsig.parse_signature(sig_path.read_text(encoding="ascii"))
    except (ValueError, UnicodeDecodeError) as exc:
        report.add("signature", name, FAILED, f"not a usable SSH signature: {exc}", cid)
        return
    if signers is None:
        report.add("signature", name, UNCHECKED, "allowed_signers cannot be read", cid)
        return
    blob = sshsig.public_key_blob(signature.public_key)
    fp = sshsig.fingerprint(signature.public_key)
    lines = [s for s in signers if sshsig.public_key_blob(s.public_key) == blob]
    if not lines:
        report.add("signature", name, FAILED, f"signed by {fp}, a key not in allowed_signers", cid)
        return
    if signature.namespace != sshsig.MANIFEST_NAMESPACE:
        report.add("signature", name, FAILED, f"wrong namespace {signature.namespace!r}", cid)
        return
    lines = [s for s in lines if s.allows_namespace(signature.namespace)]
    if not lines:
        report.add("signature", name, FAILED, f"{fp} may not sign manifests: its namespaces "
                   "in allowed_signers leave out custody-manifest", cid)
        return
    signer = lines[0]
    if not signature.verifies(sealed.data):
        report.add("signature", name, FAILED,
                   "does not match the manifest's bytes (manifest or signature altered)", cid)
        return
    named = ((sealed.content or {}).get("collector") or {}).get("key_fingerprint")
    if named is not None and named != fp:
        report.add("signature", name, FAILED,
                   f"valid signature by {fp}, but the manifest names key {named}", cid)
        return
    sealed_at = manifest.when((sealed.content or {}).get("finished_at"))
    if sealed_at is not None:
        valid = [s for s in lines if allowed_signers.valid_at(s, sealed_at)]
        if not valid:
            report.add("signature", name, FAILED, f"signed by {fp} outside its validity in "
                       f"allowed_signers (sealed {sealed_at.isoformat()})", cid)
            return
        signer = valid[0]
    if not admission.admits(fp):
        outcome = FAILED if admission.have_log else UNCHECKED
        report.add("signature", name, outcome, f"valid signature, but {admission.why_not(fp)}",
                   cid)
        return
    report.add("signature", name, PASSED, f"{signer.principals[0]} {fp}{_token(signature)}",
               cid)


def _token(signature: sshsig.Signature) -> str:
    """For a security key's signature, what its token said: touched, and its counter."""
    if sshsig.key_type(signature.public_key) != sshsig.SK_KEY_TYPE:
        return ""
    from ..core.skkey import describe_flags, split

    _, flags, counter = split(signature.raw)
    return f" (security key: {describe_flags(flags)}, signature {counter} of its token)"


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


def _check_documents_listed(cid: str, content: dict[str, Any], report: Report) -> None:
    # a document is the text of a response, of a page's DOM as the browser rendered it, or
    # of what yt-dlp made of a page (its info JSON, subtitles)
    from ..extract.sources import MEDIA_FILE, MEDIA_INFO, POST, RENDERED

    sources = {r["record_id"] for r in content["records"] if r["type"] == "response"
               or (r["type"] == "resource" and str(r.get("target_uri")).startswith(
                   (RENDERED, MEDIA_INFO, MEDIA_FILE, POST)))}
    dangling = [d["record_id"] for d in content.get("documents", [])
                if d["record_id"] not in sources]
    if dangling:
        report.add("documents", cid, FAILED,
                   "documents name records the capture lacks: " + ", ".join(dangling), cid)


def note_unadmitted(archive: Archive, signers: list[allowed_signers.AllowedSigner] | None,
                    admission: Admission, report: Report) -> None:
    """A key allowed_signers lists that no event admits signs nothing that verifies: a
    note, naming it (a line added by hand, or a rotation or admission a crash cut short),
    as is a rotation's journal left behind."""
    for signer in signers or []:
        fp = sshsig.fingerprint(signer.public_key)
        if not admission.admits(fp):
            who = ", ".join(signer.principals)
            report.notes.append(f"allowed_signers lists {fp} ({who}), which no key-added or "
                                "key-rotated event admits: nothing it signs verifies")
    if (archive.root / ".custody" / "rotating.json").exists():
        report.notes.append("a key rotation was interrupted: `custody key rotate` again "
                            "completes it (nothing is signed until then)")

