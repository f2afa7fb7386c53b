"""The ledger: an append-only Merkle log of every sealed manifest, and signed checkpoints.

Each sealed manifest's exact bytes are a leaf (RFC 9162 hashing). After each
append custody writes a checkpoint -- origin, tree size, root hash -- as a C2SP
signed note, signed with the archivist's Ed25519 key. A partner who keeps a
checkpoint can later ask for a consistency proof: if any capture sealed before
it was removed or reordered, the proof fails.

On disk, under ``manifests/ledger/``:

    origin            this log's name, made once
    leaves            one line per leaf: index, capture id, leaf hash (hex)
    tile/...          the tree's hashes as C2SP tlog-tiles (tiles.py), derived from the
                      leaves, so that a proof reads O(log n) of them
    checkpoint        the newest signed checkpoint; an extension line commits the custody
                      log as it was then (``custody-log COUNT HASH``)
    checkpoints/N     every checkpoint, by tree size
    log.jsonl         the custody log (custody_log.py), and log.head its signed head
"""

from __future__ import annotations

import base64
import os
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..core import faults, sshsig
from ..core.atomic import write_atomic
from ..core.errors import ArchiveError
from ..core.torn import cut_torn, tail_torn
from . import merkle
from .note import key_name, sign_note, signed_before
from .tiles import Tiles
from .torn_lines import leaf_tail_problem

if TYPE_CHECKING:
    from .held import Sealed
    from .history import History


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
    extensions: tuple[str, ...] = ()  # the lines after the root hash

    @property
    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(),
                 *self.extensions]
        return "".join(line + "\n" for line in lines)

    @property
    def log(self) -> tuple[int, bytes] | None:
        """The custody log the checkpoint commits: its length and last line's sha256
        (None: a checkpoint of an earlier custody, which did not)."""
        for line in self.extensions:
            parts = line.split(" ")
            if parts[0] == LOG_EXTENSION:
                if len(parts) != 3 or not parts[1].isdigit():
                    raise ValueError(f"unreadable {LOG_EXTENSION} line")
                digest = base64.b64decode(parts[2], validate=True)
                if len(digest) not in (0, 32):
                    raise ValueError(f"{LOG_EXTENSION}: not a sha256")
                return int(parts[1]), digest
        return None


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
    return Checkpoint(origin, int(size_text), root, text, tuple(lines[3:]))


LOG_EXTENSION = "custody-log"  # the checkpoint's line that commits the custody log


class Ledger:
    def __init__(self, manifests_dir: Path) -> None:
        self.dir = manifests_dir / "ledger"

    @property
    def exists(self) -> bool:
        return (self.dir / "leaves").exists()

    @property
    def tiles(self) -> Tiles:
        return Tiles(self.dir)

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

    def leaves(self) -> list[Leaf]:
        """Every leaf (verify's whole reading; a seal reads none: history.py)."""
        return list(self.iter_leaves())

    def leaf_ids(self) -> set[str]:
        """The capture ids the leaves name, read however damaged a line's other fields
        (what the ledger holds, for a membership test; verify says what is damaged)."""
        return set(self.iter_leaf_ids())

    def iter_leaf_ids(self) -> Iterator[str]:
        path = self.dir / "leaves"
        try:
            fh = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return
        except OSError:  # no file (verify's pass over the leaves says so)
            return
        with fh:
            for raw in fh:
                parts = raw.split()
                if raw.endswith(b"\n") and len(parts) > 1:
                    yield parts[1].decode("ascii", "replace")

    def iter_leaves(self, *, exact: bool = False) -> Iterator[Leaf]:
        """The whole leaf lines, in the file's order; ValueError at a line that is not
        one (with ``exact``, at one not written byte for byte as custody writes it)."""
        path = self.dir / "leaves"
        if not path.exists():
            return
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                if not raw.endswith(b"\n"):
                    return  # torn: never a whole leaf
                try:
                    index, capture_id, digest = raw.decode("ascii").split()
                    leaf = Leaf(int(index), capture_id, bytes.fromhex(digest))
                except ValueError as exc:
                    raise ValueError(f"line {number} is not a leaf line") from exc
                if exact and (raw != f"{index} {capture_id} {digest}\n".encode()
                              or str(leaf.index) != index or digest != leaf.hash.hex()
                              or len(leaf.hash) != 32):
                    raise ValueError(f"line {number} is not written as custody writes a "
                                     "leaf line (its bytes differ from its fields')")
                yield leaf

    def leaf_at(self, index: int) -> Leaf | None:
        """The leaf numbered ``index``, found by halving the file (its lines are in order
        of their numbers): O(log n) short reads. None when there is none, or the lines
        around it are not in order."""
        path = self.dir / "leaves"
        try:
            fh = open(path, "rb")  # noqa: SIM115
        except OSError:  # missing, or no file in its place
            return None
        with fh:
            low, high = 0, fh.seek(0, 2)
            while low < high:
                middle = (low + high) // 2
                fh.seek(max(middle - 1, 0))
                if middle:
                    fh.readline()  # to the first line that starts at or after middle
                start = fh.tell()
                raw = fh.readline()
                if not raw.endswith(b"\n"):
                    high = middle
                    continue
                try:
                    number, capture_id, digest = raw.decode("ascii").split()
                    found = int(number)
                except ValueError:
                    return None
                if found == index:
                    return Leaf(found, capture_id, bytes.fromhex(digest))
                if found < index:
                    low = start + len(raw)
                else:
                    high = middle
        return None

    def torn(self) -> int:
        """Bytes after the leaves file's last newline (0: none): a leaf line cut short by
        an interrupted append, if ``torn_problem`` finds none."""
        return tail_torn(self.dir / "leaves")

    def torn_problem(self, size: int) -> str | None:
        """None when the bytes after the last newline could be the start of leaf
        ``size``'s line, as an append interrupted there leaves them; else what they are
        (lines joined by another end of line, bytes written there): not to be cut."""
        return leaf_tail_problem(self.dir / "leaves", size)

    def repair(self, size: int) -> None:
        """Cut a torn last line off the leaves file (it never held a whole leaf), when it
        is the start of leaf ``size``'s line; ArchiveError when it is anything else."""
        problem = self.torn_problem(size)
        if problem is not None:
            raise ArchiveError(f"manifests/ledger/leaves: {problem}. Nothing is written "
                               "over it (`custody verify` says more)")
        cut_torn(self.dir / "leaves")

    def append(self, history: History, capture_id: str, leaf_hash: bytes) -> int:
        """Add a manifest's leaf hash as the next leaf, its tiles, and what the history
        keeps of it; its index. The caller then signs a checkpoint (``checkpoint_now``)."""
        self.repair(history.ledger.size)
        self.origin()
        index = history.ledger.size
        line = f"{index} {capture_id} {leaf_hash.hex()}".encode("ascii")
        with open(self.dir / "leaves", "ab") as fh:
            fh.write(line + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
            end = fh.tell()
        faults.after("seal.ledger-leaf")
        history.leaf_appended(capture_id, leaf_hash, line, end)
        return index

    def checkpoint_now(self, history: History, *, key: Ed25519PrivateKey,
                       principal: str) -> Checkpoint:
        """Sign a checkpoint of the whole ledger (and of the custody log as far as it goes
        now: its extension line) and write it: first into the history (``checkpoints/N``),
        then its SSH signature, then the ``checkpoint`` copy, so that a crash between any
        two leaves a state verify can tell from tampering."""
        size = history.ledger.size
        self._refuse_if_cut(history)
        origin = self.origin()
        root = base64.b64encode(history.root_hash()).decode()
        text = signed_before(self.checkpoint_path(size), [origin, str(size), root],
                             key_name(principal), key)
        if text is None:
            last = bytes.fromhex(history.log.last_sha256) if history.log.last_sha256 else b""
            log = f"{LOG_EXTENSION} {history.log.count} {base64.b64encode(last).decode()}"
            body = f"{origin}\n{size}\n{root}\n{log}\n"
            text = sign_note(body, key_name(principal), key)
            (self.dir / "checkpoints").mkdir(parents=True, exist_ok=True)
            write_atomic(self.checkpoint_path(size), text.encode())
        faults.after("seal.checkpoint-history")
        ssh = sshsig.sign(key, text.encode(), sshsig.CHECKPOINT_NAMESPACE).encode()
        write_atomic(self.dir / "checkpoint.sig", ssh)
        faults.after("seal.checkpoint-sig")
        write_atomic(self.dir / "checkpoint", text.encode())
        faults.after("seal.checkpoint")
        return parse_checkpoint(text)

    def _refuse_if_cut(self, history: History) -> None:
        """ArchiveError when the signed checkpoint names more leaves than the ledger holds,
        another root at its size, or more of the custody log than it holds: a checkpoint
        signed now would hide what was removed."""
        from ..core.errors import ArchiveError

        try:
            latest = self.latest()
        except (OSError, ValueError):
            return  # a damaged checkpoint: verify says so; a new one replaces nothing kept
        if latest is None:
            return
        logged = latest.log
        problem = None
        if latest.size > history.ledger.size:
            problem = (f"the signed checkpoint names {latest.size} leaves, and the ledger "
                       f"holds {history.ledger.size}")
        elif latest.size == history.ledger.size and latest.root != history.root_hash():
            problem = "the ledger's root is not the one its signed checkpoint names"
        elif logged is not None and logged[0] > history.log.count:
            problem = (f"the signed checkpoint names {logged[0]} custody log events, and the "
                       f"log holds {history.log.count}")
        if problem:
            raise ArchiveError(f"{problem}: captures or events were removed or changed. "
                               "Nothing is signed over it (`custody verify` names what "
                               "changed)", where=str(self.dir))

    def checkpoint_path(self, size: int) -> Path:
        return self.dir / "checkpoints" / str(size)

    def history(self) -> dict[int, Path]:
        """Every checkpoint written, by tree size (verify's reading: it lists a folder
        that grows with the archive)."""
        folder = self.dir / "checkpoints"
        return {int(p.name): p for p in folder.glob("*") if p.name.isdigit()} \
            if folder.is_dir() else {}

    def history_sizes(self) -> Sequence[int]:
        """The sizes of every checkpoint written, in order: one for each size, kept as
        machine integers, not as paths (verify lists a folder that grows with the
        archive)."""
        try:
            with os.scandir(self.dir / "checkpoints") as entries:
                found = array("q", (int(e.name) for e in entries if e.name.isdigit()))
        except FileNotFoundError:
            return array("q")
        return array("q", sorted(found))

    def current(self, size: int) -> bool:
        """Whether the checkpoint and its SSH signature cover ``size`` leaves (all of them),
        as the newest checkpoint of the history (False: an interrupted seal left them
        behind)."""
        try:
            latest = self.latest()
            if latest is None or latest.size != size:
                return False
            newest = self.checkpoint_path(size)
            if newest.read_text() != latest.text or self.checkpoint_path(size + 1).exists():
                return False
            signature = sshsig.parse_signature((self.dir / "checkpoint.sig").read_text())
            return signature.verifies(latest.text.encode())
        except (OSError, ValueError):
            return False

    def latest(self) -> Checkpoint | None:
        path = self.dir / "checkpoint"
        return parse_checkpoint(path.read_text()) if path.exists() else None

    def index_of(self, capture_id: str, leaf_hash: bytes, hint: int | None,
                 size: int) -> int | None:
        """The leaf index of a manifest whose leaf hash is given: ``hint`` (its sequence
        less one) when the tiles hold that leaf there, else found in the leaves file."""
        if hint is not None and 0 <= hint < size:
            try:
                if self.tiles.leaf(hint) == leaf_hash:
                    return hint
            except (LookupError, OSError):
                pass
        try:
            for leaf in self.iter_leaves():
                if leaf.index >= size:
                    break
                if leaf.capture_id == capture_id and leaf.hash == leaf_hash:
                    return leaf.index
        except ValueError:  # a damaged line: verify names it
            return None
        return None

    def inclusion(self, capture_id: str, leaf_hash: bytes,
                  hint: int | None = None) -> dict[str, object]:
        """The inclusion proof of a capture's manifest in the latest checkpoint's tree,
        from the tiles (O(log n) of them); LookupError when it is not there."""
        checkpoint = self.latest()
        if checkpoint is None:
            raise LookupError("the ledger has no checkpoint")
        index = self.index_of(capture_id, leaf_hash, hint, checkpoint.size)
        if index is None:
            raise LookupError(f"{capture_id} is not in the ledger's checkpoint")
        proof = self._proof(index, checkpoint.size)
        return {
            "format": "custody-inclusion-proof/1",
            "hashing": "RFC 9162: leaf = SHA-256(0x00 || manifest bytes), "
                       "node = SHA-256(0x01 || left || right)",
            "origin": checkpoint.origin,
            "capture_id": capture_id,
            "leaf_index": index,
            "tree_size": checkpoint.size,
            "leaf_hash": leaf_hash.hex(),
            "root_hash": checkpoint.root.hex(),
            "proof": [p.hex() for p in proof],
        }

    def prove(self, sealed: Sealed) -> dict[str, object]:
        """``inclusion`` of a sealed manifest, looked for first where its chain puts it."""
        hint = sealed.sequence - 1 if sealed.sequence is not None else None
        return self.inclusion(sealed.capture_id, sealed.leaf_hash, hint)

    def _proof(self, index: int, size: int) -> list[bytes]:
        """From the tiles; from the leaves when an archive made before them has none."""
        try:
            return self.tiles.inclusion(index, size)
        except (LookupError, OSError):
            hashes = [leaf.hash for leaf in self.iter_leaves()][:size]
            return merkle.inclusion_proof(hashes, index)
