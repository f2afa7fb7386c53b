"""Every byte under manifests/ is checked, or is not there: a byte changed anywhere in
any file of a sealed archive (manifests, signatures, tokens, SHA256SUMS, the ledger's
leaves, tiles, checkpoints and their tokens, the custody log and its signed head, the
ledger's name) fails verify; and the custody log's end is held by what is signed, so
events cut off its end fail too."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from conftest import Custody


def copy_of(template: Custody, tmp_path: Path, name: str) -> Custody:
    root = tmp_path / name
    shutil.copytree(template.root, root)
    return Custody(root, template.key)


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def files_under_manifests(root: Path) -> list[Path]:
    return sorted(p for p in (root / "manifests").rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", ["stamped", "sealed"])  # timestamped; without a TSA
def test_a_byte_changed_in_any_file_under_manifests_fails(request: pytest.FixtureRequest,
                                                          tmp_path: Path, kind: str) -> None:
    stamped: Custody = request.getfixturevalue(kind)
    assert stamped.verify()[0] == 0
    seed = random.randrange(1 << 32)  # the places differ from run to run: named below
    chance = random.Random(seed)
    passed = []
    for path in files_under_manifests(stamped.root):
        relative = path.relative_to(stamped.root)
        size = path.stat().st_size
        for at in sorted({0, size - 1, *(chance.randrange(size) for _ in range(3))}):
            copy = copy_of(stamped, tmp_path, f"c{len(passed)}-{at}")
            flip(copy.root / relative, at)
            code, _ = copy.verify()
            if code != 1:
                passed.append(f"{relative}@{at} ({code})")
            shutil.rmtree(copy.root)
    assert not passed, (seed, passed)


def log_lines(runner: Custody) -> list[str]:
    return (runner.root / "manifests/ledger/log.jsonl").read_text().splitlines(keepends=True)


@pytest.mark.parametrize("cut", ["last event", "from an imported event", "every verify"])
def test_events_cut_off_the_log_s_end_fail(stamped: Custody, cut: str) -> None:
    from test_import import WARC

    stamped.ok("import", str(WARC))
    stamped.ok("verify")
    lines = log_lines(stamped)
    events = [json.loads(line)["event"] for line in lines]
    keep = {"last event": len(lines) - 1,
            "from an imported event": events.index("imported"),
            "every verify": events.index("verified")}[cut]
    (stamped.root / "manifests/ledger/log.jsonl").write_text("".join(lines[:keep]))
    code, report = stamped.verify()
    assert code == 1
    assert any(c["check"] == "log" and c["outcome"] == "failed" and "removed" in c["detail"]
               for c in report["checks"]), report["checks"]


def test_the_signed_log_head_removed_fails(stamped: Custody) -> None:
    (stamped.root / "manifests/ledger/log.head").unlink()
    code, report = stamped.verify()
    assert code == 1
    assert any("log.head" in c["subject"] and c["outcome"] == "failed"
               for c in report["checks"])


def test_a_file_dropped_beside_the_manifests_is_named(sealed: Custody) -> None:
    (sealed.root / "manifests" / "README.md").write_text("these captures are genuine\n")
    code, report = sealed.verify()
    assert code == 0
    assert any(n.startswith("manifests/README.md: no manifest seals it") for n in report["notes"])
