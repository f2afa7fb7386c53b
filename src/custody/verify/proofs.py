"""The proofs around the manifests: the ledger's checkpoints (the newest of the history,
its SSH signature), the consistency proof against an older checkpoint, and a capture's
inclusion proof against the signed checkpoint (what ``verify ID`` checks, from the tiles,
without reading the other captures).

A seal interrupted between its steps (the sealing journal names its capture) leaves
the ledger a step behind its manifest: a checkpoint copy behind its history. That is
reported as a note for the captures the journal names, and as a failure otherwise.
"""

from __future__ import annotations

from typing import Any

from ..core import allowed_signers, sshsig
from ..core.archive import Archive
from ..seal import merkle
from ..seal.ledger import Checkpoint, Ledger, parse_checkpoint
from ..seal.note import note_signers
from ..seal.trust import Admission
from .report import FAILED, PASSED, UNCHECKED, Report


def admitted_keys(signers: list[allowed_signers.AllowedSigner] | None,
                  admission: Admission) -> list[tuple[str, Any]]:
    """(signed-note key name, public key) of every admitted signer."""
    from ..seal.note import key_name

    return [(key_name(p), s.public_key) for s in signers or []
            if admission.admits(sshsig.fingerprint(s.public_key)) for p in s.principals]


def history_problems(archive: Archive, latest: Checkpoint, newest: Checkpoint | None,
                     keys: list[Any], signers: list[allowed_signers.AllowedSigner] | None,
                     admission: Admission, roots: dict[int, str], size: int,
                     sealing: frozenset[str], report: Report) -> list[str]:
    """The checkpoint must be the newest of the history, with a valid SSH signature by an
    admitted key; a seal interrupted between those writes (the journal says so) leaves
    the copy one checkpoint behind a newer, valid one in the history: a note."""
    problems = []
    newer = None
    if newest is not None and newest.size > latest.size:
        catching_up = (note_signers(newest.text, keys) and newest.size <= size
                       and roots.get(newest.size) == newest.root.hex() and bool(sealing))
        if catching_up:
            newer = newest
            report.notes.append(f"manifests/ledger/checkpoint is behind checkpoints/"
                                f"{newest.size}: an interrupted seal (the next `custody "
                                "archive` brings it up to date)")
        else:
            problems.append(f"rolled back: the history holds a checkpoint of {newest.size} "
                            f"captures, this one covers {latest.size}")
    sig_path = archive.manifests_dir / "ledger" / "checkpoint.sig"
    try:
        raw = sig_path.read_text(encoding="ascii")
        signature = sshsig.parse_signature(raw)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
            str(exc) or exc.__class__.__name__
        problems.append(f"checkpoint.sig missing or unreadable ({why})")
        return problems
    if raw != _armoured(raw):
        problems.append("checkpoint.sig is not the armoured signature it holds (bytes "
                        "changed outside what the signature covers)")
    fp = sshsig.fingerprint(signature.public_key)
    blob = sshsig.public_key_blob(signature.public_key)
    known = any(sshsig.public_key_blob(s.public_key) == blob for s in signers or [])
    if not known or not admission.admits(fp) \
            or signature.namespace != sshsig.CHECKPOINT_NAMESPACE:
        problems.append("checkpoint.sig is not by an admitted key in the custody-checkpoint "
                        "namespace")
    elif not signature.verifies(latest.text.encode()) and \
            (newer is None or not signature.verifies(newer.text.encode())):
        problems.append("checkpoint.sig does not verify over the checkpoint")
    return problems


def check_against(archive: Archive, text: str, origin: str, size: int, roots: dict[int, str],
                  keys: list[Any], report: Report) -> None:
    """That the ledger extends an older checkpoint: its root is the root of as many of
    the ledger's first leaves, and the consistency proof (from the tiles) holds."""
    subject = "--against checkpoint"
    try:
        old = parse_checkpoint(text)
    except ValueError as exc:
        report.add("consistency", subject, FAILED, f"not a checkpoint: {exc}")
        return
    if not note_signers(text, keys):
        report.add("consistency", subject, FAILED,
                   "not signed by an admitted key in allowed_signers")
        return
    if old.origin != origin:
        report.add("consistency", subject, FAILED,
                   f"is of log {old.origin!r}, this archive's is {origin!r}")
        return
    if old.size > size:
        report.add("consistency", subject, FAILED,
                   f"the old checkpoint has {old.size} captures, the ledger now {size}: "
                   "captures were removed")
        return
    if old.size == 0:
        report.add("consistency", subject, PASSED, "empty old tree")
        return
    new_root = bytes.fromhex(roots[size])
    ok = roots.get(old.size) == old.root.hex()
    if ok:
        proof = _consistency(archive, old.size, size)
        ok = merkle.verify_consistency(old.size, size, proof, old.root, new_root)
    detail = (f"the ledger of {size} extends the checkpoint of {old.size}" if ok else
              f"the first {old.size} captures are not those of the old checkpoint: a capture "
              "sealed before it was removed, changed or reordered")
    report.add("consistency", subject, PASSED if ok else FAILED, detail)


def _consistency(archive: Archive, size1: int, size2: int) -> list[bytes]:
    ledger = Ledger(archive.manifests_dir)
    try:
        return ledger.tiles.consistency(size1, size2)
    except (LookupError, OSError):  # no tiles (an earlier custody's archive)
        try:
            hashes = [leaf.hash for leaf in ledger.iter_leaves()][:size2]
            return merkle.consistency_proof(hashes, size1)
        except ValueError:  # damaged leaves: the ledger's own check says so
            return []


def check_inclusion(archive: Archive, cid: str, leaf_hash: bytes, sequence: int | None,
                    latest: Checkpoint | None, checkpoint_ok: bool, sealing: frozenset[str],
                    report: Report) -> int | None:
    """A capture's leaf in the ledger (at its sequence's place), proven against the signed
    checkpoint from the tiles; its leaf index (None: not found there)."""
    ledger = Ledger(archive.manifests_dir)
    size = latest.size if latest is not None else 0
    index = ledger.index_of(cid, leaf_hash, sequence - 1 if sequence else None,
                            max(size, sequence or 0))
    if index is None:
        if cid in sealing:
            report.notes.append(f"{cid}: sealed, but its sealing was interrupted before its "
                                "ledger leaf (the next `custody archive` appends it)")
        else:
            report.add("inclusion", cid, FAILED, "its manifest is not in the ledger", cid)
        return None
    line = ledger.leaf_at(index)
    if line is None or line.capture_id != cid or line.hash != leaf_hash:
        what = "is missing or out of order" if line is None else (
            f"names {line.capture_id}" if line.capture_id != cid else "holds another hash")
        report.add("inclusion", cid, FAILED, f"leaf {index} in manifests/ledger/leaves "
                   f"{what}: the leaves are not the tiles' (the ledger changed)", cid)
        return index
    if latest is None or index >= latest.size:
        if cid in sealing:
            report.notes.append(f"{cid}: in the ledger, not yet under a checkpoint (an "
                                "interrupted seal)")
        else:
            report.add("inclusion", cid, UNCHECKED, f"leaf {index} is under no checkpoint", cid)
        return index
    if not checkpoint_ok:
        report.add("inclusion", cid, UNCHECKED, "the checkpoint does not verify", cid)
        return index
    try:
        proof = ledger.tiles.inclusion(index, latest.size)
    except (LookupError, OSError):
        try:
            hashes = [leaf.hash for leaf in ledger.iter_leaves()][: latest.size]
            proof = merkle.inclusion_proof(hashes, index)
        except ValueError:  # damaged leaves
            proof = []
    ok = merkle.verify_inclusion(index, latest.size, leaf_hash, proof, latest.root)
    detail = f"leaf {index} of {latest.size}"
    if not ok:  # the tiles may be what changed: the proof from the leaves themselves
        try:
            hashes = [leaf.hash for leaf in ledger.iter_leaves()][: latest.size]
            ok = merkle.verify_inclusion(index, latest.size, leaf_hash,
                                         merkle.inclusion_proof(hashes, index), latest.root)
        except ValueError:
            ok = False
        if ok:
            _tiles_differ(report, cid)
            detail += " (proved from the leaves)"
    report.add("inclusion", cid, PASSED if ok else FAILED,
               detail if ok else
               f"leaf {index} is not in the checkpoint's tree of {latest.size}", cid)
    return index


TILES_DIFFER = ("tiles", "manifests/ledger/tile", FAILED, "the tiles are not those the "
                "ledger's leaves make (the leaves' tree is the one the checkpoints sign)")


def _tiles_differ(report: Report, cid: str) -> None:
    """Said once for the archive, however many of the captures' proofs found it."""
    if not any(tuple(c[:4]) == TILES_DIFFER for c in report.checks):
        report.add(*TILES_DIFFER)


def _leaves_root(ledger: Ledger, size: int) -> bytes | None:
    """The root of the first ``size`` lines of the leaves file (None: it has fewer)."""
    edge = merkle.CompactRange()
    try:
        for leaf in ledger.iter_leaves():
            if edge.size == size:
                break
            edge.append(leaf.hash)
    except (OSError, ValueError):
        return None
    return edge.root() if edge.size == size else None


def _armoured(text: str) -> str:
    """An SSH signature's armour as ssh-keygen and custody write it (lines of 70, a final
    newline): any other byte around the signature is a change nothing else would show."""
    import base64
    import binascii

    head, tail = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
    body = "".join(text.strip()[len(head):-len(tail)].split())
    try:  # (bits a base64 decoder ignores, in its last characters, count too)
        body = base64.b64encode(base64.b64decode(body, validate=True)).decode()
    except (binascii.Error, ValueError):
        return ""
    lines = [body[i:i + 70] for i in range(0, len(body), 70)]
    return head + "\n" + "\n".join(lines) + "\n" + tail + "\n"


def check_own_checkpoint(archive: Archive, cid: str, index: int, keys: list[Any],
                         report: Report) -> None:
    """The checkpoint signed when the capture's leaf entered the ledger (``checkpoints/N``,
    N its leaf's number plus one): signed by an admitted key, of that size, and its root
    that of the ledger's first N leaves, from the tiles. (One a later seal's recovery
    wrote over several leaves may be missing: then nothing is said here, and the custody
    log's record of the checkpoint each seal signed says whether one is gone.)"""
    from ..seal.note import note_signers, well_formed

    size = index + 1
    path = archive.manifests_dir / "ledger" / "checkpoints" / str(size)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as exc:
        report.add("checkpoint", f"manifests/ledger/checkpoints/{size}", FAILED,
                   f"unreadable ({getattr(exc, 'strerror', None) or exc})", cid)
        return
    problems = []
    try:
        checkpoint = parse_checkpoint(text)
    except ValueError as exc:
        problems.append(f"not a checkpoint ({exc})")
    else:
        if checkpoint.size != size:
            problems.append(f"names {checkpoint.size} leaves")
        ledger = Ledger(archive.manifests_dir)
        try:
            from_tiles: bytes | None = ledger.tiles.root(size)
        except (LookupError, OSError):
            from_tiles = None
        if checkpoint.root != from_tiles:  # the tiles may be what changed: the leaves say
            if checkpoint.root != _leaves_root(ledger, size):
                problems.append(f"its root is not that of the ledger's first {size} leaves")
            else:
                _tiles_differ(report, cid)
        if not note_signers(text, keys):
            problems.append("not signed by an admitted key")
        if not well_formed(text):
            problems.append("not a signed note as custody writes it")
    report.add("checkpoint", f"manifests/ledger/checkpoints/{size}",
               FAILED if problems else PASSED,
               "; ".join(problems) or f"the ledger as {cid} entered it", cid)


def which_changed(archive: Archive, cid: str, leaf_hash: bytes, line: bytes,
                   position: int) -> str:
    """A leaves line and a manifest that differ: which of them changed, as the tiles (which
    the signed checkpoints commit) say: the one that differs from them."""
    from ..seal.tiles import Tiles

    try:
        stored = Tiles(archive.manifests_dir / "ledger").leaf(position)
    except (LookupError, OSError):
        stored = None
    if stored == leaf_hash:
        return (f"the leaves line of {cid} changed (its manifest is the one the tiles "
                "hold)")
    if stored == line:
        return f"manifest of {cid} changed since it entered the ledger"
    return (f"the manifest of {cid}, its leaves line and the tiles differ: the manifest "
            "changed since it entered the ledger, or the ledger did")
