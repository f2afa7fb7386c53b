"""The ledger's leaves and the custody log kept in the store as immutable pieces, and
the tiles beside them: what a seal sends, and what a folder fetches to catch up.

A folder keeps ``manifests/ledger/leaves`` and ``log.jsonl`` whole (the evidence's
layout); the store keeps each cut into pieces of ``PER[stream]`` lines (256 leaves, as
a tile holds 256 hashes; 64 events, about 28 KB):

- a full piece whose lines were committed by an earlier head is written once, at
  ``manifests/ledger/pieces/STREAM/N`` (N as tlog-tiles writes it), by the next writer
  (``If-None-Match``), so that no writer ever names an object there with lines that
  were not committed;
- the lines past the full pieces go in objects of the writer that sends them,
  ``…/N.p/LINES-WRITER``: a new one for each piece a seal changes, never written again.

Tiles follow the same rule: a full tile is written at its C2SP path (``tile/L/N``) by
the writer after the one that made it; the ones past them, and the partial ones, are
objects of their writer (``pieces/tile/L/N.p/WIDTH-WRITER``).

A folder catching up fetches only the pieces past what it holds, from the byte its
copy ends at, and checks what it then holds against the head: each full piece in the
chain, each tail object by its sha256 (``Mismatch`` otherwise).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..core.errors import StoreDamaged
from ..seal.tiles import WIDTH, Tiles, index_path, tile_path
from .head import ZERO, Chunk, Head, Stream, TileObject
from .s3 import ShortObject, Store

PIECES = "manifests/ledger/pieces"
LEDGER = "manifests/ledger"
PATH = {"leaves": f"{LEDGER}/leaves", "log": f"{LEDGER}/log.jsonl"}
PER = {"leaves": 256, "log": 64}
BATCH = 32  # full pieces fetched at once by a folder far behind
# objects read at once, each from a byte on: (bytes, ETag), None when there is none
Fetch = Callable[[Sequence[tuple[str, int]]], list[tuple[bytes, str] | None]]


def piece_name(stream: str, index: int) -> str:
    return f"{PIECES}/{stream}/{index_path(index)}"


def chunk_name(stream: str, index: int, lines: int, writer: str) -> str:
    return f"{piece_name(stream, index)}.p/{lines}-{writer}"


def tile_name(level: int, index: int, width: int, writer: str) -> str:
    return f"{PIECES}/tile/{level}/{index_path(index)}.p/{width}-{writer}"


def link(chain: str, piece: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(chain) + hashlib.sha256(piece).digest()).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lines_of(data: bytes) -> list[bytes]:
    """The lines, each with its newline (a last line without one is left out)."""
    cut = data.rfind(b"\n") + 1
    return [line + b"\n" for line in data[:cut].split(b"\n")[:-1]]


class Mismatch(Exception):
    """The folder's file and the store's pieces, put together, are not what the head
    commits (or the store's stream does not continue what the folder has of it)."""


class Gone(Exception):
    """A writer's object the head names is not there: a newer head replaced it (a
    reader reads the head again)."""


@dataclass(frozen=True)
class Synced:
    """How much of a folder's file is the store's, as of the head last read or written:
    its first ``bytes`` (``lines`` lines); the first ``full`` pieces end at ``offset``,
    ``chain`` over them."""

    lines: int = 0
    bytes: int = 0
    full: int = 0
    offset: int = 0
    chain: str = ZERO


def _read_from(path: Path, offset: int, end: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(end - offset)


def catch_up(store: Store, root: Path, stream: str, want: Stream, synced: Synced,
             fetch: Fetch) -> Synced:
    """Make the folder's file the store's ``stream`` as the head says (``want``),
    fetching what lies past ``synced`` only. What the folder holds past ``synced`` was
    never committed, and goes."""
    per, path = PER[stream], root / PATH[stream]
    size = path.stat().st_size if path.exists() else 0
    if size < synced.bytes or want.lines < synced.lines or want.full < synced.full:
        raise Mismatch("the store's does not continue the folder's")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        fh.truncate(synced.bytes)
    local = lines_of(_read_from(path, synced.offset, synced.bytes))
    if synced.full * per + len(local) != synced.lines:
        raise Mismatch("the folder's file is not what it was")
    have, chain, offset = synced.lines, synced.chain, synced.offset
    with open(path, "ab") as out:
        # the full pieces the folder lacks a line of, BATCH at once, each from the byte
        # the folder's copy of it ends at (the chain then checks the whole of it)
        def held(k: int) -> bytes:
            return b"".join(local[(k - synced.full) * per:(k - synced.full + 1) * per])

        needed = [k for k in range(synced.full, want.full) if (k + 1) * per > have]
        fetched: dict[int, tuple[bytes, str] | None] = {}
        for k in range(synced.full, want.full):
            piece = held(k)
            if (k + 1) * per > have:
                if k not in fetched:
                    fetched.clear()  # (what a batch holds is bounded, at any size)
                    batch = needed[needed.index(k):][:BATCH]
                    fetched.update(zip(batch, fetch([(piece_name(stream, n), len(held(n)))
                                                     for n in batch]), strict=True))
                found = fetched[k]
                if found is None:
                    raise Mismatch(f"{piece_name(stream, k)} is missing, or shorter than "
                                   "the folder's copy of it")
                piece += found[0]
                if len(lines_of(piece)) != per or not piece.endswith(b"\n"):
                    raise Mismatch(f"{piece_name(stream, k)} does not hold {per} lines")
                out.write(found[0])
                have = (k + 1) * per
            chain = link(chain, piece)
            offset += len(piece)
        if chain != want.chain:
            raise Mismatch(f"its {want.full} full pieces are not those the head commits")
        region = local[(want.full - synced.full) * per:] if have == synced.lines else []
        _tail(store, stream, want, region, out)
        out.flush()
        os.fsync(out.fileno())
    if path.stat().st_size != want.bytes:
        raise Mismatch(f"{want.bytes} bytes committed, {path.stat().st_size} put together")
    return Synced(want.lines, want.bytes, want.full, offset, want.chain)


def _tail(store: Store, stream: str, want: Stream, region: list[bytes],
          out: BinaryIO) -> None:
    """The tail objects, each from the byte the folder's copy of it ends at."""
    per, at = PER[stream], want.full * PER[stream]
    for number, chunk in enumerate(want.tail):
        last = number == len(want.tail) - 1
        if chunk.index != want.full + number or not 0 < chunk.lines <= per or \
                (not last and chunk.lines != per):
            raise Mismatch(f"the head's tail is not in order at piece {chunk.index}")
        held = region[chunk.index * per - at:][:chunk.lines]
        data = b"".join(held)
        if len(held) < chunk.lines:
            try:
                found = store.get(chunk.name, start=len(data))
            except ShortObject:
                raise Mismatch(f"{chunk.name} is shorter than the head says") from None
            if found is None:
                raise Gone(chunk.name)
            data += found[0]
            out.write(found[0])
        if len(lines_of(data)) != chunk.lines or len(data) != chunk.bytes or \
                sha256(data) != chunk.sha256:
            raise Mismatch(f"{chunk.name} is not the object the head names")
    if sum(c.lines for c in want.tail) + at != want.lines:
        raise Mismatch(f"the head's pieces hold other than its {want.lines} lines")


def changed_since(root: Path, stream: str, want: Stream, etags: dict[str, str]) -> bool:
    """Whether an object of the stream's pieces in the store (``etags``: the listing's)
    is no longer what the folder made of it: its MD5 is not that of the folder's lines
    (an object changed after it was fetched, which a copy kept long would not see
    otherwise). Reads the folder's whole file, as verifying does. Gone when a tail object
    the head names is not listed (a newer head replaced it)."""
    per, path = PER[stream], root / PATH[stream]
    names = [piece_name(stream, k) for k in range(want.full)] + [c.name for c in want.tail]
    sizes = [per] * want.full + [c.lines for c in want.tail]
    with open(path, "rb") as fh:
        for number, (name, count) in enumerate(zip(names, sizes, strict=True)):
            digest = hashlib.md5(usedforsecurity=False)
            for _ in range(count):
                digest.update(fh.readline())
            etag = etags.get(name)
            if etag is None:
                if number >= want.full:
                    raise Gone(name)
                return True
            if "-" not in etag and etag.strip('"') != digest.hexdigest():
                return True
    return False


@dataclass
class Outgoing:
    """What a seal sends of a stream or of the tiles, and what the new head says."""

    promoted: list[tuple[str, bytes]]  # committed before: written once, at their own names
    written: list[tuple[str, bytes]]  # the writer's own objects
    stream: Stream
    synced: Synced


def plan(root: Path, stream: str, begin: Stream, synced: Synced, writer: str) -> Outgoing:
    """The stream as the folder now holds it, against the head read at the start of the
    seal (``begin``, which the folder held then: ``synced``)."""
    per, path = PER[stream], root / PATH[stream]
    end = path.stat().st_size if path.exists() else 0
    lines = lines_of(_read_from(path, synced.offset, end)) if end else []
    total = synced.full * per + len(lines)
    if synced.full != begin.full or total < begin.lines:
        raise Mismatch(f"{PATH[stream]} is no longer what the seal began with")
    known = {c.index: c for c in begin.tail}
    promoted: list[tuple[str, bytes]] = []
    chain, full, offset = begin.chain, begin.full, synced.offset
    while (full + 1) * per <= begin.lines:
        piece = b"".join(lines[(full - begin.full) * per:(full - begin.full + 1) * per])
        was = known.get(full)
        if was is not None and was.sha256 != sha256(piece):
            raise Mismatch(f"{PATH[stream]} is not what it was committed as")
        promoted.append((piece_name(stream, full), piece))
        chain, full, offset = link(chain, piece), full + 1, offset + len(piece)
    tail: list[Chunk] = []
    written: list[tuple[str, bytes]] = []
    rest = lines[(full - begin.full) * per:]
    for start in range(0, len(rest), per):
        group = rest[start:start + per]
        piece, index = b"".join(group), full + start // per
        was = known.get(index)
        if was is not None and was.lines == len(group) and was.sha256 == sha256(piece):
            tail.append(was)
            continue
        name = chunk_name(stream, index, len(group), writer)
        tail.append(Chunk(name, index, len(group), len(piece), sha256(piece)))
        written.append((name, piece))
    size = offset + sum(len(line) for line in rest)
    return Outgoing(promoted, written, Stream(total, size, full, chain, tuple(tail)),
                    Synced(total, size, full, offset, chain))


def plan_tiles(root: Path, begin: Head, size: int, writer: str,
               rebuild: Callable[[], None]) -> tuple[Outgoing, tuple[TileObject, ...]]:
    """The tiles of a ledger of ``size`` leaves: the full ones of what ``begin``
    committed written at their C2SP paths, the rest as this writer's objects.
    ``rebuild`` makes the folder's tiles again from its leaves, when they lack one."""
    committed = begin.leaves.lines
    known = {(t.level, t.index, t.width): t for t in begin.tiles}
    promoted: list[tuple[str, bytes]] = []
    written: list[tuple[str, bytes]] = []
    tail: list[TileObject] = []
    tiles = Tiles(root / LEDGER)

    def read(level: int, index: int, width: int) -> bytes:
        try:
            return tiles.tile(level, index, width)
        except (LookupError, OSError):
            rebuild()  # (then read afresh: the reader caches what it read)
            return Tiles(root / LEDGER).tile(level, index, width)

    level = 0
    while size >> (8 * level):
        span = 8 * (level + 1)
        for index in range(begin.tiles_full_at >> span, committed >> span):
            data = read(level, index, WIDTH)
            was = known.get((level, index, WIDTH))
            if was is not None and was.sha256 != sha256(data):
                raise Mismatch(f"tile {level}/{index} is not what it was committed as")
            promoted.append((f"{LEDGER}/{tile_path(level, index)}", data))
        shapes = [(index, WIDTH) for index in range(committed >> span, size >> span)]
        if (size >> (8 * level)) % WIDTH:
            shapes.append((size >> span, (size >> (8 * level)) % WIDTH))
        for index, width in shapes:
            data = read(level, index, width)
            was = known.get((level, index, width))
            if was is not None and was.sha256 == sha256(data):
                tail.append(was)
                continue
            name = tile_name(level, index, width, writer)
            tail.append(TileObject(name, level, index, width, sha256(data)))
            written.append((name, data))
        level += 1
    return Outgoing(promoted, written, Stream(), Synced()), tuple(tail)


def put_once(store: Store, relative: str, data: bytes) -> None:
    """Write an object that is written once: where it is there already, it must hold
    these very bytes (committed lines are the same whoever writes them)."""
    from .s3 import Conflict

    try:
        store.put(relative, data, if_absent=True)
    except Conflict:
        found = store.get(relative)
        if found is None or found[0] != data:
            raise StoreDamaged(f"{relative} holds other bytes than those committed",
                               where=str(store.url)) from None
