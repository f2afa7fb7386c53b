"""custody replay: pywb over the sealed WARC files in place, checked in a real browser."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import PYWB, Custody
from custody.testing.bench import tree
from custody.testing.site import PNG, Page, SiteServer

CHROMIUM = os.environ.get("CUSTODY_CHROMIUM", "/usr/bin/chromium")
CUSTODY = str(Path(sys.executable).with_name("custody"))
TEXT = "Statement kept by the documentation team, replayed from its archive."

pytestmark = pytest.mark.skipif(not (PYWB / "wayback").exists(),
                                reason=f"no pywb at {PYWB}: ./scripts/setup --test installs it")

PAGES = {
    "/statement.html": Page(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>statement</title></head>"
        f"<body><p id='t'>{TEXT}</p><img id='photo' src='/photo.png' width='40' "
        f"height='40'></body></html>".encode(), "text/html; charset=utf-8"),
    "/photo.png": Page(PNG, "image/png"),
}


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(autouse=True)
def own_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test's replays make their folders in a temporary folder of the test's own
    (TMPDIR): what the tests count there is not disturbed by other workers' replays. A
    short path, under the system's: Chromium's socket path must fit in 108 bytes (tmp_path
    first: pytest makes its own folders under the system's before this changes it)."""
    folder = tempfile.mkdtemp(prefix="t-")
    monkeypatch.setenv("TMPDIR", folder)
    monkeypatch.setattr(tempfile, "tempdir", folder)
    yield
    shutil.rmtree(folder, ignore_errors=True)


def replay_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("custody-replay-*")}


@contextmanager
def replaying(custody: Custody, *args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    env = {**os.environ, "CUSTODY_ROOT": str(custody.root), "CUSTODY_KEY": str(custody.key)}
    proc = subprocess.Popen([CUSTODY, "replay", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("replaying "), first + proc.stderr.read()  # type: ignore[union-attr]
        lines = [first.strip()]
        count = int(first.split()[1])
        wanted = 1 if args and not args[0].startswith("-") else count
        lines += [proc.stdout.readline().strip() for _ in range(wanted)]
        base = first.split(" at ")[1].split()[0].rstrip("/")
        deadline = time.monotonic() + 30
        import urllib.request

        while True:  # pywb is up when its home page answers
            try:
                urllib.request.urlopen(base + "/", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "pywb did not start"
                time.sleep(0.2)
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_capture_replays_in_a_browser_and_the_archive_is_untouched(custody: Custody) -> None:
    with SiteServer(PAGES) as server:
        url = server.url + "/statement.html"
        cid = custody.archive(url)["capture_id"]
    # the site is gone: whatever the browser shows comes from the archive
    before = tree_digest(custody.root / "archive"), tree_digest(custody.root / "manifests")
    folders = replay_folders()
    with replaying(custody, url) as (proc, lines):
        address = lines[1].split()[1]
        assert lines[1].split()[0] == cid and address.endswith(f"/{cid}/{url}")
        base = lines[0].split(" at ")[1].split()[0].rstrip("/")
        import urllib.request

        home = urllib.request.urlopen(base + "/").read().decode()
        assert f"/{cid}" in home  # the list of captures
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox"] if os.geteuid() == 0 else [])
            try:
                page = browser.new_page()
                page.goto(address, wait_until="networkidle", timeout=30_000)
                frame = next(f for f in page.frames if "/mp_/" in f.url)  # the replay frame
                text = frame.inner_text("#t")
                frame.wait_for_function("document.getElementById('photo').complete",
                                        timeout=15_000)
                width = frame.evaluate("document.getElementById('photo').naturalWidth")
            finally:
                browser.close()
        assert text == TEXT
        assert width > 0  # the archived image, decoded by the browser
        family = set(tree(proc.pid)) - {proc.pid}
        assert family  # pywb, custody's child
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{p}").exists() for p in family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{p}").exists() for p in family)
    assert replay_folders() == folders  # its temporary folder is gone
    assert (tree_digest(custody.root / "archive"),
            tree_digest(custody.root / "manifests")) == before
    code, report = custody.verify()
    assert code == 0, report


def test_a_capture_whose_files_changed_is_not_replayed(custody: Custody) -> None:
    with SiteServer(PAGES) as server:
        kept = custody.archive(server.url + "/statement.html")["capture_id"]
        changed = custody.archive(server.url + "/photo.png")["capture_id"]
    warc = custody.root / custody.manifest(changed)["warc_files"][0]["path"]
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 1
    warc.write_bytes(bytes(data))
    with replaying(custody) as (proc, lines):
        assert lines[0].startswith("replaying 1 capture at")
        assert lines[1].startswith(kept)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert f"not replayed: {changed}: " in err and "not the file its manifest seals" in err


def test_replay_says_what_it_cannot_do(custody: Custody) -> None:
    missing = custody("replay", "20991231T000000Z-00000000")
    assert missing.exit_code == 8, missing.output
    unknown = custody("replay", "https://example.org/never-archived")
    assert unknown.exit_code == 8 and "no replayable capture holds" in unknown.output
    env = {**os.environ, "CUSTODY_ROOT": str(custody.root), "CUSTODY_PYWB": "/nonexistent"}
    no_pywb = subprocess.run([CUSTODY, "replay"], env=env, capture_output=True, text=True)
    assert no_pywb.returncode == 2
    assert no_pywb.stderr.count("\n") == 1 and "./scripts/setup --replay" in no_pywb.stderr


def test_a_folder_left_by_a_replay_killed_outright_goes_with_the_next(
        custody: Custody) -> None:
    """kill -9 leaves replay's folder (links, index, log); the next replay removes it, and
    only folders whose owner is gone: a running owner's stays, and so does one named by
    our own pid, but a pid whose process began at another time is a dead owner's."""
    from custody.core import scratch

    with SiteServer(PAGES) as server:
        custody.archive(server.url + "/statement.html")
    before = replay_folders()
    with replaying(custody) as (proc, _):
        (left,) = replay_folders() - before
        folder = Path(tempfile.gettempdir()) / left
        assert list((folder / "collections").glob("*/archive/*.warc.gz"))
        proc.kill()  # SIGKILL: nothing of custody's own runs after it
        proc.wait(20)
    assert folder.is_dir() and (folder / "wayback.log").exists()  # left behind, as said
    alive = Path(tempfile.mkdtemp(
        prefix=f"custody-replay-{os.getpid()}.{scratch.started(os.getpid())}-"))
    reused = Path(tempfile.mkdtemp(prefix=f"custody-replay-{os.getpid()}.1-"))
    try:
        with replaying(custody) as (proc, _):
            assert not folder.exists()
            assert not reused.exists()  # our pid, but not our start: its owner is gone
            assert alive.is_dir()  # its owner (this test) runs
            assert len(replay_folders() - before) == 2  # the new replay's, and ours
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
    finally:
        alive.rmdir()
        shutil.rmtree(reused, ignore_errors=True)
    assert replay_folders() == before
