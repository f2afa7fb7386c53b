"""Verification as jobs in forked workers: the same findings as in one process.

`custody verify` runs its checks as jobs (pool): the timestamp tokens in a worker forked
first, then the seals and proofs, the database, and each WARC file's sha256 and its
records in parts, in workers and in the parent as it waits. These tests hold the pool to
its promises (every result delivered, errors raised where the result is asked for, a
dead worker's jobs run in the parent, a queue longer than a pipe holds) and verify's
report to the one made in a single process: on an untouched archive, on every WARC and
timestamp mutation of the tamper matrix, and when a worker dies. Forking is only safe in
a process without threads (the test process runs servers in threads), so the forked runs
happen in a fresh interpreter, with parts made small enough that even the sample's
small files are cut into several.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Custody
from custody.warc.scan import _walk, contiguous, read_members, scan
from test_tamper_matrix import MATRIX, mid

SMALL_PARTS = "2048"  # bytes: even the sample's small files are cut into several parts


def in_fresh_python(code: str, *args: str) -> Any:
    """Run ``code`` in a new interpreter (no threads there); what it prints, as JSON."""
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def run_verify(runner: Custody, jobs: int, prelude: str = "",
               fault: str | None = None) -> tuple[int, dict[str, Any]]:
    """`custody verify --json --jobs N` in a fresh interpreter, with no key at hand; the
    test's fault (faults.py) armed when given."""
    code = (prelude + "import sys\nfrom custody.cli import main\n"
            "sys.argv = ['custody', 'verify', '--json', '--jobs', sys.argv[1], "
            f"'--part-size', '{SMALL_PARTS}']\nmain()\n")
    env = dict(os.environ, CUSTODY_ROOT=str(runner.root),
               CUSTODY_KEY=str(runner.root.parent / "no-key-here"))
    env.pop("CUSTODY_TEST_FAULT", None)
    if fault:
        env["CUSTODY_TEST_FAULT"] = fault
    proc = subprocess.run([sys.executable, "-c", code, str(jobs)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert not proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


# -- the pool ----------------------------------------------------------------------------------

POOL = """
import json, os, sys
from custody.verify.pool import Pool
parent = os.getpid()
def job(n):
    if n == 3:
        raise ValueError("three")  # raised where its result is asked for
    return (n, os.getpid() != parent, "x" * (n % 7) * 10000)
"""


def test_pool_delivers_every_result_in_any_order_asked() -> None:
    code = POOL + """
from functools import partial
jobs = [partial(job, n) for n in range(20000)]  # more numbers than a pipe holds
with Pool(jobs, 2) as pool:
    workers = len(pool.workers)
    late = pool.result(19999)
    got = [pool.result(n) if n != 3 else None for n in range(19999)] + [late]
    try:
        pool.result(3)
        raised = None
    except ValueError as exc:
        raised = str(exc)
print(json.dumps({"workers": workers, "raised": raised,
                  "same": all(g is None or (g[0] == n and len(g[2]) == n % 7 * 10000)
                              for n, g in enumerate(got)),
                  "in_workers": sum(1 for g in got if g and g[1]),
                  "here": sum(1 for g in got if g and not g[1])}))
"""
    result = in_fresh_python(code)
    assert result["workers"] == 2 and result["raised"] == "three" and result["same"]
    assert result["in_workers"] > 0 and result["in_workers"] + result["here"] == 19999


def test_pool_runs_here_what_a_dead_worker_took() -> None:
    code = POOL + """
from functools import partial
with Pool([partial(job, n) for n in (0, 1, 2, 4, 5)], 2) as pool:
    got = [pool.result(n) for n in range(5)]
print(json.dumps([[g[0], g[1]] for g in got]))
"""
    # every worker is killed as it takes its first job (faults.py): the parent runs them
    env = dict(os.environ, CUSTODY_TEST_FAULT="pool.worker-job")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    assert json.loads(proc.stdout) == [[0, False], [1, False], [2, False], [4, False],
                                       [5, False]]


def test_pool_without_workers_runs_each_job_when_asked() -> None:
    code = POOL + """
from functools import partial
with Pool([partial(job, n) for n in range(4)], 0) as pool:
    print(json.dumps({"workers": len(pool.workers), "first": pool.result(2)[:2]}))
"""
    assert in_fresh_python(code) == {"workers": 0, "first": [2, False]}


# -- WARC files in parts -----------------------------------------------------------------------


def warc_of(runner: Custody) -> tuple[Path, list[tuple[int, int]]]:
    m = runner.manifest(mid(runner))
    path = m["warc_files"][0]["path"]
    layout = sorted((r["offset"], r["length"]) for r in m["records"] if r["warc_path"] == path)
    return runner.root / path, layout


def test_sealed_places_give_the_walks_members(stamped: Custody) -> None:
    path, layout = warc_of(stamped)
    assert contiguous(layout) and len(layout) > 10
    with open(path, "rb") as fh:
        walked, error = _walk(fh, hash_members=False)
    assert error is None
    assert read_members(path, layout) == walked
    assert scan(path, None, layout).members != walked  # not sealed: walked, members hashed
    (offset, length), (_, after) = layout[3], layout[4]
    merged = [*layout[:3], (offset, length + after), *layout[5:]]
    shifted = [*layout[:3], (offset + 1, length - 1), *layout[4:]]
    assert read_members(path, merged) is None  # two members in one place
    assert read_members(path, shifted) is None  # a place that starts inside a member
    assert read_members(path, [*layout[:3], (offset, length - 1)]) is None  # cut short
    assert not contiguous(shifted) and not contiguous([])


def test_members_larger_than_a_window_are_read_in_pieces(stamped: Custody) -> None:
    # a record larger than what is read at once, and one that inflates to more than is
    # taken at once, give the same members as a walk
    path, layout = warc_of(stamped)
    whole = read_members(path, layout)
    assert read_members(path, layout, window=64, take=100) == whole
    assert max(length for _, length in layout) > 64


# -- verify, forked and in one process ---------------------------------------------------------


def test_untouched_archive_passes_with_and_without_workers(stamped: Custody) -> None:
    alone, report_alone = run_verify(stamped, 0)
    forked, report_forked = run_verify(stamped, 2)
    assert alone == forked == 0
    assert report_forked["checks"] == report_alone["checks"]
    assert report_forked["summary"]["passed"] > 50


IN_WORKERS = [name for name in MATRIX if name.startswith(("warc:", "timestamp:"))]


@pytest.mark.parametrize("name", IN_WORKERS)
def test_workers_find_what_one_process_finds(stamped: Custody, name: str) -> None:
    MATRIX[name][0](stamped)
    alone, report_alone = run_verify(stamped, 0)
    forked, report_forked = run_verify(stamped, 2)
    assert alone == forked == 1, name
    assert report_forked["checks"] == report_alone["checks"], name


def test_workers_that_die_leave_their_jobs_to_the_parent(stamped: Custody) -> None:
    alone, report_alone = run_verify(stamped, 0)
    forked, report_forked = run_verify(stamped, 2, fault="pool.worker-job")
    assert alone == forked == 0
    assert report_forked["checks"] == report_alone["checks"]


def test_workers_end_when_verify_is_killed(stamped: Custody) -> None:
    # kill -9 leaves no worker behind: each notices its parent is gone after its job
    env = dict(os.environ, CUSTODY_ROOT=str(stamped.root),
               CUSTODY_KEY=str(stamped.root.parent / "no-key-here"),
               CUSTODY_TEST_FAULT="pool.worker-job@*:slow")  # each job takes 0.3 s
    proc = subprocess.Popen([str(Path(sys.executable).with_name("custody")), "verify",
                             "--jobs", "2", "--part-size", SMALL_PARTS], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children() -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    deadline = time.monotonic() + 20
    while len(children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = children()
    assert len(workers) >= 2, "verify did not start its workers"
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() and
                                              "Z" not in _state(pid) for pid in workers):
        time.sleep(0.05)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def test_unreadable_file_is_unchecked_not_a_crash(stamped: Custody) -> None:
    # the tests run as root, who reads every file: the refusal is made at open()
    refuse = (
        "import builtins, errno\nreal_open = builtins.open\n"
        "def refusing(file, *args, **kwargs):\n"
        "    if str(file).endswith('.warc.gz'):\n"
        "        raise PermissionError(errno.EACCES, 'Permission denied', str(file))\n"
        "    return real_open(file, *args, **kwargs)\n"
        "builtins.open = refusing\n")
    code, report = run_verify(stamped, 2, prelude=refuse)
    assert code == 6 and report["summary"]["failed"] == 0
    unreadable = [c for c in report["checks"] if c["check"] == "warc-file"]
    assert unreadable and all(c["outcome"] == "unchecked" and "Permission denied" in c["detail"]
                              for c in unreadable)


def test_tokens_are_checked_with_their_captures(stamped: Custody) -> None:
    # each capture's tokens are checked in the job of its group, by workers or alone
    code = ("import json, sys\nfrom custody.core.archive import Archive\n"
            "from custody.verify.run import verify\n"
            "report = verify(Archive.open(sys.argv[1]), jobs=int(sys.argv[2]))\n"
            "tokens = [c for c in report.checks if c.check == 'timestamp']\n"
            "print(json.dumps(sorted((c.capture_id, c.outcome) for c in tokens)))\n")
    forked = in_fresh_python(code, str(stamped.root), "2")
    assert [outcome for _, outcome in forked] == ["passed"] * 3
    assert len({cid for cid, _ in forked}) == 3
    assert in_fresh_python(code, str(stamped.root), "0") == forked


LARGE = ("import custody.verify.whole as whole, custody.verify.captures as captures\n"
         "whole.BIG_MANIFEST = 1\ncaptures.SMALL = 1\n")  # every capture taken as large


@pytest.mark.parametrize("name", ["database: title changed", "database: resource removed",
                                  "manifest: field edited", "ledger: leaf hash changed",
                                  "manifest: removed from the chain"])
def test_large_captures_are_judged_as_small_ones(stamped: Custody, name: str) -> None:
    """A capture with a large manifest or large WARC files is checked by the parent and
    in parts (its place in the chain read from its bytes, its seal and rows in a job of
    their own): the same verdicts as when it is small, untouched and changed."""
    assert run_verify(stamped, 2, LARGE)[0] == 0
    MATRIX[name][0](stamped)
    small, report_small = run_verify(stamped, 0)
    for jobs in (0, 2):
        large, report_large = run_verify(stamped, jobs, LARGE)
        assert small == large == 1, (name, jobs)
        failed = sorted((c["check"], c["subject"]) for c in report_large["checks"]
                        if c["outcome"] == "failed")
        assert failed == sorted((c["check"], c["subject"]) for c in report_small["checks"]
                                if c["outcome"] == "failed"), (name, jobs)
