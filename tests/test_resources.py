"""Resource failures: a full disk, a file system gone read-only, an I/O error. Each gives
one line and exit 3; what was sealed stays verified; once the cause is gone, the next run
(resume or new) succeeds."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Custody
from custody.testing.site import Page, SiteServer
from test_crash import passes, run_custody


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.startswith("custody: error")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs: mounting needs root (as CI runs); elsewhere the test says why not."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root and mount(8)")
    mount = tmp_path / "fs"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture
def big_site() -> Iterator[SiteServer]:
    noise = random.Random(7).randbytes(4 * 1024 * 1024)  # does not compress
    pages = {"/small.txt": Page(b"a small statement", "text/plain"),
             "/big.bin": Page(noise, "application/octet-stream"),
             "/other.txt": Page(b"another statement", "text/plain")}
    with SiteServer(pages) as server:
        yield server


def on_disk(small_fs: Path, tmp_path: Path) -> Custody:
    runner = Custody(small_fs / "evidence", tmp_path / "keys" / "id_ed25519")
    runner.ok("init", "--no-tsa", "--operator", "tester@example.org")
    return runner


def test_a_full_disk_stops_cleanly_and_resume_finishes_once_space_is_freed(
        small_fs: Path, tmp_path: Path, big_site: SiteServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = on_disk(small_fs, tmp_path)
    runner.archive(big_site.url + "/small.txt")
    sealed_before = sorted((runner.root / "manifests").glob("*.json"))
    full = run_custody(runner, "archive", big_site.url + "/big.bin")
    assert full.returncode == 3, full.stderr
    assert "No space left on device" in one_line(full.stderr)
    assert sorted((runner.root / "manifests").glob("*.json")) == sealed_before
    passes(runner)  # what was sealed before still verifies
    still = run_custody(runner, "archive", "--resume")
    assert still.returncode == 3
    assert "No space left" in one_line(still.stderr) or "disk is full" in still.stderr
    subprocess.run(["mount", "-o", "remount,size=40m", str(small_fs)], check=True)
    done = run_custody(runner, "archive", "--json", "--resume")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["capture_status"] == "complete"
    passes(runner)
    again = run_custody(runner, "archive", big_site.url + "/other.txt")
    assert again.returncode == 0, again.stderr
    passes(runner)


def test_a_read_only_file_system_is_one_line_and_later_runs_work(
        small_fs: Path, tmp_path: Path, big_site: SiteServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = on_disk(small_fs, tmp_path)
    runner.archive(big_site.url + "/small.txt")
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    try:
        refused = run_custody(runner, "archive", big_site.url + "/other.txt")
        assert refused.returncode == 3
        assert "Read-only file system" in one_line(refused.stderr)
        code, report = runner.verify()  # a reader needs no write
        assert code == 0, report
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True)
    done = run_custody(runner, "archive", big_site.url + "/other.txt")
    assert done.returncode == 0, done.stderr
    passes(runner)


@pytest.mark.parametrize("fault", ["seal.manifest-temp:eio", "seal.manifest:eio",
                                   "seal.log:enospc", "seal.database:eio",
                                   "seal.checkpoint:eacces"])
def test_an_io_error_while_sealing_is_one_line_and_the_next_run_completes(
        custody: Custody, big_site: SiteServer, fault: str) -> None:
    custody.archive(big_site.url + "/small.txt")
    broken = run_custody(custody, "archive", big_site.url + "/other.txt", fault=fault)
    assert broken.returncode == 3, broken.stderr
    assert "test fault" in one_line(broken.stderr)
    code, report = custody.verify()
    assert code == 0, report
    done = run_custody(custody, "archive", "--resume")
    assert done.returncode == 0, done.stderr
    passes(custody)
    ids = {p.stem for p in (custody.root / "manifests").glob("*.json")}
    assert len(ids) == 2
