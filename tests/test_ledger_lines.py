"""What the ledger's files hold is accounted for: a checkpoint a seal signed cannot go
unseen (the custody log records it), a checkpoint an interrupted seal left is completed,
not re-signed, before anything is handed over, and a leaves line that is no capture's
leaf (a copy, or not a leaf line) is named as such, not blamed on a capture."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import Custody, chain_ids
from custody.testing.site import SiteServer


def _failed(report: dict) -> list[dict[str, str]]:
    return [c for c in report["checks"] if c["outcome"] == "failed"]


def _append(path: Path, line: bytes) -> None:
    path.chmod(0o644)
    with open(path, "ab") as fh:
        fh.write(line)


def test_removed_checkpoints_fail_verify_whole_and_named(three: Custody) -> None:
    shutil.rmtree(three.root / "manifests" / "ledger" / "checkpoints")
    code, report = three.verify()
    missing = [c for c in _failed(report) if c["check"] == "checkpoint"]
    assert code == 1
    assert {c["subject"] for c in missing} >= {"manifests/ledger/checkpoints/2",
                                            "manifests/ledger/checkpoints/3"}
    assert all("custody log records this checkpoint" in c["detail"] for c in missing)
    code, report = three.verify(chain_ids(three)[-1])
    assert code == 1
    assert {c["subject"] for c in _failed(report)} == {"manifests/ledger/checkpoints/3"}


def test_a_changed_checkpoint_of_the_history_fails(three: Custody) -> None:
    path = three.root / "manifests" / "ledger" / "checkpoints" / "2"
    path.chmod(0o644)
    path.write_text(path.read_text() + "\n")
    code, report = three.verify()
    assert code == 1
    assert any(c["subject"] == "manifests/ledger/checkpoints/2" and "changed since" in c["detail"]
               for c in _failed(report))


def test_an_interrupted_checkpoint_is_completed_before_a_handover(three: Custody,
                                                                  tmp_path: Path) -> None:
    ledger = three.root / "manifests" / "ledger"
    signed = (ledger / "checkpoint").read_bytes()
    (ledger / "checkpoint").unlink()
    (ledger / "checkpoint.sig").unlink()
    code, report = three.verify()
    assert code == 0 and any("interrupted seal" in n for n in report["notes"])
    cid = chain_ids(three)[-1]
    three.ok("bundle", cid, "-o", str(tmp_path / "bundle"))
    # the checkpoint the seal signed (the log recorded its bytes) is kept, not re-signed
    assert (ledger / "checkpoint").read_bytes() == signed
    assert (ledger / "checkpoints" / "3").read_bytes() == signed
    assert (ledger / "checkpoint.sig").exists()
    (ledger / "checkpoint").unlink()
    (ledger / "checkpoint.sig").unlink()
    three.ok("export", cid, "-o", str(tmp_path / "one.wacz"))
    assert (ledger / "checkpoint").read_bytes() == signed
    assert three.verify()[0] == 0


def test_a_repeated_leaves_line_is_named_and_no_capture_blamed(three: Custody) -> None:
    leaves = three.root / "manifests" / "ledger" / "leaves"
    _append(leaves, leaves.read_bytes().splitlines(keepends=True)[-1])
    code, report = three.verify()
    failed = _failed(report)
    assert code == 1
    assert sorted(report["captures"]) == sorted(chain_ids(three))
    assert any("line 4 is a copy of line 3" in c["detail"] for c in failed), failed
    assert not [c for c in failed if c["check"] in ("chain", "manifest")], failed
    assert not [c for c in failed if "reordered" in c["detail"]], failed
    for cid in chain_ids(three):  # each capture alone: the ledger's damage, exit 1
        code, report = three.verify(cid)
        assert code == 1
        assert [c["check"] for c in _failed(report)] == ["ledger"], report


def test_a_line_that_is_no_leaf_is_named_not_taken_for_a_capture(three: Custody) -> None:
    leaves = three.root / "manifests" / "ledger" / "leaves"
    _append(leaves, b"garbage line here\n")
    code, report = three.verify()
    failed = _failed(report)
    assert code == 1
    assert any("line 4 is not a leaf line" in c["detail"] for c in failed), failed
    assert not [c for c in failed if c["check"] == "manifest"], failed
    result = three("verify", chain_ids(three)[0])
    assert result.exit_code == 1, result.output
    assert "damaged at line 4" in result.output and "sealed" not in result.output


def test_verify_id_fails_when_the_leaf_before_it_is_damaged(three: Custody) -> None:
    leaves = three.root / "manifests" / "ledger" / "leaves"
    leaves.chmod(0o644)
    lines = leaves.read_bytes().splitlines(keepends=True)
    lines[1] = b"x" + lines[1][1:]  # leaf 1's number
    leaves.write_bytes(b"".join(lines))
    code, report = three.verify(chain_ids(three)[2])
    assert code == 1
    assert any(c["check"] == "chain" and "leaf 1, the one before it" in c["detail"]
               for c in _failed(report)), report


def test_a_narrower_partial_tile_is_kept_and_a_forged_one_fails(three: Custody) -> None:
    """A store keeps the partial tiles of earlier sizes beside the newest (000.p/2 beside
    000.p/3): each is the prefix of the newest, and verify holds it to that."""
    folder = three.root / "manifests" / "ledger" / "tile" / "0" / "000.p"
    newest = folder / "3"
    narrower = folder / "2"
    narrower.write_bytes(newest.read_bytes()[:64])
    assert three.verify()[0] == 0
    narrower.write_bytes(bytes([newest.read_bytes()[0] ^ 1]) + newest.read_bytes()[1:64])
    code, report = three.verify()
    assert code == 1
    assert [c["detail"] for c in _failed(report)] == \
        ["tile/0/000.p/2 is no tile of these leaves"]


def test_the_custody_log_read_in_many_ranges(three: Custody,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A log too long for one job is read in ranges, each job beginning mid-file with the
    line before it: the same verdicts as one range, a changed line in a middle range
    named by its number, and a line cut from the middle found where it was cut."""
    from functools import partial

    from custody.verify import log_check, whole

    monkeypatch.setattr(whole, "plan_log", partial(log_check.plan_log, range_bytes=600))
    log = three.root / "manifests" / "ledger" / "log.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    assert len(lines) >= 4
    from custody.core.archive import Archive

    assert len(whole.plan_log(Archive.open(three.root)).ranges) >= 3
    assert three.verify()[0] == 0
    log.chmod(0o644)
    changed = lines.copy()
    changed[2] = changed[2].replace(b'"seq":3', b'"seq":33')
    log.write_bytes(b"".join(changed))
    code, report = three.verify()
    assert code == 1
    assert any("line 3: numbered 33, is 3" in c["detail"] for c in _failed(report)), report
    log.write_bytes(b"".join(lines[:2] + lines[3:]))
    code, report = three.verify()
    assert code == 1
    assert any("line 3: numbered 4, is 3" in c["detail"] for c in _failed(report)), report


def _rewrite(path: Path, change: object) -> None:
    path.chmod(0o644)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(change(lines)))  # type: ignore[operator]


@pytest.fixture
def five(three: Custody, site: SiteServer) -> Custody:
    three.archive(site.url + "/ru.html", extra=("--no-requisites",))
    three.archive(site.url + "/en.html", extra=("--no-requisites",))
    assert len(chain_ids(three)) == 5
    return three


@pytest.mark.parametrize("damage", ["copied in place", "inserted", "swapped", "removed"])
def test_damaged_leaves_lines_leave_every_capture_checked(five: Custody, damage: str) -> None:
    """Whatever is done to the leaves file's lines, every capture is still checked (a WARC
    byte changed after the damage is found), counted once, and none is blamed for lines
    out of place: the ledger check names them."""
    ids = chain_ids(five)
    changes = {
        "copied in place": lambda lines: [*lines[:2], lines[1], *lines[2:]],
        "inserted": lambda lines: [*lines[:2], b"not a leaf\n", *lines[2:]],
        "swapped": lambda lines: [lines[0], lines[2], lines[1], *lines[3:]],
        "removed": lambda lines: lines[:1] + lines[2:],
    }
    _rewrite(five.root / "manifests" / "ledger" / "leaves", changes[damage])
    last = five.manifest(ids[-1])["warc_files"][0]["path"]
    warc = five.root / last
    warc.chmod(0o644)
    with open(warc, "ab") as fh:
        fh.write(b"x")
    code, report = five.verify()
    failed = _failed(report)
    assert code == 1
    assert sorted(report["captures"]) == sorted(ids), report["captures"]
    assert any(c["check"] == "warc-file" and last in c["subject"] for c in failed), failed
    assert any(c["check"] == "ledger" and c["subject"] == "manifests/ledger/leaves"
               for c in failed), failed
    blamed = {c["subject"] for c in failed if c["check"] in ("chain", "manifest", "signature")}
    if damage == "removed":  # the capture whose leaf was removed is sealed, not in the ledger
        assert blamed <= {ids[1]}, failed
    else:
        assert not blamed, failed


def test_a_leaves_file_rewritten_with_other_line_ends_fails(three: Custody) -> None:
    _rewrite(three.root / "manifests" / "ledger" / "leaves",
             lambda lines: [line.replace(b"\n", b"\r\n") for line in lines])
    code, report = three.verify()
    assert code == 1
    assert any("not written as custody writes a leaf line" in c["detail"]
               for c in _failed(report)), report


@pytest.mark.parametrize("state", ["older checkpoint", "signature missing"])
def test_a_checkpoint_verify_fails_is_not_repaired_by_a_handover(three: Custody,
                                                                 tmp_path: Path,
                                                                 state: str) -> None:
    """Only what verify calls an interrupted seal is completed before a handover; a
    checkpoint rolled back to an older one, or whose signature is gone, is damage: the
    handover refuses, and the files stay as they were found."""
    ledger = three.root / "manifests" / "ledger"
    (ledger / "checkpoint").chmod(0o644)
    if state == "older checkpoint":
        shutil.copy(ledger / "checkpoints" / "2", ledger / "checkpoint")
    else:
        (ledger / "checkpoint.sig").unlink()
    found = {p.name: p.read_bytes() for p in ledger.iterdir() if p.is_file()}
    assert three.verify()[0] == 1
    cid = chain_ids(three)[-1]
    for args in (("bundle", cid, "-o", str(tmp_path / "b")),
                 ("export", cid, "-o", str(tmp_path / "e.wacz"))):
        result = three(*args)
        assert result.exit_code == 1, (args, result.output)
    after = {p.name: p.read_bytes() for p in ledger.iterdir() if p.is_file()}
    assert {n: after[n] for n in ("checkpoint",)} == {n: found[n] for n in ("checkpoint",)}
    assert ("checkpoint.sig" in after) == ("checkpoint.sig" in found)


def test_files_that_are_no_part_of_the_ledger_are_noted(three: Custody) -> None:
    ledger = three.root / "manifests" / "ledger"
    (ledger / "stray").write_text("x")
    (ledger / "checkpoints" / "junk").write_text("x")
    (ledger / "checkpoints" / ".9.tmp").write_text("x")
    (three.root / "manifests" / "sub").mkdir()
    code, report = three.verify()
    assert code == 0
    notes = "\n".join(report["notes"])
    assert "manifests/ledger/stray: no part of the ledger" in notes
    assert "manifests/ledger/checkpoints/junk: no part of the ledger" in notes
    assert "manifests/ledger/checkpoints/.9.tmp: left by an interrupted write" in notes
    assert "manifests/sub/: a folder that is no part of the evidence" in notes


def test_a_leaf_line_for_no_capture_fails_verify_id_with_exit_1(three: Custody) -> None:
    _append(three.root / "manifests" / "ledger" / "leaves",
            b"3 20261205T000000Z-deadbeef " + b"a" * 64 + b"\n")
    for cid in chain_ids(three):
        result = three("verify", cid)
        assert result.exit_code == 1, result.output
        assert "20261205T000000Z-deadbeef" in result.output


def test_a_capture_named_twice_is_counted_once(three: Custody) -> None:
    leaves = three.root / "manifests" / "ledger" / "leaves"
    first = leaves.read_bytes().splitlines()[0].split()
    _append(leaves, b" ".join([b"3", *first[1:]]) + b"\n")  # renumbered: not a plain copy
    code, report = three.verify()
    assert code == 1
    assert sorted(report["captures"]) == sorted(chain_ids(three))
    assert "FAILED: 3 captures" in three("verify").output


def test_a_checkpoint_gone_from_the_history_too_is_not_signed_again(three: Custody,
                                                                    tmp_path: Path) -> None:
    """No checkpoint copy and none in the history for the ledger's size: not a seal
    interrupted (the history's is written first), so a handover does not sign one over
    the removal."""
    ledger = three.root / "manifests" / "ledger"
    for name in ("checkpoint", "checkpoint.sig", "checkpoints/3"):
        (ledger / name).unlink()
    result = three("bundle", chain_ids(three)[-1], "-o", str(tmp_path / "b"))
    assert result.exit_code == 1, result.output
    assert not (ledger / "checkpoint").exists()
    assert not (ledger / "checkpoints" / "3").exists()


def test_a_folder_where_a_checkpoint_was_fails_not_an_error(three: Custody) -> None:
    path = three.root / "manifests" / "ledger" / "checkpoints" / "3"
    path.unlink()
    path.mkdir()
    assert three.verify()[0] == 1
    code, report = three.verify(chain_ids(three)[-1])
    assert code == 1
    assert {c["subject"] for c in _failed(report)} == {"manifests/ledger/checkpoints/3"}


def test_verify_id_proves_against_the_interrupted_seals_checkpoint(three: Custody) -> None:
    """The checkpoint copy and its SSH signature not written yet (a seal interrupted after
    the history's checkpoint): whole verify passes with a note, and so does verify ID,
    proving inclusion against the history's checkpoint."""
    ledger = three.root / "manifests" / "ledger"
    (ledger / "checkpoint").unlink()
    (ledger / "checkpoint.sig").unlink()
    for ids in ((), (chain_ids(three)[1],)):
        code, report = three.verify(*ids)
        assert code == 0, report
        assert any("interrupted seal" in n for n in report["notes"])
