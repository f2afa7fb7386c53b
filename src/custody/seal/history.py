"""What a seal needs from the archive's history, kept from one seal to the next.

A seal needs the chain's head (the newest manifest's sequence and sha256), the ledger's
size and right edge (to sign a checkpoint over every leaf), the custody log's length and
last line (to chain the next event to it) and the lines that admit keys. Read from the
evidence, each costs the whole history; kept here, in ``.custody/history.json``, each
costs the same at any size.

What is kept is a cache of the evidence, never a source of truth. It records how many
bytes of ``manifests/ledger/leaves`` and ``log.jsonl`` it has read, and the last line of
each; opened, it is checked against the files' ends (two stats and two short reads):

- the files as it left them: used as is;
- the files grown (another writer, a worker's lane, a copy fetched from a store): only
  what was appended is read and folded in;
- anything else (a file cut short, or not the one it read; no state yet, or an archive
  made by an earlier custody): it is built again from the whole files, once.

``custody verify`` never reads it: it derives all of this from the evidence again.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.atomic import write_atomic
from ..core.errors import ArchiveError
from . import merkle
from .tiles import Tiles

FORMAT = 1
STATE = ".custody/history.json"
ADMITTING_EVENTS = {"key-added": "key", "key-rotated": "new"}


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


@dataclass
class LogState:
    bytes: int = 0  # of whole lines read
    count: int = 0
    last_sha256: str | None = None  # of the last line, without its newline
    # the lines that can admit a key (the first, and key-added/-rotated): number, offset,
    # length; trust.py walks these alone
    key_lines: list[list[int]] = field(default_factory=list)
    # the newest `captured` event: capture id, manifest sha256 (the chain's head of a
    # copy of a stored archive, which holds others' manifests only as these)
    captured: list[str] | None = None
    last_length: int = 0


@dataclass
class LedgerState:
    bytes: int = 0
    size: int = 0
    edge: list[str] = field(default_factory=list)  # hex, largest subtree first
    last: list[str] | None = None  # capture id and leaf hash (hex) of the last leaf
    last_line_sha256: str | None = None
    last_length: int = 0


@dataclass
class History:
    root: Path
    ledger: LedgerState = field(default_factory=LedgerState)
    log: LogState = field(default_factory=LogState)
    # the chain's head: sequence, manifest sha256, capture id (of the ledger's last leaf)
    chain: list[Any] | None = None
    changed: bool = False
    writing: bool = False
    rebuilt: bool = False  # read from the whole files: no state, or not the files it read
    damage: str | None = None  # (a reader's) the leaves line it stopped at, and why

    # -- files ------------------------------------------------------------------------

    @property
    def leaves_path(self) -> Path:
        return self.root / "manifests" / "ledger" / "leaves"

    @property
    def log_path(self) -> Path:
        return self.root / "manifests" / "ledger" / "log.jsonl"

    @property
    def tiles(self) -> Tiles:
        return Tiles(self.root / "manifests" / "ledger")

    def compact_range(self) -> merkle.CompactRange:
        return merkle.CompactRange(self.ledger.size, [bytes.fromhex(h) for h in self.ledger.edge])

    # -- opening ----------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path, *, write: bool = False) -> History:
        """The kept state, checked against the evidence's ends and caught up; a writer
        (``write``, holding the sealing lock) also brings the tiles up to the leaves."""
        history = cls._load(root)
        history.writing = write
        if write:
            for path in (history.leaves_path, history.log_path):
                if path.is_symlink():
                    raise ArchiveError(f"manifests/ledger/{path.name} is a symbolic link, not "
                                       "a file of the archive: nothing is written through it "
                                       "(`custody verify` says more)")
        if not _fits(history.leaves_path, history.ledger.bytes, history.ledger.last_length,
                     history.ledger.last_line_sha256):
            if write:
                _refuse("manifests/ledger/leaves", history.ledger.size, "leaves")
            history.ledger = LedgerState()
            history.chain = None
            history.changed = history.rebuilt = True
        if not _fits(history.log_path, history.log.bytes, history.log.last_length,
                     history.log.last_sha256):
            if write:
                _refuse("manifests/ledger/log.jsonl", history.log.count, "events")
            history.log = LogState()
            history.changed = history.rebuilt = True
        for step in (history._catch_up_ledger, history._catch_up_log,
                     history._catch_up_chain):
            try:
                step()
            except ArchiveError as exc:
                if write:
                    raise
                history.damage = history.damage or exc.args[0]  # a reader goes on without
                if step == history._catch_up_chain:
                    history.chain = None
        return history

    @classmethod
    def _load(cls, root: Path) -> History:
        try:
            data = json.loads((root / STATE).read_text())
            if data.get("format") != FORMAT:
                raise ValueError("another format")
            return cls(root, LedgerState(**data["ledger"]), LogState(**data["log"]),
                       data.get("chain"))
        except (OSError, ValueError, TypeError, KeyError):
            return cls(root, changed=True, rebuilt=True)

    def save(self) -> None:
        """Keep the state (a writer's, holding the archive's sealing lock: one that read
        without writing the tiles keeps nothing, so the tiles never lag what is kept)."""
        if not self.changed or not self.writing:
            return
        data = {"format": FORMAT, "ledger": self.ledger.__dict__, "log": self.log.__dict__,
                "chain": self.chain}
        path = self.root / STATE
        path.parent.mkdir(parents=True, exist_ok=True)
        # a cache: lost in a crash, it is checked against the files and built again
        write_atomic(path, json.dumps(data, sort_keys=True).encode(), folder_synced=False)
        self.changed = False

    # -- the ledger -------------------------------------------------------------------

    def _catch_up_ledger(self) -> None:
        lines, end = read_lines(self.leaves_path, self.ledger.bytes)
        if not lines:
            return
        edge = self.compact_range()
        whole = edge.size == 0
        tiles = self.tiles
        good = 0
        for line in lines:
            try:
                index, capture_id, digest = line.decode("ascii").split()
                leaf = bytes.fromhex(digest)
                if int(index) != edge.size or len(leaf) != 32:
                    raise ValueError(f"leaf {edge.size} is numbered {index}")
            except ValueError as exc:
                damage = f"line {edge.size + 1}: {exc}"
                if not self.writing:  # a reader reads what comes before; verify says more
                    self.damage = damage
                    break
                raise ArchiveError(f"manifests/ledger/leaves is damaged ({damage}): nothing "
                                   "can be sealed after it; `custody verify` says more",
                                   where=str(self.root)) from exc
            made = edge.append(leaf)
            if self.writing and not whole:
                whole = not self._add_tiles(tiles, made)  # (tiles a crash left behind)
            self.ledger.last = [capture_id, digest]
            good += 1
        if not good:
            return
        if self.writing and whole:
            self._rebuild_tiles(tiles)
        self._set_edge(edge)
        if good < len(lines):
            end = self.ledger.bytes + sum(len(line) + 1 for line in lines[:good])
        self.ledger.bytes = end
        self.ledger.last_line_sha256 = line_hash(lines[good - 1])
        self.ledger.last_length = len(lines[good - 1])
        self.changed = True

    def _set_edge(self, edge: merkle.CompactRange) -> None:
        self.ledger.size = edge.size
        self.ledger.edge = [h.hex() for h in edge.hashes]

    @staticmethod
    def _add_tiles(tiles: Tiles, made: list[tuple[int, int, bytes]]) -> bool:
        """Store what a leaf completed; False when the tiles lack what it builds on."""
        try:
            tiles.add(made)
        except LookupError:
            return False
        return True

    def _rebuild_tiles(self, tiles: Tiles) -> None:
        """Every tile again, from the leaves (no tiles yet, or fewer than the leaves)."""
        lines, _ = read_lines(self.leaves_path, 0)
        tiles.rebuild(bytes.fromhex(line.split()[2].decode("ascii")) for line in lines)

    def leaf_appended(self, capture_id: str, leaf: bytes, line: bytes, end: int) -> None:
        """A leaf line written (``end``: the file's size after it): the edge and tiles."""
        edge = self.compact_range()
        tiles = self.tiles
        if not self._add_tiles(tiles, edge.append(leaf)):
            self._rebuild_tiles(tiles)
        self._set_edge(edge)
        self.ledger.bytes = end
        self.ledger.last = [capture_id, leaf.hex()]
        self.ledger.last_line_sha256 = line_hash(line)
        self.ledger.last_length = len(line)
        self.changed = True

    def root_hash(self) -> bytes:
        return self.compact_range().root()

    # -- the chain --------------------------------------------------------------------

    def _catch_up_chain(self) -> None:
        last = self.ledger.last
        if last is None:
            if self.chain is not None:
                self.chain = None
                self.changed = True
            return
        if self.chain is not None and self.chain[2] == last[0] and \
                self.chain[0] == self.ledger.size:
            return
        self.chain = self._head_of(last[0], bytes.fromhex(last[1]))
        self.changed = True

    def _head_of(self, capture_id: str, leaf: bytes) -> list[Any]:
        """The chain's head from the ledger's last leaf: its manifest, when this folder
        holds it (and it is the one the leaf hashes), else its `captured` event."""
        path = self.root / "manifests" / f"{capture_id}.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = None
        if data is not None and merkle.leaf_hash(data) == leaf:
            return [self.ledger.size, hashlib.sha256(data).hexdigest(), capture_id]
        if self.log.captured is not None and self.log.captured[0] == capture_id:
            return [self.ledger.size, self.log.captured[1], capture_id]
        raise ArchiveError(f"the ledger's last leaf, {capture_id}, has neither its manifest "
                           "nor a `captured` event in the custody log", where=str(self.root))

    def head(self) -> tuple[int, str | None]:
        """The sequence number and sha256 of the newest sealed manifest (0, None: none)."""
        if self.chain is None:
            return 0, None
        return int(self.chain[0]), str(self.chain[1])

    def sealed(self, capture_id: str, sequence: int, sha256: str) -> None:
        self.chain = [sequence, sha256, capture_id]
        self.changed = True

    # -- the custody log --------------------------------------------------------------

    def _catch_up_log(self) -> None:
        lines, end = read_lines(self.log_path, self.log.bytes)
        offset = self.log.bytes
        for line in lines:
            if line:  # (a blank line is no event)
                self._fold_event(line, offset)
            offset += len(line) + 1
        if lines:
            self.log.bytes = end
            self.changed = True

    def _fold_event(self, line: bytes, offset: int) -> None:
        self.log.count += 1
        self.log.last_sha256 = line_hash(line)
        self.log.last_length = len(line)
        try:
            entry = json.loads(line)
        except ValueError:
            return  # verify says so; the chain still goes on from its bytes
        if not isinstance(entry, dict):
            return
        event = entry.get("event")
        if self.log.count == 1 or event in ADMITTING_EVENTS:
            self.log.key_lines.append([self.log.count, offset, len(line)])
        details = entry.get("details")
        if event == "captured" and isinstance(details, dict):
            cid, sha = details.get("capture_id"), details.get("manifest_sha256")
            if isinstance(cid, str) and isinstance(sha, str):
                self.log.captured = [cid, sha]

    def event_appended(self, line: bytes, offset: int) -> None:
        self._fold_event(line, offset)
        self.log.bytes = offset + len(line) + 1
        self.changed = True

    def key_lines(self) -> list[bytes]:
        """The log's lines that can admit a key, read where they lie: the first line,
        and every key-added or key-rotated event."""
        found = []
        try:
            with open(self.log_path, "rb") as fh:
                for _number, offset, length in self.log.key_lines:
                    fh.seek(offset)
                    found.append(fh.read(length))
        except OSError:  # none to read (verify's check of the log says why)
            return []
        return found

    def log_head_body(self, origin: str) -> str:
        """The signed log head's note body: the log's name, its length, its last line."""
        last = bytes.fromhex(self.log.last_sha256) if self.log.last_sha256 else b""
        return f"{origin}/log\n{self.log.count}\n{base64.b64encode(last).decode()}\n"


def forget(root: Path) -> None:
    """Drop the kept state (what a store's folder does when it takes the store's files in
    place of what it held past them, which was never committed)."""
    (root / STATE).unlink(missing_ok=True)


def _refuse(name: str, count: int, what: str) -> None:
    raise ArchiveError(
        f"{name} no longer begins with what custody last saw of it ({count} {what}): lines "
        "were removed or changed. Nothing is written over it (`custody verify` names what "
        "changed; if the archive was restored from a backup on purpose, remove "
        ".custody/history.json and run again)", where=name)


def _fits(path: Path, read: int, length: int, sha256: str | None) -> bool:
    """Whether ``path`` still begins with what was read of it: at least ``read`` bytes,
    whose last line (``length`` bytes, then a newline) is the one whose sha256 was kept."""
    if read == 0:
        return True
    if length + 1 > read:
        return False
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            if fh.tell() < read:
                return False
            start = read - length - 1
            fh.seek(max(start - 1, 0))
            block = fh.read(read - max(start - 1, 0))
    except OSError:
        return False
    if start > 0 and block[:1] != b"\n":
        return False
    return block.endswith(b"\n") and line_hash(block[-length - 1:-1]) == sha256


def read_lines(path: Path, offset: int) -> tuple[list[bytes], int]:
    """The whole lines of ``path`` from ``offset`` on, and the offset after the last (a
    last line without its newline, an interrupted append, is left out)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    except OSError as exc:  # a folder in its place, a file no one may read
        raise ArchiveError(f"manifests/{path.parent.name}/{path.name} is unreadable: "
                           f"{exc.strerror or exc}") from exc
    cut = data.rfind(b"\n") + 1
    return data[:cut].split(b"\n")[:-1], offset + cut
