"""Every byte under manifests/ is checked, or is not there: a byte changed anywhere in
any file of a sealed archive (manifests, signatures, tokens, SHA256SUMS, the ledger's
leaves, tiles, checkpoints and their tokens, the custody log and its signed head, the
ledger's name) fails verify; and the custody log's end is held by what is signed, so
events cut off its end fail too."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _renamed_in_documents(text: str) -> str:
    """The first document's "record_id", its name changed (as one flipped bit does)."""
    at = text.index('"record_id"', text.index('"documents"'))
    return text[:at] + '"record_ie"' + text[at + len('"record_id"'):]


@pytest.mark.parametrize("change", [
    _renamed_in_documents,
    lambda text: text.replace('"documents": [', '"documents": [7, ', 1),  # not a document
    lambda text: text.replace('"records": [', '"records": [[], ', 1),  # not a record
], ids=["a name", "a number", "a list"])
def test_a_manifest_not_shaped_as_custody_writes_fails_not_crashes(
        stamped: Custody, change: Callable[[str], str]) -> None:
    """A byte flipped in a name (found by the test above, once in many runs) made verify
    end in a traceback: each such manifest fails, and the rest is checked."""
    path = sorted((stamped.root / "manifests").glob("*.json"))[0]
    text = path.read_text()
    path.write_text(change(text))
    assert path.read_text() != text
    code, report = stamped.verify()
    assert code == 1
    failed = {(c["check"], c["capture_id"]) for c in report["checks"]
              if c["outcome"] == "failed"}
    assert ("signature", path.stem) in failed or ("manifest", path.stem) in failed
    others = {p.stem for p in (stamped.root / "manifests").glob("*.json")} - {path.stem}
    assert all(c["outcome"] == "passed" for c in report["checks"]
               if c["capture_id"] in others and c["check"] != "chain"), report["checks"]


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


@pytest.mark.parametrize("cut", ["log", "leaves"])
def test_nothing_is_signed_over_a_cut(sealed: Custody, site: Any, cut: str) -> None:
    """Events cut off the custody log's end, or leaves off the ledger's: verify fails, and
    goes on failing -- neither it (its `verified` event) nor the next capture signs a new
    head or checkpoint over what is left."""
    name = {"log": "log.jsonl", "leaves": "leaves"}[cut]
    path = sealed.root / "manifests" / "ledger" / name
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))
    for _ in range(2):
        code, _report = sealed.verify()
        assert code == 1
    refused = sealed("archive", site.url + "/en.html")
    assert refused.exit_code == 3, refused.output
    assert "Nothing is" in refused.output and "Traceback" not in refused.output
    assert sealed.verify()[0] == 1


def _leaf_lines(custody: Custody) -> tuple[Path, list[bytes]]:
    path = custody.root / "manifests" / "ledger" / "leaves"
    return path, path.read_bytes().splitlines(keepends=True)


@pytest.mark.parametrize("change", ["leaf hash", "leaves swapped", "its checkpoint"])
def test_verify_id_sees_its_own_ledger_entries_changed(stamped: Custody, change: str) -> None:
    """What verify without ids fails about a capture's place in the ledger, verify ID of
    that capture fails too: its leaves line, and the checkpoint signed as it entered."""
    path, lines = _leaf_lines(stamped)
    number, cid, digest = lines[1].decode().split()
    if change == "leaf hash":
        flipped = ("0" if digest[10] != "0" else "1")
        lines[1] = f"{number} {cid} {digest[:10]}{flipped}{digest[11:]}\n".encode()
        path.write_bytes(b"".join(lines))
    elif change == "leaves swapped":
        lines[0], lines[1] = lines[1], lines[0]
        path.write_bytes(b"".join(lines))
    else:
        own = stamped.root / "manifests" / "ledger" / "checkpoints" / "2"
        data = bytearray(own.read_bytes())
        data[len(data) // 3] ^= 0x01
        own.write_bytes(bytes(data))
    assert stamped.verify()[0] == 1
    code, report = stamped.verify(cid)
    assert code == 1, [c for c in report["checks"] if c["outcome"] != "passed"]


def test_verify_id_of_a_removed_capture_fails(stamped: Custody) -> None:
    """A capture the ledger names, its files deleted, is a failure (exit 1), not a capture
    that never was (exit 8)."""
    _, lines = _leaf_lines(stamped)
    cid = lines[1].decode().split()[1]
    for path in stamped.root.rglob(f"{cid}*"):
        path.unlink()
    code, report = stamped.verify(cid)
    assert code == 1
    assert any("the ledger names this capture" in c["detail"] for c in report["checks"])
    assert stamped("verify", "20200101T000000Z-00000000").exit_code == 8


def test_a_capture_whose_event_was_removed_is_named(stamped: Custody) -> None:
    log = stamped.root / "manifests" / "ledger" / "log.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    captured = [i for i, line in enumerate(lines) if b'"event":"captured"' in line]
    cid = json.loads(lines[captured[1]])["details"]["capture_id"]
    del lines[captured[1]]
    log.write_bytes(b"".join(lines))
    code, report = stamped.verify()
    assert code == 1
    assert any(c["capture_id"] == cid and "no `captured` event" in c["detail"]
               for c in report["checks"] if c["outcome"] == "failed"), report["checks"]


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_an_empty_line_put_into_the_log_fails(stamped: Custody, where: str) -> None:
    """custody writes no empty line: one put anywhere into the custody log is named."""
    lines = log_lines(stamped)
    at = {"first": 0, "middle": len(lines) // 2, "last": len(lines)}[where]
    (stamped.root / "manifests/ledger/log.jsonl").write_text(
        "".join([*lines[:at], "\n", *lines[at:]]))
    code, report = stamped.verify()
    assert code == 1, report["checks"]
    assert any(c["check"] == "log" and c["outcome"] == "failed" and "empty line" in c["detail"]
               for c in report["checks"]), report["checks"]
