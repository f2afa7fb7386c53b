"""The ledger: an append-only Merkle log of every sealed manifest, and signed checkpoints.

Each sealed manifest's exact bytes are a leaf (RFC 9162 hashing). After each
append custody writes a checkpoint -- origin, tree size, root hash -- as a C2SP
signed note, signed with the archivist's Ed25519 key. A partner who keeps a
checkpoint can later ask for a consistency proof: if any capture sealed before
it was removed or reordered, the proof fails.

On disk, under ``manifests/ledger/``:

    origin            this log's name, made once
    leaves            one line per leaf: index, capture id, leaf hash (hex)
    checkpoint        the newest signed checkpoint
    checkpoints/N     every checkpoint, by tree size
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..core import faults, sshsig
from ..core.atomic import write_atomic
from . import merkle

SIGNATURE_DASH = "\u2014"  # a signed note's signature lines start with an em dash


@dataclass(frozen=True)
class Leaf:
    index: int
    capture_id: str
    hash: bytes


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    text: str  # the whole signed note

    @property
    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def key_name(principal: str) -> str:
    """A signed note's key name: no spaces, no '+'."""
    cleaned = "".join(ch if ch.isprintable() and not ch.isspace() and ch != "+" else "_"
                      for ch in principal)
    return cleaned or "custody"


def key_id(name: str, public: Ed25519PublicKey) -> bytes:
    """The note key ID (C2SP signed-note): an Ed25519 key's is of type 0x01; a security
    key's, whose signatures are not plain Ed25519 ones, of type 0xff (signed-note's type
    for others), over its SSH key blob."""
    if sshsig.key_type(public) == sshsig.SK_KEY_TYPE:
        kind, raw = b"\xff", sshsig.public_key_blob(public)
    else:
        kind, raw = b"\x01", public.public_bytes_raw()
    return hashlib.sha256(name.encode() + b"\n" + kind + raw).digest()[:4]


def sign_note(body: str, name: str, key: Ed25519PrivateKey) -> str:
    signature = key_id(name, key.public_key()) + key.sign(body.encode())
    return f"{body}\n{SIGNATURE_DASH} {name} {base64.b64encode(signature).decode()}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Read a signed checkpoint; ValueError when it is not one."""
    body, sep, _ = text.partition("\n\n")
    if not sep:
        raise ValueError("not a signed note (no blank line before the signatures)")
    lines = body.split("\n")
    if len(lines) < 3:
        raise ValueError("a checkpoint has an origin, a size and a root hash")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not size_text.isdigit():
        raise ValueError(f"tree size {size_text!r} is not a number")
    root = base64.b64decode(root_text, validate=True)
    if len(root) != 32:
        raise ValueError("root hash is not 32 bytes")
    return Checkpoint(origin, int(size_text), root, text)


def note_signers(text: str, keys: Iterable[tuple[str, Ed25519PublicKey]]) -> list[str]:
    """The names of the given keys that validly signed the note."""
    body, sep, signatures = text.partition("\n\n")
    if not sep:
        return []
    message = (body + "\n").encode()
    good = []
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != SIGNATURE_DASH:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        for name, public in keys:
            if name == parts[1] and blob[:4] == key_id(name, public):
                try:
                    public.verify(blob[4:], message)
                except InvalidSignature:
                    continue
                good.append(name)
    return good


class Ledger:
    def __init__(self, manifests_dir: Path) -> None:
        self.dir = manifests_dir / "ledger"

    @property
    def exists(self) -> bool:
        return (self.dir / "leaves").exists()

    def read_origin(self) -> str | None:
        path = self.dir / "origin"
        return path.read_text().strip() if path.exists() else None

    def origin(self) -> str:
        """This log's name, made on first use."""
        path = self.dir / "origin"
        if path.exists():
            return path.read_text().strip()
        self.dir.mkdir(parents=True, exist_ok=True)
        origin = f"custody.archive/{os.urandom(8).hex()}"
        write_atomic(path, (origin + "\n").encode())
        return origin

    def _lines(self) -> tuple[list[str], int]:
        """The complete lines of the leaves file, and the bytes of a torn last line (one
        an interrupted append left without its newline)."""
        path = self.dir / "leaves"
        if not path.exists():
            return [], 0
        data = path.read_bytes()
        cut = data.rfind(b"\n") + 1
        return data[:cut].decode("ascii").splitlines(), len(data) - cut

    def leaves(self) -> list[Leaf]:
        out = []
        for line in self._lines()[0]:
            index, capture_id, digest = line.split()
            out.append(Leaf(int(index), capture_id, bytes.fromhex(digest)))
        return out

    def torn(self) -> int:
        """Bytes of a leaf line cut short by an interrupted append (0: none)."""
        return self._lines()[1]

    def repair(self) -> None:
        """Cut a torn last line off the leaves file (it never held a whole leaf)."""
        torn = self.torn()
        if torn:
            path = self.dir / "leaves"
            with open(path, "r+b") as fh:
                fh.truncate(path.stat().st_size - torn)
                os.fsync(fh.fileno())

    def append(self, capture_id: str, leaf_hash: bytes) -> int:
        """Add a manifest's leaf hash as the next leaf; its index. The caller then signs
        a checkpoint over the new tree (``checkpoint_now``)."""
        self.repair()
        leaves = self.leaves()
        self.origin()
        line = f"{len(leaves)} {capture_id} {leaf_hash.hex()}\n"
        with open(self.dir / "leaves", "a", encoding="ascii") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        faults.after("seal.ledger-leaf")
        return len(leaves)

    def checkpoint_now(self, *, key: Ed25519PrivateKey, principal: str) -> Checkpoint:
        """Sign a checkpoint of the whole ledger and write it: first into the history
        (``checkpoints/N``), then its SSH signature, then the ``checkpoint`` copy, so that
        a crash between any two leaves a state verify can tell from tampering."""
        hashes = [leaf.hash for leaf in self.leaves()]
        origin = self.origin()
        body = f"{origin}\n{len(hashes)}\n{base64.b64encode(merkle.root(hashes)).decode()}\n"
        text = sign_note(body, key_name(principal), key)
        (self.dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        write_atomic(self.dir / "checkpoints" / str(len(hashes)), text.encode())
        faults.after("seal.checkpoint-history")
        ssh = sshsig.sign(key, text.encode(), sshsig.CHECKPOINT_NAMESPACE).encode()
        write_atomic(self.dir / "checkpoint.sig", ssh)
        faults.after("seal.checkpoint-sig")
        write_atomic(self.dir / "checkpoint", text.encode())
        faults.after("seal.checkpoint")
        return parse_checkpoint(text)

    def history(self) -> dict[int, Path]:
        """Every checkpoint written, by tree size."""
        folder = self.dir / "checkpoints"
        return {int(p.name): p for p in folder.glob("*") if p.name.isdigit()} \
            if folder.is_dir() else {}

    def current(self) -> bool:
        """Whether the checkpoint and its SSH signature cover every leaf, as the newest
        checkpoint of the history (False: an interrupted seal left them behind)."""
        try:
            latest = self.latest()
            history = self.history()
            newest = history.get(max(history)) if history else None
            if latest is None or newest is None or latest.size != len(self.leaves()):
                return False
            if newest.read_text() != latest.text:
                return False
            signature = sshsig.parse_signature((self.dir / "checkpoint.sig").read_text())
            return signature.verifies(latest.text.encode())
        except (OSError, ValueError):
            return False

    def latest(self) -> Checkpoint | None:
        path = self.dir / "checkpoint"
        return parse_checkpoint(path.read_text()) if path.exists() else None

    def inclusion(self, capture_id: str) -> dict[str, object]:
        """The inclusion proof of a capture's manifest in the latest checkpoint's tree."""
        checkpoint = self.latest()
        leaves = self.leaves()
        if checkpoint is None:
            raise LookupError("the ledger has no checkpoint")
        leaves = leaves[: checkpoint.size]
        match = [leaf for leaf in leaves if leaf.capture_id == capture_id]
        if not match:
            raise LookupError(f"{capture_id} is not in the ledger's checkpoint")
        index = match[0].index
        proof = merkle.inclusion_proof([leaf.hash for leaf in leaves], index)
        return {
            "format": "custody-inclusion-proof/1",
            "hashing": "RFC 9162: leaf = SHA-256(0x00 || manifest bytes), "
                       "node = SHA-256(0x01 || left || right)",
            "origin": checkpoint.origin,
            "capture_id": capture_id,
            "leaf_index": index,
            "tree_size": checkpoint.size,
            "leaf_hash": match[0].hash.hex(),
            "root_hash": checkpoint.root.hex(),
            "proof": [p.hex() for p in proof],
        }
