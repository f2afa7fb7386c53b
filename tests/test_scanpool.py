"""Reading WARC files in parts, in worker processes: the same findings as one walk.

`custody verify` cuts each file at its sealed record places and inflates the parts in
forked workers, which also check the timestamp tokens. These tests hold it to the plain
sequential walk and in-process checks: on an untouched archive, on every WARC and
timestamp mutation of the tamper matrix, and when a worker dies. Forking
is only safe in a process without threads (the test process runs servers in threads),
so the forked runs happen in a fresh interpreter, with parts made small enough that
even the sample's small files are cut into several.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import Custody
from custody.warcscan import _walk, contiguous, read_members, scan
from test_tamper_matrix import MATRIX, mid

SMALL_PARTS = "import custody.scanpool as pool; pool._MIN_PART = 2048\n"


def run_verify(runner: Custody, jobs: int, prelude: str = "") -> tuple[int, dict[str, Any]]:
    """`custody verify --json --jobs N` in a fresh interpreter, with no key at hand."""
    code = (SMALL_PARTS + prelude + "import sys\nfrom custody.cli import main\n"
            "sys.argv = ['custody', 'verify', '--json', '--jobs', sys.argv[1]]\nmain()\n")
    env = dict(os.environ, CUSTODY_ROOT=str(runner.root),
               CUSTODY_KEY=str(runner.root.parent / "no-key-here"))
    proc = subprocess.run([sys.executable, "-c", code, str(jobs)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert not proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


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


def test_parts_in_workers_match_one_pass(stamped: Custody) -> None:
    path, layout = warc_of(stamped)
    sealed = stamped.manifest(mid(stamped))["warc_files"][0]["sha256"]
    code = SMALL_PARTS + (
        "import json, sys, threading\nfrom pathlib import Path\n"
        "from custody.scanpool import Scans\nfrom custody.warcscan import scan\n"
        "path, sealed, layout = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])\n"
        "layout = [tuple(p) for p in layout]\n"
        "with Scans([(path, sealed, layout)], 2) as scans:\n"
        "    workers = len(scans.workers)\n"
        "    got = scans.get(path)\n"
        "print(json.dumps({'workers': workers, 'same': got == scan(path, sealed),\n"
        "                  'members': len(got.members)}))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path), sealed, json.dumps(layout)],
                          capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(proc.stdout)
    assert result == {"workers": 2, "same": True, "members": len(layout)}


def test_untouched_archive_passes_with_and_without_workers(stamped: Custody) -> None:
    alone, report_alone = run_verify(stamped, 0)
    forked, report_forked = run_verify(stamped, 2)
    assert alone == forked == 0
    assert report_forked["checks"] == report_alone["checks"]
    assert report_forked["summary"]["passed"] > 50


IN_WORKERS = [name for name in MATRIX if name.startswith(("warc:", "timestamp:"))]


@pytest.mark.parametrize("name", IN_WORKERS)
def test_workers_find_what_one_pass_finds(stamped: Custody, name: str) -> None:
    MATRIX[name][0](stamped)
    alone, report_alone = run_verify(stamped, 0)
    forked, report_forked = run_verify(stamped, 2)
    assert alone == forked == 1, name
    assert report_forked["checks"] == report_alone["checks"], name


def test_a_worker_that_dies_leaves_its_files_to_the_parent(stamped: Custody) -> None:
    alone, report_alone = run_verify(stamped, 0)
    dying = "import os\npool._run = lambda job: os._exit(3)\n"
    forked, report_forked = run_verify(stamped, 2, prelude=dying)
    assert alone == forked == 0
    assert report_forked["checks"] == report_alone["checks"]


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


def test_tokens_are_checked_in_the_workers(stamped: Custody) -> None:
    # a marked result shows which side checked each token (the real check is compared
    # with the in-process one above)
    mark = ("real = pool._check_token\n"
            "def marked(*args):\n"
            "    result = real(*args)\n"
            "    return (result[0], result[1], result[2] + ' (in a worker)', result[3])\n"
            "pool._check_token = marked\n")
    code, report = run_verify(stamped, 2, prelude=mark)
    tokens = [c for c in report["checks"] if c["check"] == "timestamp"]
    assert code == 0 and len(tokens) == 3
    assert all(c["detail"].endswith("(in a worker)") for c in tokens)
    code, report = run_verify(stamped, 0, prelude=mark)
    assert not any("(in a worker)" in c["detail"] for c in report["checks"])
