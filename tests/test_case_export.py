"""A case's package: every command of its VERIFY.md passes, run as written with standard
tools alone (ssh-keygen, openssl, sha256sum, python3, warcio), where custody cannot be
imported; `custody check` passes on its WARC files; a changed byte fails; notes of
another case stay out; hostile text stays text in the case report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import Custody, chain_ids
from custody.annotate import (
    add_note,
    add_to_case,
    create_case,
    retract_note,
    tag_capture,
)
from custody.core import keyfile
from custody.core.archive import Archive
from custody.core.errors import UsageError
from custody.export.case import write_case_package
from custody.seal.bundle import verify_commands
from test_annotate import signer
from test_evidence import _clean_env_tools


def export(runner: Custody, ref: str, out: Path) -> None:
    write_case_package(Archive.open(runner.root), ref, out,
                       key=keyfile.load_key(runner.key, None), principal="tester@example.org")


def run_verify_md(package: Path, env: dict[str, str]) -> list[tuple[str, int, str]]:
    results = []
    for command in verify_commands((package / "VERIFY.md").read_text()):
        proc = subprocess.run(["/bin/bash", "-c", command], cwd=package, env=env,
                              capture_output=True, text=True)
        results.append((command, proc.returncode, proc.stdout + proc.stderr))
    return results


@pytest.fixture
def case_of_two(stamped: Custody) -> Custody:
    arch, me = Archive.open(stamped.root), signer(stamped, "alice")
    en, fa, ru = chain_ids(stamped)
    create_case(arch, "Zahedan", signer=me, description="Statements on the killings")
    create_case(arch, "Other matter", signer=me)
    add_to_case(arch, "Zahedan", [en, fa], signer=me)
    add_to_case(arch, "Other matter", [en, ru], signer=me)
    tag_capture(arch, en, "weapons", signer=me)
    add_note(arch, en, "Names the unit.", signer=me, quote="monstrous scale of the massacre",
             case="Zahedan")
    add_note(arch, en, "Secret of the other matter.", signer=me, case="Other matter")
    withdrawn = add_note(arch, fa, "A first reading.", signer=me)
    retract_note(arch, withdrawn.id, reason="misread", signer=me)
    return stamped


def test_the_package_checks_with_standard_tools_alone(case_of_two: Custody,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "package"
    export(case_of_two, "Zahedan", out)
    env = _clean_env_tools(tmp_path)
    assert subprocess.run(["python3", "-I", "-c", "import custody"], env=env,
                          capture_output=True).returncode != 0
    results = run_verify_md(out, env)
    assert len(results) >= 8
    assert not [r for r in results if r[1]], [r for r in results if r[1]]
    said = "\n".join(r[2] for r in results)
    assert 'Good "custody-manifest" signature for tester@example.org' in said
    assert "every event: Signature Verified Successfully" in said
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "custody-case-package/1"
    assert [c["verified_at_export"] for c in manifest["captures"]] == ["passed", "passed"]
    for warc in out.glob("captures/*/archive/**/*.warc.gz"):
        case_of_two.ok("check", str(warc))
    events = [json.loads(line) for line in (out / "events" / "events.jsonl").read_text()
              .splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("captured") == 2 and "case-created" in kinds and "tagged" in kinds
    assert kinds.count("note-added") == 2 and "note-retracted" in kinds
    assert all(e["details"].get("case_id") in (None, manifest["case"]["id"]) for e in events)
    places = json.loads((out / "events" / "places.json").read_text())
    log = (case_of_two.root / "manifests" / "ledger" / "log.jsonl").read_bytes()
    for place, event in zip(places["events"], events, strict=True):
        line = log[place["offset"]:place["offset"] + place["length"]]
        assert json.loads(line) == event  # the line is where the package says it is
    report = (out / "report.html").read_text()
    assert "Names the unit." in report and "monstrous scale of the massacre" in report
    assert "Retracted" in report and "misread" in report
    assert "Secret of the other matter" not in report
    assert "Secret of the other matter" not in (out / "events" / "events.jsonl").read_text()


@pytest.mark.parametrize("target", ["event", "manifest", "bundle", "head"])
def test_a_changed_byte_fails_the_commands(case_of_two: Custody, tmp_path: Path,
                                           target: str) -> None:
    out = tmp_path / "package"
    export(case_of_two, "Zahedan", out)
    if target == "event":
        path = out / "events" / "events.jsonl"
        path.write_bytes(path.read_bytes().replace(b"Names the unit.", b"Names no unit."))
    elif target == "manifest":
        path = out / "manifest.json"
        path.write_bytes(path.read_bytes().replace(b'"Zahedan"', b'"Zahedan!"', 1))
    elif target == "bundle":
        path = next(out.glob("captures/*/manifest.json"))
        path.write_bytes(path.read_bytes().replace(b"\n", b"\n ", 1))
    else:
        path = out / "events" / "log.head.msg"
        path.write_bytes(path.read_bytes()[:-1] + b"!")
    results = run_verify_md(out, _clean_env_tools(tmp_path))
    failed = [command for command, code, _ in results if code]
    assert failed, target
    if target == "event":
        assert any(c.startswith("python3 check_events.py") for c in failed)
        assert any(c.startswith("sha256sum") for c in failed)
    if target == "manifest":
        assert any(c.startswith("ssh-keygen") for c in failed)
    if target == "head":
        assert any("log.head" in c for c in failed)


def test_hostile_text_stays_text_in_the_case_report(stamped: Custody, tmp_path: Path) -> None:
    arch, me = Archive.open(stamped.root), signer(stamped)
    en = chain_ids(stamped)[0]
    create_case(arch, "<script>alert(1)</script> & co", signer=me)
    add_to_case(arch, "<script>alert(1)</script> & co", [en], signer=me)
    add_note(arch, en, '<img src=x onerror="alert(2)"> "quoted"', signer=me)
    out = tmp_path / "package"
    export(stamped, "<script>alert(1)</script> & co", out)
    report = (out / "report.html").read_text()
    assert "<script>" not in report and "<img" not in report
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in report
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in report
    # VERIFY.md shows the name as a code span, which no Markdown viewer reads as HTML
    verify_md = (out / "VERIFY.md").read_text()
    assert "Case: ` <script>alert(1)</script> & co `" in verify_md


def test_an_empty_case_or_a_used_folder_is_refused(stamped: Custody, tmp_path: Path) -> None:
    arch, me = Archive.open(stamped.root), signer(stamped)
    create_case(arch, "Empty", signer=me)
    with pytest.raises(UsageError, match="no capture"):
        export(stamped, "Empty", tmp_path / "a")
    add_to_case(arch, "Empty", [chain_ids(stamped)[0]], signer=me)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        export(stamped, "Empty", tmp_path / "b")
    assert not list(tmp_path.glob(".*partial"))
