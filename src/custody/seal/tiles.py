"""The ledger's Merkle tree stored as tiles (C2SP tlog-tiles), so that a proof reads
O(log n) small files rather than every leaf.

A tile holds up to 256 consecutive node hashes of one stored level: level 0 the leaf
hashes, level L the roots of the perfect subtrees of 256**L leaves. ``tile/L/N`` is a
full tile, ``tile/L/N.p/W`` a partial one of W hashes (N written as tlog-tiles writes
it: ``x001/x234/067`` for 1234067). Tiles are derived from the leaves: each seal
appends its leaf hash to the level-0 tile and, when a tile fills, its root to the tile
above. A full tile is written once; a partial one is replaced by the next, wider one
(a stored archive keeps each, since an object there is written once). ``custody
verify`` builds the tiles again from the leaves and fails where they differ.

Hashes of the levels between stored ones (heights 1-7, 9-15...) are computed from the
tile below them: at most 255 hashes, for a proof that touches one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

from ..core.atomic import fsync_dir, write_atomic
from . import merkle

HEIGHT = 8
WIDTH = 1 << HEIGHT
HASH = 32


def index_path(index: int) -> str:
    """tlog-tiles' N: three-digit groups, all but the last prefixed with x."""
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def tile_path(level: int, index: int, width: int = WIDTH) -> str:
    name = f"tile/{level}/{index_path(index)}"
    return name if width == WIDTH else f"{name}.p/{width}"


class Tiles:
    """The tiles under a ledger folder: read (any width at least the one asked for
    serves) and appended."""

    def __init__(self, ledger_dir: Path) -> None:
        self.dir = ledger_dir
        self._cache: dict[tuple[int, int], bytes] = {}
        # roots of perfect subtrees that take 8 or more of a tile's nodes to hash: a
        # complete subtree never changes, and the roots at every size share them
        self._roots: dict[tuple[int, int], bytes] = {}

    # -- reading ------------------------------------------------------------------------

    def tile(self, level: int, index: int, width: int) -> bytes:
        """The first ``width`` hashes of a tile; LookupError when no tile holds them."""
        held = self._cache.get((level, index))
        if held is not None and len(held) >= width * HASH:
            return held[: width * HASH]
        data = self._read(level, index, width)
        self._cache[(level, index)] = data
        return data[: width * HASH]

    def _read(self, level: int, index: int, width: int) -> bytes:
        full = self.dir / tile_path(level, index)
        try:
            data = full.read_bytes()
        except FileNotFoundError:
            data = self._partial(level, index, width)
        if len(data) < width * HASH or len(data) % HASH:
            raise LookupError(f"{tile_path(level, index)} holds {len(data) // HASH} hashes, "
                              f"{width} are needed")
        return data

    def _partial(self, level: int, index: int, width: int) -> bytes:
        folder = self.dir / f"{tile_path(level, index)}.p"
        try:
            widths = sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())
        except FileNotFoundError:
            widths = []
        for have in widths:
            if have >= width:
                return (folder / str(have)).read_bytes()
        raise LookupError(f"no tile holds {tile_path(level, index, width)}")

    def perfect(self, index: int, height: int) -> bytes:
        """The root of the perfect subtree ``index`` of ``height`` (merkle.Perfect)."""
        level, rest = divmod(height, HEIGHT)
        if rest >= 3:
            held = self._roots.get((index, height))
            if held is None:
                held = self._roots[(index, height)] = self._hashed(index, level, rest)
            return held
        return self._hashed(index, level, rest)

    def _hashed(self, index: int, level: int, rest: int) -> bytes:
        count = 1 << rest  # its nodes on the stored level below it
        first = index << rest
        tile, offset = divmod(first, WIDTH)
        data = self.tile(level, tile, offset + count)
        nodes = [data[i * HASH:(i + 1) * HASH] for i in range(offset, offset + count)]
        while len(nodes) > 1:
            nodes = [merkle.node_hash(nodes[i], nodes[i + 1]) for i in range(0, len(nodes), 2)]
        return nodes[0]

    def leaf(self, index: int) -> bytes:
        return self.perfect(index, 0)

    def root(self, size: int) -> bytes:
        return merkle.tree_root(self.perfect, size)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return merkle.tree_inclusion(self.perfect, index, size)

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        return merkle.tree_consistency(self.perfect, size1, size2)

    # -- writing ------------------------------------------------------------------------

    def add(self, made: Iterable[tuple[int, int, bytes]], *, keep_partial: bool = False) -> None:
        """Store what appending one leaf completed (merkle.CompactRange.append): each
        node of a stored height goes at the end of its tile. Each tile is written before
        the one above it, so a crash leaves the tiles behind the leaves, never ahead."""
        for index, height, node in made:
            if height % HEIGHT:
                continue
            self._put(height // HEIGHT, index, node, keep_partial)

    def _put(self, level: int, index: int, node: bytes, keep_partial: bool) -> None:
        tile, offset = divmod(index, WIDTH)
        before = self.tile(level, tile, offset) if offset else b""
        data = before + node
        target = self.dir / tile_path(level, tile, offset + 1)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data, folder_synced=False)  # (made again when lost)
        self._cache[(level, tile)] = data
        if offset and not keep_partial:  # the narrower partial tile says less than this one
            old = self.dir / tile_path(level, tile, offset)
            old.unlink(missing_ok=True)
            if offset + 1 == WIDTH:
                with contextlib.suppress(OSError):
                    old.parent.rmdir()
                fsync_dir(target.parent)

    def rebuild(self, leaves: Iterable[bytes]) -> None:
        """Make the tiles those of these leaf hashes (all of them, from the first): each
        file written only where it differs, narrower partial tiles removed."""
        wanted = dict(expected(leaves))
        for name, data in wanted.items():
            target = self.dir / name
            try:
                if target.read_bytes() == data:
                    continue
            except FileNotFoundError:
                pass
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, data)
        folder = self.dir / "tile"
        for path in folder.rglob("*") if folder.is_dir() else []:
            if path.is_file() and path.relative_to(self.dir).as_posix() not in wanted:
                path.unlink()
        self._cache.clear()
        self._roots.clear()

    def written(self, level: int, tile: int) -> list[Path]:
        """Every file that holds the tile, full or partial (for the store and verify)."""
        found = []
        full = self.dir / tile_path(level, tile)
        if full.exists():
            found.append(full)
        folder = self.dir / f"{tile_path(level, tile)}.p"
        if folder.is_dir():
            found += sorted((p for p in folder.iterdir() if p.name.isdigit()),
                            key=lambda p: int(p.name))
        return found


def expected(leaves: Iterable[bytes]) -> Iterable[tuple[str, bytes]]:
    """The tiles a ledger of these leaf hashes has, as (path, bytes), from its leaves
    alone: what verify compares the stored tiles with, one tile held at a time per level."""
    edge = merkle.CompactRange()
    open_tiles: dict[int, bytearray] = {}
    for leaf in leaves:
        for index, height, node in edge.append(leaf):
            if height % HEIGHT:
                continue
            level = height // HEIGHT
            tile, offset = divmod(index, WIDTH)
            held = open_tiles.setdefault(level, bytearray())
            held += node
            if offset + 1 == WIDTH:
                yield tile_path(level, tile), bytes(held)
                del open_tiles[level]
    for level, held in sorted(open_tiles.items()):
        size = edge.size >> (HEIGHT * level)
        yield tile_path(level, size // WIDTH, len(held) // HASH), bytes(held)


def remove_all(ledger_dir: Path) -> None:
    """Remove every tile (before they are built again from the leaves)."""
    import shutil

    folder = ledger_dir / "tile"
    if folder.exists():
        shutil.rmtree(folder)
        fsync_dir(ledger_dir)


def exists(ledger_dir: Path) -> bool:
    return (ledger_dir / "tile").is_dir()

