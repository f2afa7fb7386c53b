"""Verification of the proofs around the manifests: the Merkle ledger with its signed
checkpoints (and, given an older checkpoint, the consistency proof), and the signed
custody log.
"""

from __future__ import annotations

from typing import Any

from . import manifest, signing
from .report import FAILED, PASSED, UNCHECKED, Report
from .root import Archive

# -- the ledger and the custody log -------------------------------------------------------------


def check_ledger(archive: Archive, sealed: list[manifest.Sealed], selected: set[str],
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


def check_log(archive: Archive, signers: list[signing.AllowedSigner] | None,
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
