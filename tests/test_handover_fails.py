"""Nothing that fails a check is handed over: bundle and export of a capture that fails
verification now write nothing and exit 1; report writes the report (it says where the
capture fails) and exits 1; a capture that passes is handed over as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Custody, capture_id_of
from custody.testing.site import SiteServer


def _flip(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert old in data, path
    path.chmod(0o644)
    path.write_bytes(data.replace(old, new, 1))


def _manifest_edit(runner: Custody, cid: str) -> None:
    # who archived it, one letter changed
    _flip(runner.root / "manifests" / f"{cid}.json", b"tester@example.org",
          b"tester@example.orh")


def _warc_edit(runner: Custody, cid: str) -> None:
    entry = runner.manifest(cid)["warc_files"][0]
    path = runner.root / entry["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("tamper", [_manifest_edit, _warc_edit], ids=["manifest", "warc"])
def test_what_fails_is_not_handed_over(sealed: Custody, tmp_path: Path, tamper: object) -> None:
    cid = capture_id_of(sealed)
    tamper(sealed, cid)  # type: ignore[operator]
    code, verified = sealed.verify(cid)
    assert code == 1 and verified["status"] == "failed"
    events = (sealed.root / "manifests" / "ledger" / "log.jsonl").read_bytes()

    bundle = sealed("bundle", cid, "-o", str(tmp_path / "bundle"))
    assert bundle.exit_code == 1, bundle.output
    assert "fails verification" in bundle.stderr and "no bundle was written" in bundle.stderr
    assert not (tmp_path / "bundle").exists()

    export = sealed("export", cid, "-o", str(tmp_path / "out.wacz"))
    assert export.exit_code == 1, export.output
    assert "nothing was exported" in export.stderr
    assert not (tmp_path / "out.wacz").exists()

    report = sealed("report", cid, "-o", str(tmp_path / "report.html"))
    assert report.exit_code == 1, report.output
    assert report.stderr.count("\n") == 1 and "the report says where" in report.stderr
    assert "failed" in (tmp_path / "report.html").read_text().lower()
    # the refusals wrote no event; the report, written, did
    after = (sealed.root / "manifests" / "ledger" / "log.jsonl").read_bytes()
    added = [json.loads(line)["event"] for line in after[len(events):].splitlines()]
    assert added == ["reported"]


def test_what_passes_is_handed_over(sealed: Custody, tmp_path: Path) -> None:
    cid = capture_id_of(sealed)
    sealed.ok("bundle", cid, "-o", str(tmp_path / "bundle"))
    sealed.ok("export", cid, "-o", str(tmp_path / "out.wacz"))
    sealed.ok("report", cid, "-o", str(tmp_path / "report.html"))
    assert (tmp_path / "bundle" / "VERIFY.md").is_file() and (tmp_path / "out.wacz").is_file()


def test_without_custody_db_a_capture_still_verifies_and_goes_out(sealed: Custody,
                                                                  tmp_path: Path) -> None:
    """custody.db is derived: without it, verify ID reads the custody log itself (each
    event held to the line before it in the log, not to the capture's event before it),
    says it could not check the rows, and fails nothing; the bundle is written."""
    cid = capture_id_of(sealed)
    sealed.ok("report", cid, "-o", str(tmp_path / "first.html"))  # one more event about it
    (sealed.root / "custody.db").unlink()
    code, report = sealed.verify(cid)
    assert code == 6 and report["status"] == "incomplete", report
    assert not [c for c in report["checks"] if c["outcome"] == "failed"]
    sealed.ok("bundle", cid, "-o", str(tmp_path / "bundle"))


def test_a_case_with_a_failing_capture_is_not_exported(sealed: Custody, site: SiteServer,
                                                       tmp_path: Path) -> None:
    """Every failing capture of the case named (not the first the export met), and no
    package, not even a partial one."""
    first = capture_id_of(sealed)
    second = sealed.archive(site.url + "/en.html")["capture_id"]
    sealed.ok("case", "create", "Case A")
    sealed.ok("case", "add", "Case A", first, second)
    _manifest_edit(sealed, first)
    out = tmp_path / "package"
    refused = sealed("case", "export", "Case A", "-o", str(out))
    assert refused.exit_code == 1, refused.output
    assert first in refused.stderr and "no package was written" in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob(".package*"))


def test_an_unreadable_checkpoint_is_a_failure_not_a_traceback(sealed: Custody,
                                                               tmp_path: Path) -> None:
    cid = capture_id_of(sealed)
    checkpoint = sealed.root / "manifests" / "ledger" / "checkpoint"
    checkpoint.chmod(0o644)
    checkpoint.write_text("x\n")
    bundle = sealed("bundle", cid, "-o", str(tmp_path / "bundle"))
    assert bundle.exit_code == 1 and bundle.stderr.startswith("custody: error:")
    assert bundle.stderr.count("\n") == 1 and not (tmp_path / "bundle").exists()
    report = sealed("report", cid, "-o", str(tmp_path / "report.html"))
    assert report.exit_code == 1 and report.stderr.count("\n") == 1
    assert (tmp_path / "report.html").exists()


def _every_reader_fails(runner: Custody, cid: str, tmp_path: Path, says: str) -> None:
    """bundle, export, report and show of the capture: exit 1, one line saying ``says``."""
    for args in (("bundle", cid, "-o", str(tmp_path / "b")),
                 ("export", cid, "-o", str(tmp_path / "e.wacz")),
                 ("report", cid, "-o", str(tmp_path / "r.html")), ("show", cid)):
        result = runner(*args)
        assert result.exit_code == 1, (args, result.output)
        assert says in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_a_manifest_that_is_no_longer_json_is_a_failed_check(sealed: Custody,
                                                             tmp_path: Path) -> None:
    cid = capture_id_of(sealed)
    path = sealed.root / "manifests" / f"{cid}.json"
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:100])
    _every_reader_fails(sealed, cid, tmp_path, "changed since it was sealed")
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]  # (the archive) nothing else


def test_a_removed_manifest_the_ledger_names_is_a_failed_check(sealed: Custody,
                                                               tmp_path: Path) -> None:
    cid = capture_id_of(sealed)
    (sealed.root / "manifests" / f"{cid}.json").unlink()
    _every_reader_fails(sealed, cid, tmp_path,
                        "the ledger names this capture, and its manifest is gone")
    assert sealed.verify(cid)[0] == 1  # as verify says
    unknown = sealed("show", "20261121T101500Z-1a2b3c4d")  # never sealed: still "no such"
    assert unknown.exit_code == 8
