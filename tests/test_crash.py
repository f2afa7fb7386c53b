"""A crash at any instant of sealing: killed after each durable write, then recovered.

custody is killed (SIGKILL, through the CUSTODY_TEST_FAULT hook) right after each step
of the sealing sequence in turn -- every one faults.SEAL_STEPS names -- and each time:
verify passes with at most notes; the next `archive`, `archive --resume` or `reindex`
completes the capture; verify passes again with nothing left to note; no manifest that
existed after the crash was rewritten; and each capture is once in the ledger, once in
the log, once in the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SEEDS, Custody, trust_tsa
from custody.core import faults
from custody.testing.site import Page, SiteServer
from test_archive import warc_records

CUSTODY = str(Path(sys.executable).with_name("custody"))
RECOVERIES = ("archive", "resume", "reindex")


@pytest.fixture(scope="module")
def small_site() -> Iterator[SiteServer]:
    pages = {f"/n{i}.txt": Page(f"note {i}".encode(), "text/plain; charset=utf-8")
             for i in range(4)}
    pages["/page.txt"] = Page(b"the page whose seal is interrupted", "text/plain")
    with SiteServer(pages) as server:
        yield server


def run_custody(custody: Custody, *args: str,
                fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key))
    env.pop(faults.VARIABLE, None)
    if fault:
        env[faults.VARIABLE] = fault
    return subprocess.run([CUSTODY, *args], env=env, capture_output=True, text=True, timeout=60)


def sealed_manifests(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (root / "manifests").glob("*.json")}


def passes(custody: Custody) -> dict[str, Any]:
    code, report = custody.verify()
    bad = [c for c in report["checks"] if c["outcome"] != "passed"]
    assert code == 0 and not bad, (bad, report["notes"])
    return report


def assert_whole(custody: Custody) -> None:
    """Each sealed capture once in the ledger, once in the log, once in the database."""
    ids = sorted(p.stem for p in (custody.root / "manifests").glob("*.json"))
    leaves = (custody.root / "manifests" / "ledger" / "leaves").read_text().split("\n")
    in_ledger = sorted(line.split()[1] for line in leaves if line)
    assert in_ledger == ids
    events = [json.loads(line) for line in
              (custody.root / "manifests" / "ledger" / "log.jsonl").read_text().splitlines()]
    logged = sorted(e["details"]["capture_id"] for e in events if e["event"] == "captured")
    assert logged == ids
    assert sorted(r["id"] for r in custody.query("select id from captures")) == ids
    assert not list((custody.root / ".custody" / "sealing").glob("*"))
    assert not list((custody.root / ".custody" / "crawls").glob("*"))
    assert not list((custody.root / "archive").rglob("*.partial"))
    # nothing an interrupted seal wrote beside the manifests is left: each file there
    # belongs to a sealed capture (or the ledger)
    for path in (custody.root / "manifests").iterdir():
        if path.is_file():
            owner = path.name.lstrip(".").split(".")[0]
            assert owner in ids and not path.name.startswith("."), path.name


@pytest.mark.parametrize("step", faults.SEAL_STEPS)
def test_killed_after_each_step_of_sealing(custody: Custody, small_site: SiteServer, tsa: Any,
                                           tmp_path: Path, step: str) -> None:
    """Killed once after the step; then each way of recovering, on a copy of what the
    crash left."""
    trust_tsa(custody, tsa)
    custody.archive(small_site.url + "/n0.txt")  # a capture before: the chain goes on from it
    crashed = run_custody(custody, "archive", small_site.url + "/page.txt", fault=step)
    assert crashed.returncode == -signal.SIGKILL, (step, crashed.stderr)
    after_crash = sealed_manifests(custody.root)
    report = passes(custody)
    assert report["notes"], "an interrupted seal leaves something to say"
    for recovery in RECOVERIES:
        copy = Custody(tmp_path / recovery, custody.key)
        shutil.copytree(custody.root, copy.root)
        _recovered(copy, small_site, after_crash, recovery)


def _recovered(custody: Custody, small_site: SiteServer, after_crash: dict[str, str],
               recovery: str) -> None:
    if recovery == "archive":
        done = run_custody(custody, "archive", "--json", small_site.url + "/n1.txt")
        assert done.returncode == 0, (recovery, done.stderr)
        expected = 3
    elif recovery == "resume":
        done = run_custody(custody, "archive", "--json", "--resume")
        assert done.returncode == 0, (recovery, done.stderr)
        assert json.loads(done.stdout)["capture_status"] == "complete"
        expected = 2
    else:
        done = run_custody(custody, "reindex")
        assert done.returncode == 0, (recovery, done.stderr)
        expected = 2
    assert "completed the sealing" in done.stderr, recovery

    now = sealed_manifests(custody.root)
    assert {k: now[k] for k in after_crash} == after_crash, f"{recovery} rewrote a manifest"
    assert len(now) == expected, recovery
    # each a page's capture in one WARC file: a recovery adds no file of a warcinfo alone
    assert [len(custody.manifest(name[:-5])["warc_files"]) for name in now] == [1] * expected
    report = passes(custody)
    assert not [n for n in report["notes"] if "interrupted" in n or "sealing" in n], report
    assert_whole(custody)
    page = [r for r in custody.query("select url from resources")
            if r["url"].endswith("/page.txt")]
    assert len(page) == 1  # sealed once


def test_a_recovery_killed_in_turn_adds_no_warc_file(custody: Custody,
                                                    small_site: SiteServer) -> None:
    crashed = run_custody(custody, "archive", small_site.url + "/page.txt", fault="seal.warc")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    for step in ("seal.warc", "seal.signature"):  # each recovery killed in its own seal
        again = run_custody(custody, "archive", "--resume", fault=step)
        assert again.returncode == -signal.SIGKILL, again.stderr
    done = run_custody(custody, "archive", "--json", "--resume")
    assert done.returncode == 0, done.stderr
    (files,) = [custody.manifest(name[:-5])["warc_files"]
                for name in sealed_manifests(custody.root)]
    assert len(files) == 1, files
    assert len(list((custody.root / "archive").rglob("*.warc.gz*"))) == 1
    passes(custody)


def test_a_record_torn_by_a_crash_is_cut_off_by_resume(custody: Custody,
                                                       small_site: SiteServer) -> None:
    urls = [small_site.url + f"/n{i}.txt" for i in range(4)]
    crashed = run_custody(custody, "archive", "--concurrency", "1", *urls,
                          fault="warc.torn-record@4")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    (partial,) = (custody.root / "archive").rglob("*.partial")
    torn_size = partial.stat().st_size
    code, report = custody.verify()
    assert code == 0 and any(".partial" in n for n in report["notes"]), report
    done = run_custody(custody, "archive", "--json", "--resume")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    manifest = custody.manifest(result["capture_id"])
    (warc,) = manifest["warc_files"]
    path = custody.root / warc["path"]
    check = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check", str(path)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    records = warc_records(custody.root, manifest)
    targets = [h.get_header("WARC-Target-URI") for h, _ in records
               if h.get_header("WARC-Type") == "response"]
    assert sorted(targets) == sorted(urls)  # each once: the torn copy is gone
    assert path.stat().st_size != torn_size
    passes(custody)
    assert_whole(custody)


def test_what_verify_says_of_a_crawl_killed_as_it_began_and_mid_crawl(
        custody: Custody, small_site: SiteServer) -> None:
    """Killed before its seeds were committed, a crawl holds nothing: verify says there
    is nothing to resume, and `--resume` removes it. Killed later, verify names what it
    was a crawl of, and `--resume` continues it."""
    url = small_site.url + "/n0.txt"
    crashed = run_custody(custody, "archive", url, fault="crawl.begin")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    code, report = custody.verify()
    assert code == 0, report
    (note,) = [n for n in report["notes"] if n.startswith("crawl ")]
    assert "interrupted as it began, before its seeds were written: nothing was fetched " \
        "and there is nothing to resume" in note, note
    gone = run_custody(custody, "archive", "--resume")
    assert gone.returncode == 8 and "no interrupted crawl to resume" in gone.stderr
    assert not list((custody.root / ".custody" / "crawls").glob("*/state.db"))
    urls = [small_site.url + f"/n{i}.txt" for i in range(4)]
    crashed = run_custody(custody, "archive", "--concurrency", "1", *urls,
                          fault="warc.torn-record@2")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    code, report = custody.verify()
    assert code == 0, report
    (note,) = [n for n in report["notes"] if n.startswith("crawl ")]
    assert f" of {urls[0]} and 3 more was interrupted: `custody archive --resume` " \
        "continues it" in note, note
    assert run_custody(custody, "archive", "--resume").returncode == 0


def test_verify_while_a_capture_runs_and_seals_never_reports_tampering(
        custody: Custody, tsa: Any) -> None:
    """verify, run again and again while a crawl fetches and seals (its sealing slowed at
    the manifest's rename), sees either the archive before the seal or after it."""
    import time

    from custody.testing.site import crawl_site

    trust_tsa(custody, tsa)
    with SiteServer(crawl_site(SEEDS, 80), latency=0.05) as site:
        env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key),
                   **{faults.VARIABLE: "seal.manifest:slow"})
        proc = subprocess.Popen([CUSTODY, "archive", "--depth", "1", "--concurrency", "2",
                                 site.url + "/"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        seen_running = verifies = 0
        while proc.poll() is None:
            code, report = custody.verify()
            verifies += 1
            bad = [c for c in report["checks"] if c["outcome"] != "passed"]
            assert code == 0 and not bad, (bad, report["notes"])
            assert not [n for n in report["notes"] if "interrupted" in n], report["notes"]
            seen_running += any("running" in n or "being sealed" in n for n in report["notes"])
            time.sleep(0.05)
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert verifies >= 2 and seen_running >= 1, (verifies, seen_running)
    passes(custody)


def test_killed_in_the_middle_of_a_database_write(custody: Custody, site: SiteServer) -> None:
    """kill -9 inside custody.db's transaction: verify rolls the half write back (as SQLite
    does), passes with notes, and the next run indexes the capture."""
    import sqlite3

    env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key),
               CUSTODY_TEST_FAULT="index.mid-write")
    crashed = subprocess.run([CUSTODY, "archive", site.url + "/en.html"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    # and a transaction of many rows, killed before its commit, as a crash mid-write is
    kill = ("import os, signal, sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\n"
            "c.execute('PRAGMA cache_size = 1')\nc.execute('BEGIN')\n"
            "for i in range(3000):\n"
            "    c.execute('INSERT INTO failures (capture_id, url, kind, reason, at) VALUES "
            "(?, ?, ?, ?, ?)', ('x', str(i) * 40, 'k', 'r', 'a'))\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", kill, str(custody.root / "custody.db")])
    assert (custody.root / "custody.db-journal").stat().st_size > 0
    code, report = custody.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
    assert any("rolled back" in n for n in report["notes"]), report["notes"]
    with sqlite3.connect(custody.root / "custody.db") as conn:
        assert conn.execute("SELECT count(*) FROM failures WHERE capture_id = 'x'"
                            ).fetchone()[0] == 0
    custody.archive(site.url + "/ru.html")
    code, report = custody.verify()
    assert code == 0 and not report["notes"], report


def test_a_damaged_database_is_made_again_by_reindex(custody: Custody, site: SiteServer,
                                                      tmp_path: Path) -> None:
    """custody.db cut short, then a capture whose seal stops at indexing: reindex sets the
    damaged file aside, completes the seal and rebuilds; every error on the way says that
    reindex is the way back."""
    for page in ("/en.html", "/fa.html", "/ru.html"):
        custody.archive(site.url + page)
    db = custody.root / "custody.db"
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size // 2)
    searched = custody("search", "Iran")
    assert searched.exit_code == 7 and "custody reindex" in searched.output, searched.output
    archived = run_custody(custody, "archive", site.url + "/en.html")
    assert archived.returncode == 3 and "custody reindex" in archived.stderr, archived.stderr
    assert len(archived.stderr.strip().splitlines()) == 1
    rebuilt = run_custody(custody, "reindex")
    assert rebuilt.returncode == 0 and "kept as custody.db.damaged" in rebuilt.stderr
    assert (custody.root / "custody.db.damaged").exists()
    code, report = custody.verify()
    assert code == 0 and len(custody.query("select id from captures")) == 4, report
    assert custody.ok("search", "Iran").output.strip()
    db.write_bytes(b"overwritten")  # damaged again: the first damaged copy is kept too
    assert run_custody(custody, "reindex").returncode == 0
    assert (custody.root / "custody.db.damaged").exists()
    assert (custody.root / "custody.db.damaged-2").read_bytes() == b"overwritten"


def test_a_stray_file_in_the_sealing_journal_holds_back_no_seal(custody: Custody,
                                                                  small_site: SiteServer) -> None:
    """A file custody did not write in .custody/sealing/ (named so that it is read first)
    is passed over, and left as it is: the interrupted seal after it is still completed."""
    custody.archive(small_site.url + "/n0.txt")
    crashed = run_custody(custody, "archive", small_site.url + "/page.txt",
                          fault="seal.signature")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    stray = custody.root / ".custody" / "sealing" / "0 notes.json"
    stray.write_text('{"capture_id": "0 notes", "crawl": ""}')
    done = run_custody(custody, "archive", "--json", small_site.url + "/n1.txt")
    assert done.returncode == 0, done.stderr
    assert "completed the sealing" in done.stderr
    assert len(sealed_manifests(custody.root)) == 3
    assert stray.exists()
    stray.unlink()
    passes(custody)
    assert_whole(custody)
