"""Verification of the proofs around the manifests: the Merkle ledger with its signed
checkpoints (and, given an older checkpoint, the consistency proof), and the signed
custody log.

A seal interrupted between its steps (the sealing journal names its capture) leaves
the ledger a step behind its manifest: a leaf not yet in a checkpoint, a checkpoint
copy behind its history. Those are reported as notes for the captures the journal
names, and as failures or unchecked items otherwise.
"""

from __future__ import annotations

from typing import Any

from ..core import allowed_signers, sshsig
from ..core.archive import Archive
from ..seal import manifest
from ..seal.trust import Admission
from .report import FAILED, PASSED, UNCHECKED, Report


def admitted_keys(signers: list[allowed_signers.AllowedSigner] | None,
                  admission: Admission) -> list[tuple[str, Any]]:
    """(signed-note key name, public key) of every admitted signer."""
    from ..seal.ledger import key_name

    return [(key_name(p), s.public_key) for s in signers or []
            if admission.admits(sshsig.fingerprint(s.public_key)) for p in s.principals]


def check_ledger(archive: Archive, sealed: list[manifest.Sealed], selected: set[str],
                 signers: list[allowed_signers.AllowedSigner] | None, admission: Admission,
                 report: Report, against: str | None, sealing: frozenset[str]) -> None:
    from ..seal import merkle
    from ..seal.ledger import Ledger, note_signers, parse_checkpoint

    ledger = Ledger(archive.manifests_dir)
    readable = [m for m in sealed if m.readable]
    if not ledger.exists:
        if readable and not set(m.capture_id for m in readable) <= sealing:
            report.add("ledger", "manifests/ledger", FAILED, "the ledger is missing")
        elif readable:
            report.notes.append("the ledger is not written yet: the sealing of "
                                f"{', '.join(sorted(sealing))} was interrupted (the next "
                                "`custody archive` or `reindex` completes it)")
        return
    try:
        leaves = ledger.leaves()
        torn = ledger.torn()
    except (ValueError, OSError) as exc:
        report.add("ledger", "manifests/ledger/leaves", FAILED, f"unreadable: {exc}")
        return
    if torn:
        report.notes.append(f"manifests/ledger/leaves ends in {torn} bytes of a leaf whose "
                            "append was interrupted; the next `custody archive` cuts them off")
    by_id = {m.capture_id: m for m in sealed}
    problems = []
    for position, leaf in enumerate(leaves):
        if leaf.index != position:
            problems.append(f"leaf {position} is numbered {leaf.index}")
        item = by_id.get(leaf.capture_id)
        if item is None:
            problems.append(f"leaf {leaf.index}: manifest of {leaf.capture_id} is gone")
        elif item.leaf_hash != leaf.hash:
            problems.append(f"leaf {leaf.index}: manifest of {leaf.capture_id} changed "
                            "since it entered the ledger")
        elif item.sequence is not None and item.sequence != position + 1:
            problems.append(f"leaf {leaf.index} holds sequence {item.sequence}: reordered")
    in_ledger = {leaf.capture_id for leaf in leaves}
    last = max((m.sequence or 0 for m in readable if m.capture_id in in_ledger), default=0)
    for item in readable:
        if item.capture_id in in_ledger:
            continue
        if (item.sequence or 0) > last and item.capture_id in sealing:
            report.notes.append(f"{item.capture_id}: sealed, but its sealing was interrupted "
                                "before its ledger leaf (the next `custody archive`, "
                                "`--resume` or `reindex` appends it)")
        elif (item.sequence or 0) > last:
            report.add("ledger", item.capture_id, UNCHECKED,
                       "sealed after the last ledger entry (an interrupted seal; the next "
                       "`custody archive` appends it)", item.capture_id)
        else:
            problems.append(f"{item.capture_id} is sealed but not in the ledger")
    report.add("ledger", "manifests/ledger/leaves", FAILED if problems else PASSED,
               "; ".join(problems) or f"{len(leaves)} leaves")

    hashes = [leaf.hash for leaf in leaves]
    keys = admitted_keys(signers, admission)
    try:
        checkpoint = ledger.latest()
    except (ValueError, OSError) as exc:
        report.add("checkpoint", "manifests/ledger/checkpoint", FAILED, f"unreadable: {exc}")
        return
    if checkpoint is None:
        if sealing and all(leaf.capture_id in sealing for leaf in leaves):
            report.notes.append("the ledger has no checkpoint yet: an interrupted seal "
                                "(the next `custody archive` signs one)")
        else:
            report.add("checkpoint", "manifests/ledger/checkpoint", FAILED, "missing")
        return
    cp_problems = []
    if not note_signers(checkpoint.text, keys):
        cp_problems.append("not signed by an admitted key in allowed_signers")
    cp_problems += _history_problems(ledger, checkpoint, signers, admission, keys, hashes,
                                     leaves, sealing, report)
    if checkpoint.size > len(hashes):
        cp_problems.append(f"covers {checkpoint.size} leaves, the ledger holds {len(hashes)}: "
                           "captures were removed")
    elif merkle.root(hashes[: checkpoint.size]) != checkpoint.root:
        cp_problems.append("root hash is not the root of the ledger's leaves")
    if checkpoint.size < len(hashes):
        behind = [leaf.capture_id for leaf in leaves[checkpoint.size :]]
        if all(cid in sealing for cid in behind):
            report.notes.append(f"the checkpoint covers {checkpoint.size} of {len(hashes)} "
                                f"leaves: the sealing of {', '.join(behind)} was interrupted "
                                "before its checkpoint (the next `custody archive` signs one)")
        else:
            report.add("checkpoint", "manifests/ledger/checkpoint", UNCHECKED,
                       f"covers {checkpoint.size} of {len(hashes)} leaves")
    report.add("checkpoint", "manifests/ledger/checkpoint", FAILED if cp_problems else PASSED,
               "; ".join(cp_problems) or f"size {checkpoint.size}, {checkpoint.origin}")
    if against is not None:  # needs only the leaves, whatever became of the checkpoint
        origin = ledger.read_origin() or checkpoint.origin
        _check_against(against, origin, hashes, keys, report, parse_checkpoint, note_signers)
        from .tokens import checkpoint_date

        dates = (f"older: {checkpoint_date(archive, against)}; newest: "
                 f"{checkpoint_date(archive, checkpoint.text)}")
        row = report.checks[-1]
        if row.check == "consistency":  # the dates of both, beside the proof that relates them
            report.checks[-1] = row._replace(detail=f"{row.detail}; {dates}")
    if cp_problems:
        return
    size = checkpoint.size
    for leaf in leaves[:size]:
        if leaf.capture_id in selected:
            proof = merkle.inclusion_proof(hashes[:size], leaf.index)
            ok = merkle.verify_inclusion(leaf.index, size, leaf.hash, proof, checkpoint.root)
            report.add("inclusion", leaf.capture_id, PASSED if ok else FAILED,
                       f"leaf {leaf.index} of {size}", leaf.capture_id)


def _history_problems(ledger: Any, checkpoint: Any,
                      signers: list[allowed_signers.AllowedSigner] | None, admission: Admission,
                      keys: list[Any], hashes: list[bytes], leaves: list[Any],
                      sealing: frozenset[str], report: Report) -> list[str]:
    """The checkpoint must be the newest of the history, with a valid SSH signature by an
    admitted key; a seal interrupted between those writes (the journal says so) leaves
    the copy one checkpoint behind a newer, valid one in the history: a note."""
    from ..seal import merkle
    from ..seal.ledger import note_signers, parse_checkpoint

    problems = []
    history = ledger.history()
    newest_size = max(history) if history else None
    newer = None
    if newest_size is not None and newest_size > checkpoint.size:
        try:
            newer = parse_checkpoint(history[newest_size].read_text())
        except (OSError, ValueError):
            newer = None
        catching_up = (newer is not None and note_signers(newer.text, keys)
                       and newer.size <= len(hashes)
                       and merkle.root(hashes[: newer.size]) == newer.root
                       and all(leaf.capture_id in sealing for leaf in leaves[checkpoint.size:]))
        if catching_up:
            report.notes.append(f"manifests/ledger/checkpoint is behind checkpoints/"
                                f"{newest_size}: an interrupted seal (the next `custody "
                                "archive` brings it up to date)")
        else:
            newer = None
            problems.append(f"rolled back: the history holds a checkpoint of {newest_size} "
                            f"captures, this one covers {checkpoint.size}")
    sig_path = ledger.dir / "checkpoint.sig"
    try:
        signature = sshsig.parse_signature(sig_path.read_text(encoding="ascii"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        problems.append(f"checkpoint.sig missing or unreadable ({exc.__class__.__name__})")
        return problems
    fp = sshsig.fingerprint(signature.public_key)
    blob = sshsig.public_key_blob(signature.public_key)
    known = any(sshsig.public_key_blob(s.public_key) == blob for s in signers or [])
    if not known or not admission.admits(fp) \
            or signature.namespace != sshsig.CHECKPOINT_NAMESPACE:
        problems.append("checkpoint.sig is not by an admitted key in the custody-checkpoint "
                        "namespace")
    elif not signature.verifies(checkpoint.text.encode()):
        if newer is not None and signature.verifies(newer.text.encode()):
            pass  # written for the newer checkpoint, whose copy the crash left behind
        else:
            problems.append("checkpoint.sig does not verify over the checkpoint")
    return problems


def _check_against(text: str, origin: str, hashes: list[bytes], keys: list[Any],
                   report: Report, parse: Any, signed_by: Any) -> None:
    from ..seal import merkle

    subject = "--against checkpoint"
    try:
        old = parse(text)
    except ValueError as exc:
        report.add("consistency", subject, FAILED, f"not a checkpoint: {exc}")
        return
    if not signed_by(text, keys):
        report.add("consistency", subject, FAILED,
                   "not signed by an admitted key in allowed_signers")
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


def check_log(archive: Archive, signers: list[allowed_signers.AllowedSigner] | None,
              admission: Admission, report: Report, captures: int) -> None:
    from ..seal.custody_log import CustodyLog

    log = CustodyLog(archive.manifests_dir)
    if not log.path.exists():
        if captures:
            report.add("log", "manifests/ledger/log.jsonl", FAILED,
                       "the custody log is missing, though captures are sealed")
        return
    torn = log.torn()
    if torn:
        report.notes.append(f"manifests/ledger/log.jsonl ends in {torn} bytes of an event whose "
                            "write was interrupted; the next custody command that writes to "
                            "the log cuts them off")
    keys = {sshsig.fingerprint(s.public_key): s.public_key for s in signers or []}
    problems = log.check(keys)
    problems_text = [f"line {p.line}: {p.detail}" for p in problems]
    problems_text += [f"line {n}: signed by {fp}, a key not admitted before it"
                      for n, fp in sorted(admission.unadmitted_lines.items())]
    detail = "; ".join(problems_text[:10])
    report.add("log", "manifests/ledger/log.jsonl", FAILED if problems_text else PASSED,
               detail or f"{len(log.lines())} events")
