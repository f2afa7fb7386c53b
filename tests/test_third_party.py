"""What VERIFYING.md tells a third party to run, run on what custody writes.

Each tool must pass on a fresh capture and fail on a tampered copy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Custody, capture_id_of
from test_verify import response_record, rewrite_member

WARCIO = str(Path(sys.executable).with_name("warcio"))


def run(args: list[str], cwd: Path, stdin: Path | None = None) -> subprocess.CompletedProcess:
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as fh:
        return subprocess.run(args, cwd=cwd, stdin=fh, capture_output=True, text=True)


def sha256sum(runner: Custody) -> subprocess.CompletedProcess:
    cid = capture_id_of(runner)
    return run(["sha256sum", "-c", f"manifests/{cid}.SHA256SUMS"], runner.root)


def sealed_sums(runner: Custody) -> subprocess.CompletedProcess:
    """VERIFYING.md's step 1, as written there: the files against the signed manifest."""
    text = (Path(__file__).parent.parent / "VERIFYING.md").read_text()
    step = text.split("## 1.", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    command = step.replace("ID", capture_id_of(runner))
    return subprocess.run(["/bin/sh", "-c", command], cwd=runner.root, capture_output=True,
                          text=True)


def warcio_check(runner: Custody) -> subprocess.CompletedProcess:
    m = runner.manifest(capture_id_of(runner))
    return run([WARCIO, "check", *(f["path"] for f in m["warc_files"])], runner.root)


def ssh_keygen_verify(runner: Custody) -> subprocess.CompletedProcess:
    cid = capture_id_of(runner)
    return run(["ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", "tester@example.org",
                "-n", "custody-manifest", "-s", f"manifests/{cid}.json.sig"], runner.root,
               stdin=runner.root / "manifests" / f"{cid}.json")


def edit_manifest(path: Path) -> None:
    """Point the manifest's seed at another host: one byte, always present."""
    data = path.read_bytes()
    edited = data.replace(b"127.0.0.1", b"127.0.0.2", 1)
    assert edited != data
    path.write_bytes(edited)


@pytest.mark.parametrize("tool", [sha256sum, sealed_sums, warcio_check, ssh_keygen_verify])
def test_standard_tools_pass_on_a_fresh_capture(sealed: Custody, tool) -> None:
    result = tool(sealed)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sha256sum_fails_on_a_changed_warc(sealed: Custody) -> None:
    _, record = response_record(sealed, "/en.html")
    rewrite_member(sealed, record, b"monstrous", b"Monstrous")
    result = sha256sum(sealed)
    assert result.returncode != 0 and "FAILED" in result.stdout


def test_a_changed_warc_with_its_sums_made_again_fails_step_1(sealed: Custody) -> None:
    _, record = response_record(sealed, "/en.html")
    rewrite_member(sealed, record, b"monstrous", b"Monstrous")
    cid = capture_id_of(sealed)
    listed = sealed.root / "manifests" / f"{cid}.SHA256SUMS"
    made = subprocess.run(["sha256sum", *(line.split("  ", 1)[1] for line in
                                          listed.read_text().splitlines())],
                          cwd=sealed.root, capture_output=True, text=True, check=True)
    listed.write_text(made.stdout)  # the unsigned list, made again to match
    assert sha256sum(sealed).returncode == 0
    result = sealed_sums(sealed)
    assert result.returncode != 0 and "FAILED" in result.stdout


def test_warcio_check_fails_on_a_changed_body(sealed: Custody) -> None:
    _, record = response_record(sealed, "/en.html")
    rewrite_member(sealed, record, b"monstrous", b"Monstrous")
    result = warcio_check(sealed)
    assert result.returncode != 0 and "digest failed" in result.stdout


def test_ssh_keygen_fails_on_an_edited_manifest(sealed: Custody) -> None:
    path = sealed.root / "manifests" / f"{capture_id_of(sealed)}.json"
    edit_manifest(path)
    result = ssh_keygen_verify(sealed)
    assert result.returncode != 0, result.stdout


def test_sha256sum_fails_on_an_edited_manifest(sealed: Custody) -> None:
    path = sealed.root / "manifests" / f"{capture_id_of(sealed)}.json"
    edit_manifest(path)
    assert sha256sum(sealed).returncode != 0


def test_verifying_md_names_these_commands() -> None:
    text = (Path(__file__).parent.parent / "VERIFYING.md").read_text()
    for command in ("sha256sum -c", "warcio check", "ssh-keygen -Y verify"):
        assert command in text


def test_verifying_md_step_7_runs_as_written(sealed: Custody, tmp_path: Path) -> None:
    """The ledger's step, in the archive folder as a third party runs it: the checkpoint's
    signature, then the capture's inclusion proof by the script a bundle holds."""
    text = (Path(__file__).parent.parent / "VERIFYING.md").read_text()
    step = text.split("## 7.", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    custody = str(Path(sys.executable).with_name("custody"))
    command = (step.replace("ID", capture_id_of(sealed))
               .replace("PRINCIPAL", "tester@example.org")
               .replace("/tmp/", f"{tmp_path}/").replace("custody bundle", f"{custody} bundle"))
    env = dict(os.environ, CUSTODY_ROOT=str(sealed.root), CUSTODY_KEY=str(sealed.key))
    done = subprocess.run(["/bin/sh", "-ec", command], cwd=sealed.root, capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Good \"custody-checkpoint\" signature" in done.stdout + done.stderr
    assert "OK: the manifest is leaf" in done.stdout, done.stdout
