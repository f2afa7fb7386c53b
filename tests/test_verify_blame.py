"""verify names what changed, not what it disagrees with: a leaves line changed is not
a changed manifest (the tiles, committed by the signed checkpoints, say which), and one
changed tile byte fails the tiles, not every checkpoint signed after it."""

from __future__ import annotations

from pathlib import Path

from conftest import Custody, chain_ids


def _failed(runner: Custody) -> list[dict[str, str]]:
    code, report = runner.verify()
    assert code == 1
    return [c for c in report["checks"] if c["outcome"] == "failed"]


def _writable(path: Path) -> Path:
    path.chmod(0o644)
    return path


def test_a_changed_leaves_line_is_named_not_the_manifest(three: Custody) -> None:
    leaves = _writable(three.root / "manifests" / "ledger" / "leaves")
    lines = leaves.read_bytes().splitlines(keepends=True)
    index, cid, digest = lines[1].split()
    lines[1] = b" ".join([index, cid, bytes(reversed(digest))]) + b"\n"
    leaves.write_bytes(b"".join(lines))
    ledger = [c for c in _failed(three) if c["check"] == "ledger"]
    assert len(ledger) == 1 and "leaves line" in ledger[0]["detail"]
    assert "manifest of" not in ledger[0]["detail"]


def test_a_changed_manifest_is_named(three: Custody) -> None:
    cid = chain_ids(three)[1]
    path = _writable(three.root / "manifests" / f"{cid}.json")
    path.write_bytes(path.read_bytes().replace(b"tester@example.org", b"tester@example.orh"))
    ledger = [c for c in _failed(three) if c["check"] == "ledger"]
    assert len(ledger) == 1
    assert f"manifest of {cid} changed since it entered the ledger" in ledger[0]["detail"]


def test_one_changed_tile_byte_fails_the_tiles_not_every_checkpoint(three: Custody) -> None:
    tiles = sorted(p for p in (three.root / "manifests" / "ledger" / "tile").rglob("*")
                   if p.is_file())
    assert tiles
    tile = _writable(tiles[-1])
    data = bytearray(tile.read_bytes())
    data[5] ^= 1  # the first leaf's hash: every later proof goes through it
    tile.write_bytes(bytes(data))
    failed = _failed(three)
    assert [c["check"] for c in failed] == ["tiles"], failed
    for ids in ([cid] for cid in chain_ids(three)), [chain_ids(three)]:
        for named in ids:  # each capture alone, and all at once: their proofs hold
            code, report = three.verify(*named)
            failed = [c for c in report["checks"] if c["outcome"] == "failed"]
            assert code == 1 and [c["check"] for c in failed] == ["tiles"], failed
