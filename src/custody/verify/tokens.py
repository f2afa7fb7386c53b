"""Verification of the RFC 3161 timestamp tokens beside the manifests: each token's
imprint, signature and certificate chain at its genTime, against the trusted roots;
then, with the manifest's content, that genTime is not before the capture started and
that a capture which asked a TSA has a token or a pending mark.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..core.archive import Archive
from ..seal import manifest
from .report import FAILED, UNCHECKED, Report

# A capture's tokens as checked from bytes alone: the sha256 of the manifest they were
# checked against, and per token (file name, outcome, detail, genTime in ISO 8601).
TokenResults = dict[str, tuple[str | None, list[tuple[str, str, str, str | None]]]]


def trusted_roots(archive: Archive, notes: list[str]) -> list[Any]:
    """The TSA roots the archive trusts; none (and a note) when they cannot be read."""
    from ..core.config import load
    from ..core.errors import UsageError
    from ..seal.timestamp import load_certificates

    try:
        return load_certificates(load(archive.root).tsa_roots)
    except (OSError, ValueError, UsageError) as exc:
        notes.append(f"trusted TSA roots cannot be read: {exc}")
        return []


def _manifests(archive: Archive, capture_ids: list[str] | None) -> Iterator[Path]:
    """The sealed manifests (of ``capture_ids``, or all, listed as they come: the folder
    grows with the archive)."""
    if capture_ids is not None:
        yield from (archive.manifests_dir / f"{cid}.json" for cid in capture_ids)
        return
    with os.scandir(archive.manifests_dir) as entries:
        for entry in entries:
            if entry.name.endswith(".json") and not entry.name.startswith("."):
                yield archive.manifests_dir / entry.name


def check_tokens(archive: Archive, capture_ids: list[str] | None) -> tuple[TokenResults, list[str]]:
    """A job: every RFC 3161 token beside the manifests (or those of ``capture_ids``),
    checked against the manifest's bytes and the trusted roots; and notes.

    It reads the manifests' bytes itself and parses none of them, so that it can start
    before the manifests are read: its libraries take longest of all to load.
    """
    from ..seal.timestamp import check_token, token_paths

    results: TokenResults = {}
    notes: list[str] = []
    roots: list[Any] | None = None
    for path in _manifests(archive, capture_ids):
        capture_id = path.name.removesuffix(".json")
        tokens = token_paths(path)
        if not tokens:
            continue
        if roots is None:
            roots = trusted_roots(archive, notes)
        try:
            digest = hashlib.sha256(path.read_bytes())
        except OSError as exc:
            results[capture_id] = (None, [(t.name, UNCHECKED, f"the manifest cannot be read: "
                                           f"{exc.strerror or exc}", None) for t in tokens])
            continue
        checked: list[tuple[str, str, str, str | None]] = []
        for token in tokens:
            try:
                result = check_token(token.read_bytes(), digest.digest(), roots)
            except OSError as exc:
                checked.append((token.name, UNCHECKED, f"cannot be read: {exc}", None))
                continue
            gen_time = result.gen_time.isoformat() if result.gen_time else None
            checked.append((token.name, result.outcome, result.detail, gen_time))
        results[capture_id] = (digest.hexdigest(), checked)
    if capture_ids is None:
        _checkpoint_tokens(archive, results, roots)
    return results, notes


def tokens_of(sealed: manifest.Sealed, trusted: Callable[[], list[Any]]) -> TokenResults:
    """One capture's tokens checked against its manifest's bytes (as check_tokens does
    for every capture); ``trusted`` gives the TSA roots, asked only when there are
    tokens (their certificate libraries are slow to load)."""
    from ..seal.timestamp import token_paths

    tokens = token_paths(sealed.path)
    if not tokens:
        return {}
    from ..seal.timestamp import check_token

    roots = trusted()
    digest = hashlib.sha256(sealed.data)
    checked: list[tuple[str, str, str, str | None]] = []
    for token in tokens:
        try:
            result = check_token(token.read_bytes(), digest.digest(), roots)
        except OSError as exc:
            checked.append((token.name, UNCHECKED, f"cannot be read: {exc}", None))
            continue
        gen_time = result.gen_time.isoformat() if result.gen_time else None
        checked.append((token.name, result.outcome, result.detail, gen_time))
    return {sealed.capture_id: (digest.hexdigest(), checked)}


def checkpoint_token_job(archive: Archive, sizes: Sequence[int]) -> Any:
    """A job: the tokens of the history's checkpoints of these sizes, as findings."""
    from .report import Report

    results: TokenResults = {}
    _checkpoint_tokens(archive, results, None, sizes)
    report = Report(str(archive.root))
    check_checkpoint_timestamps(results, report)
    return report.findings()


CHECKPOINT = "checkpoint:"  # results' key for a checkpoint's tokens: checkpoint:<size>


def _checkpoint_tokens(archive: Archive, results: TokenResults, roots: list[Any] | None,
                       sizes: Sequence[int] | None = None) -> None:
    """Each checkpoint's tokens (``ledger/checkpoints/N.tsr``), over its text (of the
    checkpoints of ``sizes``, or all)."""
    from ..seal.ledger import Ledger
    from ..seal.timestamp import check_token, token_paths

    ledger = Ledger(archive.manifests_dir)
    for size in ledger.history_sizes() if sizes is None else sizes:
        path = ledger.checkpoint_path(size)
        tokens = token_paths(path)
        if not tokens:
            continue
        if roots is None:
            roots = trusted_roots(archive, [])
        digest = hashlib.sha256(path.read_bytes())
        checked = []
        for token in tokens:
            result = check_token(token.read_bytes(), digest.digest(), roots)
            gen_time = result.gen_time.isoformat() if result.gen_time else None
            checked.append((token.name, result.outcome, result.detail, gen_time))
        results[f"{CHECKPOINT}{size}"] = (digest.hexdigest(), checked)


def check_checkpoint_timestamps(checked: TokenResults, report: Report) -> None:
    for key, (_, tokens) in sorted(checked.items()):
        if not key.startswith(CHECKPOINT):
            continue
        size = key.removeprefix(CHECKPOINT)
        for name, outcome, detail, _ in tokens:
            report.add("checkpoint", f"manifests/ledger/checkpoints/{name}", outcome,
                       f"the ledger of {size} captures: {detail}")


def check_timestamps(sealed: manifest.Sealed, checked: TokenResults, report: Report) -> None:
    """The capture's tokens as ``check_tokens`` found them, or its pending mark; a token
    whose genTime is before the capture started fails."""
    from ..seal.timestamp import pending_path

    cid = sealed.capture_id
    content = sealed.content or {}
    asked = (content.get("settings") or {}).get("tsa") or []
    if cid not in checked:
        pending = pending_path(sealed.path)
        if pending.exists():
            report.add("timestamp", pending.name, UNCHECKED,
                       "timestamp pending: no TSA answered yet (`custody timestamp`)", cid)
        elif asked:
            report.add("timestamp", sealed.path.name + ".tsr", FAILED,
                       f"the capture asked {', '.join(asked)} for a timestamp, "
                       "and no token or pending mark is here", cid)
        return
    against, tokens = checked[cid]
    started = manifest.when(content.get("started_at"))
    for name, outcome, detail, gen_iso in tokens:
        gen_time = manifest.when(gen_iso)
        if against is not None and against != sealed.sha256:
            outcome, detail = FAILED, "the manifest changed while its tokens were checked"
        elif gen_time and started and gen_time < started - timedelta(minutes=10):
            outcome = FAILED
            detail = (f"genTime {gen_time.isoformat()} is before the capture started "
                      f"({content.get('started_at')})")
        report.add("timestamp", name, outcome, detail, cid)


def checkpoint_date(archive: Archive, text: str) -> str:
    """When a checkpoint (its exact text) was timestamped, as its token in the ledger's
    history says; or why that is not known."""
    from ..seal.ledger import Ledger
    from ..seal.timestamp import check_token, token_paths

    data = text.encode()
    for size, path in Ledger(archive.manifests_dir).history().items():
        if path.read_bytes() != data:
            continue
        tokens = token_paths(path)
        if not tokens:
            return f"the checkpoint of {size} has no timestamp token"
        roots = trusted_roots(archive, [])
        result = check_token(tokens[0].read_bytes(), hashlib.sha256(data).digest(), roots)
        if result.outcome == "passed":
            return f"the checkpoint of {size} was timestamped: {result.detail}"
        return f"the checkpoint of {size}'s token: {result.outcome}: {result.detail}"
    return "this checkpoint is not in the ledger's history, so its date is not known here"
