"""The ledger's tiles checked at a size past what a few captures make: verify's pass over
the leaves compares every stored tile with those the leaves make, however many there are
(it once judged stored tiles against only the last 64 it had made, and failed every
archive past 16,000 captures)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from custody.core.archive import Archive
from custody.seal.tiles import Tiles
from custody.verify.tree import check_tree

LEAVES = 300 * 256 + 17  # 300 full tiles at level 0, one partial, and their parents


def _archive(tmp_path: Path) -> Archive:
    archive = Archive.create(tmp_path / "evidence")
    ledger = archive.manifests_dir / "ledger"
    ledger.mkdir(parents=True, exist_ok=True)
    hashes = [hashlib.sha256(b"\x00" + str(i).encode()).digest() for i in range(LEAVES)]
    (ledger / "leaves").write_text("".join(
        f"{i} 20260101T000000Z-{i:08x} {h.hex()}\n" for i, h in enumerate(hashes)))
    Tiles(ledger).rebuild(hashes)
    return archive


def test_every_tile_of_a_large_ledger_is_its_leaves(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    tree = check_tree(archive, [], frozenset())
    assert tree["size"] == LEAVES and tree["tiles"] == [], tree["tiles"][:3]


def test_a_stray_or_changed_tile_is_named(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    folder = archive.manifests_dir / "ledger" / "tile" / "0"
    first = folder / "000"
    data = bytearray(first.read_bytes())
    data[5] ^= 1
    first.write_bytes(bytes(data))
    (folder / "999").write_bytes(b"\x00" * 8192)  # a full tile no leaves make
    tree = check_tree(archive, [], frozenset())
    problems = " ".join(tree["tiles"])
    assert "tile/0/000 differs" in problems and "tile/0/999 is no tile" in problems
    assert len(tree["tiles"]) == 2, tree["tiles"]
