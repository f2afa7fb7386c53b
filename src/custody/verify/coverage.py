"""Every byte of the files that vouch for a manifest, held to the custody log.

A manifest's signature covers the manifest, and the manifest the WARC files; but an
RFC 3161 token's certificate set and status lie outside what the TSA signed, and an
armoured SSH signature can be re-wrapped without changing what it signs. When a capture
is sealed (and when `custody timestamp` adds a token) the signed custody log records
the sha256 of its signature, its SHA256SUMS and each token, and of the checkpoint signed
over its leaf and that checkpoint's tokens (without which a removed checkpoint, and the
trusted date its tokens give, would go unseen); here each file is compared
with that record, so a changed byte anywhere in them fails, named. A token the log does
not record (a `custody timestamp` interrupted before its event) is noted, and judged by
its own signature, as a token of an archive sealed before custody logged these digests.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..core.archive import Archive
from ..seal import manifest
from ..seal.custody_log import CustodyLog
from ..seal.timestamp import token_paths
from .report import FAILED, PASSED, Report

_EVENTS = ("captured", "timestamped")


def logged_digests(archive: Archive) -> tuple[dict[str, dict[str, str]], set[str]]:
    """The file digests the log records, by capture; the captures whose sealing recorded
    them (older archives' events do not)."""
    logged: dict[str, dict[str, str]] = {}
    recorded: set[str] = set()
    for line in CustodyLog(archive.manifests_dir).lines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the log's own check reports it
        details = entry.get("details") if isinstance(entry, dict) else None
        if not isinstance(details, dict) or entry.get("event") not in _EVENTS:
            continue
        files, cid = details.get("files"), details.get("capture_id")
        if isinstance(files, dict) and isinstance(cid, str):
            logged.setdefault(cid, {}).update({str(k): str(v) for k, v in files.items()})
            if entry.get("event") == "captured":
                recorded.add(cid)
    return logged, recorded


def check_capture_coverage(archive: Archive, sealed: manifest.Sealed,
                           files: dict[str, str] | None, recorded: bool,
                           report: Report) -> int:
    """One capture's files against what the log recorded for it; 1 when the capture was
    sealed before custody logged them (nothing to compare with), else 0."""
    if not recorded or files is None:
        return 1
    _check_one(archive, sealed, files, report)
    return 0


def _kind(name: str) -> str:
    if ".tsr" in name:
        return "timestamp"
    return "signature" if name.endswith(".sig") else "sha256sums"


def check_coverage(archive: Archive, chosen: list[manifest.Sealed], report: Report) -> None:
    logged, recorded = logged_digests(archive)
    older = 0
    for sealed in chosen:
        older += check_capture_coverage(archive, sealed, logged.get(sealed.capture_id),
                                        sealed.capture_id in recorded, report)
    if older:
        report.notes.append(f"{older} capture(s) sealed before custody logged the digests of "
                            "their signature, SHA256SUMS and tokens: those files are checked "
                            "by their own signatures only")


def _check_one(archive: Archive, sealed: manifest.Sealed, files: dict[str, str],
               report: Report) -> None:
    cid = sealed.capture_id
    present = [p for p in (sealed.path.with_name(sealed.path.name + ".sig"),
                           archive.manifests_dir / f"{cid}.SHA256SUMS",
                           *token_paths(sealed.path)) if p.is_file()]
    failures = 0
    for path in present:
        want = files.get(path.name)
        if want is None:
            if _kind(path.name) == "timestamp":
                report.notes.append(f"manifests/{path.name}: a token the custody log does "
                                    "not record (a `custody timestamp` interrupted before "
                                    "it logged it?); it is judged by its own signature")
            continue
        actual = _sha256(path)
        if actual != want:
            failures += 1
            report.add(_kind(path.name), path.name, FAILED,
                       f"not the file the custody log recorded (sha256 {actual}, logged "
                       f"{want}): changed since, where its own signature does not reach",
                       cid)
    for name in sorted(n for n in files if "/" in n):  # in the ledger: the checkpoint
        path = archive.manifests_dir / name            # signed over it, and its tokens
        what = "checkpoint token" if ".tsr" in name else "checkpoint"
        if not path.is_file():
            failures += 1
            report.add("checkpoint", f"manifests/{name}", FAILED, f"the custody log "
                       f"records this {what} (of the seal of {cid}), and it is missing", cid)
        elif _sha256(path) != files[name]:
            failures += 1
            report.add("checkpoint", f"manifests/{name}", FAILED, f"not the {what} the "
                       "custody log recorded: changed since", cid)
    names = {p.name for p in present}
    for name in sorted(n for n in set(files) - names if "/" not in n):
        failures += 1
        report.add(_kind(name), name, FAILED, "the custody log records it, and it is "
                   "missing", cid)
    if not failures:
        report.add("coverage", cid, PASSED, f"{len(present)} files beside the manifest "
                   "as the custody log recorded them", cid)


def _sha256(path: Path) -> str:
    """The file's sha256; for one that cannot be read, why (it matches no recorded one)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
