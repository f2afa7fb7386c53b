"""Sealing a manifest: signature, timestamps, SHA256SUMS, the manifest itself, the ledger,
the custody log.

The order is what makes a crash harmless. Everything that vouches for the manifest is
written first, beside its temporary name; the manifest's rename is the moment the
capture exists; the ledger leaf, the checkpoint and the log event follow. Each step
is a durable write that can be completed later without rewriting an earlier one:
before the rename nothing is sealed, and what was written is discarded and sealed
afresh (``discard_unsealed``); after it, ``publish``'s steps each check whether they
were done (the leaf in the ledger, a checkpoint over every leaf, the event in the
log) and do only what is missing. A sealed manifest is never written again.

Nothing here reads the archive's history: the chain's head, the ledger's edge and the
log's end come from what history.py keeps, so a seal costs the same at any size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..core import faults, sshsig
from ..core.archive import Archive
from ..core.atomic import write_atomic
from ..core.errors import ArchiveError
from . import manifest, timestamp
from .custody_log import CustodyLog
from .history import History
from .ledger import Ledger


@dataclass
class Sealed:
    path: Path
    sha256: str
    tokens: list[Path] = field(default_factory=list)
    timestamp_errors: list[str] = field(default_factory=list)


def stamp_checkpoint(archive: Archive, size: int, tsa: list[str] | None) -> list[Path]:
    """An RFC 3161 token over the checkpoint of ``size`` leaves (``checkpoints/N.tsr``):
    the date by which the ledger held those captures, and so before which none was
    removed. One token, from the first authority that answers, is enough for that date
    (the manifest has one from each), and each authority is asked once per capture,
    not twice in a row. No pending mark: the next checkpoint is asked again."""
    from ..core.config import load

    urls = load(archive.root).tsa if tsa is None else tsa
    path = Ledger(archive.manifests_dir).checkpoint_path(size)
    if not urls or not path.exists() or timestamp.token_paths(path):
        return []
    written = []
    for url in urls:
        try:
            token = timestamp.request_token(url, path.read_bytes())
        except timestamp.Unavailable:
            continue
        target = timestamp.next_token_path(path)
        write_atomic(target, token)
        written.append(target)
        break
    return written


def newest_checkpoint(archive: Archive) -> list[Path]:
    """The newest checkpoint of the history (``checkpoints/N``) and its tokens."""
    ledger = Ledger(archive.manifests_dir)
    try:
        latest = ledger.latest()
    except (OSError, ValueError):
        return []
    if latest is None:
        return []
    path = ledger.checkpoint_path(latest.size)
    return [path, *timestamp.token_paths(path)] if path.exists() else []


def companion_digests(archive: Archive, capture_id: str,
                      tokens: list[Path] | None = None) -> dict[str, str]:
    """The sha256 of each file that vouches for the manifest -- its signature, SHA256SUMS,
    its RFC 3161 tokens (or the ``tokens`` named), the checkpoint signed over its leaf and
    that checkpoint's tokens -- by name, for the custody log: a
    token's certificates and a signature's armour lie outside what their own signatures
    cover, and the signed log event is what records their bytes."""
    folder = archive.manifests_dir
    path = manifest.manifest_path(folder, capture_id)
    named = [path.with_name(path.name + ".sig"), folder / f"{capture_id}.SHA256SUMS",
             *timestamp.token_paths(path)] if tokens is None else tokens
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in named if p.exists()}
    if tokens is None:  # the checkpoint over it, and its tokens: by path in manifests/
        for vouching in newest_checkpoint(archive):  # (so that neither can go unseen)
            digests[vouching.relative_to(folder).as_posix()] = \
                hashlib.sha256(vouching.read_bytes()).hexdigest()
    return digests


def file_leaf_hash(path: Path) -> bytes:
    """RFC 9162 leaf hash of a file's bytes, read in chunks."""
    digest = hashlib.sha256(b"\x00")
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.digest()


def seal(archive: Archive, history: History, capture_id: str, chunks: Iterable[bytes],
         files: list[tuple[str, str]], *, key: Ed25519PrivateKey, principal: str,
         tsa: list[str]) -> Sealed:
    """Seal a manifest whose bytes are ``chunks`` (its chain names ``history.head()``);
    the caller holds the sealing lock, with ``history`` opened under it."""
    path = manifest.manifest_path(archive.manifests_dir, capture_id)
    if path.exists():  # never: a sealed manifest is not written again
        raise FileExistsError(17, "a sealed manifest is never rewritten", str(path))
    written = manifest.write_streamed(path, chunks)
    faults.after("seal.manifest-temp")
    signature = sshsig.sign_digest(key, written.sha512, sshsig.MANIFEST_NAMESPACE).encode()
    write_atomic(path.with_name(path.name + ".sig"), signature)
    faults.after("seal.signature")
    tokens: list[Path] = []
    errors: list[str] = []
    if tsa:
        tokens, errors = timestamp.stamp(path, written.tmp_path.read_bytes(), tsa)
    sums = [*files, (archive.relative(path), written.sha256)]
    write_atomic(archive.manifests_dir / f"{capture_id}.SHA256SUMS",
                 manifest.sha256sums(sums))
    faults.after("seal.sha256sums")
    archive.fence("manifest", capture_id)
    manifest.commit(written, path)  # the capture exists from here on
    faults.after("seal.manifest")
    publish(archive, history, capture_id, key=key, principal=principal, tsa=tsa)
    return Sealed(path, written.sha256, tokens, errors)


def discard_unsealed(archive: Archive, capture_id: str) -> list[Path]:
    """Remove what a seal interrupted before the manifest's rename left beside it: the
    temporary manifest, its signature, tokens, pending mark and SHA256SUMS. None of it
    was sealed (no manifest names it); the capture is sealed afresh. Never touches a
    capture whose manifest exists."""
    folder = archive.manifests_dir
    path = manifest.manifest_path(folder, capture_id)
    if path.exists():
        return []
    name = path.name
    leftovers = [folder / f".{name}.tmp", folder / f"{name}.sig", folder / f".{name}.sig.tmp",
                 timestamp.pending_path(path), folder / f"{capture_id}.SHA256SUMS",
                 *timestamp.token_paths(path)]
    removed = []
    for leftover in leftovers:
        if leftover.exists():
            leftover.unlink()
            removed.append(leftover)
    return removed


def in_ledger(archive: Archive, history: History, sealed: manifest.Sealed) -> bool:
    """Whether the manifest's leaf is in the ledger: at its sequence's place, as its chain
    puts it there (read from the tiles: O(1))."""
    sequence = sealed.sequence
    if sequence is None or not 0 < sequence <= history.ledger.size:
        return False
    try:
        return history.tiles.leaf(sequence - 1) == sealed.leaf_hash
    except (LookupError, OSError):
        return sealed.capture_id in Ledger(archive.manifests_dir).leaf_ids()


def publish(archive: Archive, history: History, capture_id: str, *, key: Ed25519PrivateKey,
            principal: str, tsa: list[str] | None = None) -> list[str]:
    """The steps after a manifest's rename, each done only if it is not done already: its
    leaf in the ledger, a checkpoint over every leaf (timestamped by the ``tsa`` --
    by default the archive's -- so that the ledger's state has a trusted date), its
    `captured` event in the log. What was completed, for a note."""
    done = []
    ledger = Ledger(archive.manifests_dir)
    sealed = manifest.read_head(manifest.manifest_path(archive.manifests_dir, capture_id))
    if not in_ledger(archive, history, sealed):
        head = history.head()
        chain = sealed.head.get("chain") or {}
        if sealed.sequence != head[0] + 1 or chain.get("previous_sha256") != head[1]:
            raise ArchiveError(f"{capture_id} does not follow the chain's head (sequence "
                               f"{head[0]}): it cannot enter the ledger", where=str(archive.root))
        archive.fence("ledger", capture_id)
        ledger.append(history, capture_id, sealed.leaf_hash)
        history.sealed(capture_id, head[0] + 1, sealed.sha256)
        done.append("its ledger leaf")
    if not ledger.current(history.ledger.size):
        ledger.checkpoint_now(history, key=key, principal=principal)
        stamp_checkpoint(archive, history.ledger.size, tsa)
        done.append("the checkpoint")
    log = CustodyLog(archive.manifests_dir)
    if not logged(log, history, sealed):
        asked = bool((sealed.head.get("settings") or {}).get("tsa"))
        tokens = timestamp.token_paths(sealed.path)
        details = {"capture_id": capture_id, "manifest_sha256": sealed.sha256,
                   "timestamps": len(tokens), "timestamp_pending": asked and not tokens,
                   "files": companion_digests(archive, capture_id)}
        log.append("captured", key=key, who=principal, details=details, history=history)
        faults.after("seal.log")
        done.append("its custody log event")
    history.save()
    return done


def logged(log: CustodyLog, history: History, sealed: manifest.Sealed) -> bool:
    """Whether the log holds the manifest's `captured` event. Read from the log's end
    back to the event of the manifest before it in the chain, which comes first."""
    if history.log.captured is not None and history.log.captured[0] == sealed.capture_id:
        return True
    previous = (sealed.head.get("chain") or {}).get("previous_sha256")
    for entry in log.reversed_entries():
        if entry.get("event") != "captured":
            continue
        details = entry.get("details") or {}
        if details.get("capture_id") == sealed.capture_id:
            return True
        if previous is not None and details.get("manifest_sha256") == previous:
            return False
    return False
