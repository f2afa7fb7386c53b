"""What lies at the end of the ledger's append-only files, or in their place, is judged
for what it is: only the start of one leaf line or one event, as an interrupted append
leaves it, is cut by the next writer; anything else (lines joined by carriage returns, a
folder where the file was) fails verify as a check, never as an error, and no writer
cuts or writes over it. A file among the manifests that is no manifest fails as such,
not as a capture the ledger lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import Custody, chain_ids
from custody.testing.site import SiteServer


def _failed(report: dict) -> list[dict[str, str]]:
    return [c for c in report["checks"] if c["outcome"] == "failed"]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in (root / "manifests").rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", ["leaves", "log.jsonl"])
def test_lines_joined_by_carriage_returns_are_not_cut_as_torn(three: Custody,
                                                              site: SiteServer,
                                                              name: str) -> None:
    path = three.root / "manifests" / "ledger" / name
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    code, report = three.verify()
    assert code == 1
    assert not any("interrupted" in note for note in report["notes"]), report["notes"]
    detail = "\n".join(c["detail"] for c in _failed(report))
    assert "line 1 is no " in detail and "without an end of line" in detail, detail
    # the kept state gone too (a copy of the archive): no writer cuts the file
    shutil.rmtree(three.root / ".custody")
    before = _files(three.root)
    result = three("archive", site.url + "/ru.html")
    assert result.exit_code == 3, result.output
    assert "Nothing is written over it" in result.output
    assert _files(three.root) == before


def test_the_start_of_a_leaf_line_is_still_cut_as_torn(three: Custody,
                                                       site: SiteServer) -> None:
    leaves = three.root / "manifests" / "ledger" / "leaves"
    leaves.chmod(0o644)
    with open(leaves, "ab") as fh:
        fh.write(b"3 2026")
    code, report = three.verify()
    assert code == 0
    assert any("6 bytes of a leaf whose append was interrupted" in n for n in report["notes"])
    three.archive(site.url + "/ru.html")
    assert three.verify()[0] == 0


@pytest.mark.parametrize("tail", [b"4 2026", b"3 20261205T000000Z-a X", b"x" * 300])
def test_bytes_that_cannot_begin_the_next_leaf_fail(three: Custody, tail: bytes) -> None:
    leaves = three.root / "manifests" / "ledger" / "leaves"
    leaves.chmod(0o644)
    with open(leaves, "ab") as fh:
        fh.write(tail)
    code, report = three.verify()
    assert code == 1
    assert any("line 4 is no leaf line" in c["detail"] for c in _failed(report))


@pytest.mark.parametrize("name", ["leaves", "log.jsonl"])
def test_a_folder_in_place_of_a_ledger_file_fails_not_an_error(three: Custody,
                                                               site: SiteServer,
                                                               name: str) -> None:
    path = three.root / "manifests" / "ledger" / name
    path.unlink()
    path.mkdir()
    code, report = three.verify()
    assert code == 1
    assert any(f"manifests/ledger/{name}" in c["subject"] and "unreadable" in c["detail"]
               for c in _failed(report)), _failed(report)
    code, report = three.verify(chain_ids(three)[-1])
    assert code == 1, report
    before = _files(three.root)
    result = three("archive", site.url + "/ru.html")
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert _files(three.root) == before


@pytest.mark.parametrize("content", [b"not json\n", b'{"format": 1}\n', b"[]"])
def test_a_file_among_the_manifests_that_is_no_manifest(three: Custody,
                                                        content: bytes) -> None:
    ids = chain_ids(three)
    (three.root / "manifests" / "notes.json").write_bytes(content)
    code, report = three.verify()
    assert code == 1
    failed = _failed(report)
    assert [c["subject"] for c in failed] == ["manifests/notes.json"], failed
    assert "no manifest" in failed[0]["detail"]
    assert sorted(report["captures"]) == sorted(ids)


@pytest.mark.parametrize("name", ["leaves", "log.jsonl"])
def test_a_whole_last_line_without_its_newline_is_kept(three: Custody, site: SiteServer,
                                                       name: str) -> None:
    """Its newline taken away, a whole signed line is not an append cut short: verify
    fails (and logs nothing over it), and no writer cuts it -- even with the kept state
    gone, as in a copy of the archive."""
    path = three.root / "manifests" / "ledger" / name
    path.chmod(0o644)
    whole = path.read_bytes()
    path.write_bytes(whole[:-1])
    shutil.rmtree(three.root / ".custody")
    code, report = three.verify()
    assert code == 1
    assert any("without its end of line" in c["detail"] for c in _failed(report)), report
    assert path.read_bytes() == whole[:-1]  # verify's own event was not written over it
    before = _files(three.root)
    result = three("archive", site.url + "/ru.html")
    assert result.exit_code == 3, result.output
    assert _files(three.root) == before


@pytest.mark.parametrize("name", ["manifests/ledger/leaves", "manifests/ledger/log.jsonl",
                                  "warc"])
def test_a_symbolic_link_is_no_file_of_the_archive(three: Custody, site: SiteServer,
                                                   tmp_path: Path, name: str) -> None:
    """A file moved out of the archive and linked back: the same bytes, but evidence that
    can change or vanish without the archive changing. verify fails naming it; no writer
    writes through it."""
    if name == "warc":
        name = three.manifest(chain_ids(three)[0])["warc_files"][0]["path"]
    path = three.root / name
    outside = tmp_path / "outside" / path.name
    outside.parent.mkdir()
    shutil.copy2(path, outside)
    path.unlink()
    path.symlink_to(outside)
    code, report = three.verify()
    assert code == 1
    assert any("symbolic link" in c["detail"] and name in c["detail"]
               for c in _failed(report)), _failed(report)
    if "ledger" in name:
        before = outside.read_bytes()
        result = three("archive", site.url + "/ru.html")
        assert result.exit_code == 3 and "symbolic link" in result.output, result.output
        assert outside.read_bytes() == before
