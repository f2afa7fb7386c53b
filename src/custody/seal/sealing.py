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
from .ledger import Leaf, Ledger


@dataclass
class Sealed:
    path: Path
    sha256: str
    tokens: list[Path] = field(default_factory=list)
    timestamp_errors: list[str] = field(default_factory=list)


def stamp_checkpoint(archive: Archive, ledger: Ledger, tsa: list[str] | None) -> list[Path]:
    """RFC 3161 tokens over the newest checkpoint's text (``checkpoints/N.tsr``): the date
    by which the ledger held those captures, and so before which none was removed. No
    pending mark: the next checkpoint is asked again."""
    from ..core.config import load

    urls = load(archive.root).tsa if tsa is None else tsa
    history = ledger.history()
    if not urls or not history:
        return []
    path = history[max(history)]
    if timestamp.token_paths(path):
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
    return written


def checkpoint_tokens(archive: Archive) -> list[Path]:
    """The newest checkpoint's tokens."""
    history = Ledger(archive.manifests_dir).history()
    return timestamp.token_paths(history[max(history)]) if history else []


def companion_digests(archive: Archive, capture_id: str,
                      tokens: list[Path] | None = None) -> dict[str, str]:
    """The sha256 of each file that vouches for the manifest -- its signature, SHA256SUMS,
    its RFC 3161 tokens (or the ``tokens`` named) -- by name, for the custody log: a
    token's certificates and a signature's armour lie outside what their own signatures
    cover, and the signed log event is what records their bytes."""
    folder = archive.manifests_dir
    path = manifest.manifest_path(folder, capture_id)
    named = [path.with_name(path.name + ".sig"), folder / f"{capture_id}.SHA256SUMS",
             *timestamp.token_paths(path)] if tokens is None else tokens
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in named if p.exists()}
    if tokens is None:  # the checkpoint over it, and its tokens: by path in manifests/
        for token in checkpoint_tokens(archive):
            digests[token.relative_to(folder).as_posix()] = \
                hashlib.sha256(token.read_bytes()).hexdigest()
    return digests


def file_leaf_hash(path: Path) -> bytes:
    """RFC 9162 leaf hash of a file's bytes, read in chunks."""
    digest = hashlib.sha256(b"\x00")
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.digest()


def seal(archive: Archive, capture_id: str, chunks: Iterable[bytes],
         files: list[tuple[str, str]], *, key: Ed25519PrivateKey, principal: str,
         tsa: list[str]) -> Sealed:
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
    publish(archive, capture_id, key=key, principal=principal, tsa=tsa)
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


def publish(archive: Archive, capture_id: str, *, key: Ed25519PrivateKey,
            principal: str, tsa: list[str] | None = None) -> list[str]:
    """The steps after a manifest's rename, each done only if it is not done already: its
    leaf in the ledger, a checkpoint over every leaf (timestamped by the ``tsa`` --
    by default the archive's -- so that the ledger's state has a trusted date), its
    `captured` event in the log. What was completed, for a note."""
    done = []
    ledger = Ledger(archive.manifests_dir)
    if capture_id not in {leaf.capture_id for leaf in ledger.leaves()}:
        path = manifest.manifest_path(archive.manifests_dir, capture_id)
        archive.fence("ledger", capture_id)
        ledger.append(capture_id, file_leaf_hash(path))
        done.append("its ledger leaf")
    if not ledger.current():
        ledger.checkpoint_now(key=key, principal=principal)
        stamp_checkpoint(archive, ledger, tsa)
        done.append("the checkpoint")
    log = CustodyLog(archive.manifests_dir)
    if not logged(log, capture_id):
        sealed = manifest.read(manifest.manifest_path(archive.manifests_dir, capture_id))
        asked = bool(((sealed.content or {}).get("settings") or {}).get("tsa"))
        tokens = timestamp.token_paths(sealed.path)
        details = {"capture_id": capture_id, "manifest_sha256": sealed.sha256,
                   "timestamps": len(tokens), "timestamp_pending": asked and not tokens,
                   "files": companion_digests(archive, capture_id)}
        log.append("captured", key=key, who=principal, details=details)
        faults.after("seal.log")
        done.append("its custody log event")
    return done


def chain_head(archive: Archive) -> tuple[int, str | None]:
    """The sequence number and sha256 of the newest sealed manifest (0, None when none).

    Read from the ledger's last leaf when every manifest has its leaf (which recovery,
    and with many writers each seal, makes so before anything new is sealed) and that
    manifest is the very one the leaf hashes; otherwise from every manifest. So a seal
    does not read every manifest before it, which made each seal slower than the last."""
    folder = archive.manifests_dir
    leaves = Ledger(folder).leaves()
    if archive.mirrored:
        return _head_from_log(archive, leaves)
    if leaves and len(manifest.paths(folder)) == len(leaves):
        path = manifest.manifest_path(folder, leaves[-1].capture_id)
        try:
            if file_leaf_hash(path) == leaves[-1].hash:
                newest = manifest.read(path, lazy=True)
                if newest.sequence == len(leaves):
                    return newest.sequence, newest.sha256
        except OSError:
            pass
    return manifest.chain_head(folder)


def _head_from_log(archive: Archive, leaves: list[Leaf]) -> tuple[int, str | None]:
    """A working copy of a stored archive holds others' manifests only as the ledger's
    leaves and the log's `captured` events, which name each manifest's sha256."""
    import json

    if not leaves:
        return 0, None
    needle = leaves[-1].capture_id.encode()
    for line in reversed(CustodyLog(archive.manifests_dir).lines()):
        if needle in line:
            entry = json.loads(line)
            details = entry.get("details") or {}
            if entry.get("event") == "captured" and \
                    details.get("capture_id") == leaves[-1].capture_id:
                return len(leaves), str(details["manifest_sha256"])
    raise ArchiveError(f"the custody log has no `captured` event for the ledger's last "
                       f"leaf, {leaves[-1].capture_id}", where=str(archive.root))


def publish_leftovers(archive: Archive, *, key: Ed25519PrivateKey, principal: str) -> list[str]:
    """Publish, in chain order, sealed manifests the ledger lacks: a writer that died
    between a manifest's rename and its ledger leaf. With many writers (custody.queue)
    the next seal may be another's, which must not put its leaf before that one. The
    capture ids published."""
    ledger = Ledger(archive.manifests_dir)
    ledger.repair()
    leaves = ledger.leaves()
    if len(manifest.paths(archive.manifests_dir)) == len(leaves):
        return []  # every manifest has its leaf
    known = {leaf.capture_id for leaf in leaves}
    done = []
    for sealed in manifest.read_all(archive.manifests_dir, lazy=True):
        if sealed.sequence is not None and sealed.capture_id not in known:
            publish(archive, sealed.capture_id, key=key, principal=principal)
            done.append(sealed.capture_id)
    return done


def logged(log: CustodyLog, capture_id: str) -> bool:
    """Whether the log holds the capture's `captured` event."""
    import json

    needle = capture_id.encode()
    for line in log.lines():
        if needle not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "captured" and \
                (entry.get("details") or {}).get("capture_id") == capture_id:
            return True
    return False


def heal_ledger(archive: Archive, *, key: Ed25519PrivateKey, principal: str) -> list[str]:
    """Publish sealed manifests the ledger lacks (a crash after sealing, or an archive made
    before the ledger existed), in chain order; sign a checkpoint when it lags behind."""
    ledger = Ledger(archive.manifests_dir)
    ledger.repair()
    known = {leaf.capture_id for leaf in ledger.leaves()}
    added = []
    for sealed in manifest.read_all(archive.manifests_dir):
        if sealed.content is not None and sealed.capture_id not in known:
            ledger.append(sealed.capture_id, file_leaf_hash(sealed.path))
            added.append(sealed.capture_id)
    if (added or ledger.exists) and not ledger.current():
        ledger.checkpoint_now(key=key, principal=principal)
    return added
