"""Sealing a manifest: signature, timestamps, SHA256SUMS, the manifest itself, the ledger.

The order is what makes a crash harmless: everything that vouches for the
manifest is written first, the manifest's rename is the moment the capture
exists, and the ledger leaf and checkpoint follow. A crash between the rename
and the ledger is healed by the next ``custody archive``, which appends any
sealed manifest the ledger lacks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import manifest, signing, timestamp
from .events import CustodyLog
from .ledger import Ledger
from .root import Archive


@dataclass
class Sealed:
    path: Path
    sha256: str
    tokens: list[Path] = field(default_factory=list)
    timestamp_errors: list[str] = field(default_factory=list)


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
    written = manifest.write_streamed(path, chunks)
    signature = signing.sign_digest(key, written.sha512, signing.MANIFEST_NAMESPACE).encode()
    manifest.write_atomic(path.with_name(path.name + ".sig"), signature)
    tokens: list[Path] = []
    errors: list[str] = []
    if tsa:
        tokens, errors = timestamp.stamp(path, written.tmp_path.read_bytes(), tsa)
    sums = [*files, (archive.relative(path), written.sha256)]
    manifest.write_atomic(archive.manifests_dir / f"{capture_id}.SHA256SUMS",
                          manifest.sha256sums(sums))
    manifest.commit(written, path)  # the capture exists from here on
    append_to_ledger(archive, capture_id, key=key, principal=principal)
    CustodyLog(archive.manifests_dir).append(
        "captured", key=key, who=principal,
        details={"capture_id": capture_id, "manifest_sha256": written.sha256,
                 "timestamps": len(tokens), "timestamp_pending": bool(tsa and not tokens)})
    return Sealed(path, written.sha256, tokens, errors)


def append_to_ledger(archive: Archive, capture_id: str, *, key: Ed25519PrivateKey,
                     principal: str) -> None:
    ledger = Ledger(archive.manifests_dir)
    path = manifest.manifest_path(archive.manifests_dir, capture_id)
    checkpoint = ledger.append(capture_id, file_leaf_hash(path), key=key, principal=principal)
    sign_checkpoint(ledger, checkpoint.text, key)


def sign_checkpoint(ledger: Ledger, text: str, key: Ed25519PrivateKey) -> None:
    """An SSH signature beside the signed note, so ssh-keygen can check the checkpoint too."""
    sig = signing.sign(key, text.encode(), signing.CHECKPOINT_NAMESPACE).encode()
    manifest.write_atomic(ledger.dir / "checkpoint.sig", sig)


def heal_ledger(archive: Archive, *, key: Ed25519PrivateKey, principal: str) -> list[str]:
    """Append sealed manifests the ledger lacks (a crash after sealing), in chain order."""
    ledger = Ledger(archive.manifests_dir)
    known = {leaf.capture_id for leaf in ledger.leaves()}
    added = []
    for sealed in manifest.read_all(archive.manifests_dir):
        if sealed.content is not None and sealed.capture_id not in known:
            append_to_ledger(archive, sealed.capture_id, key=key, principal=principal)
            added.append(sealed.capture_id)
    return added
