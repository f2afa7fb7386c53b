#!/usr/bin/env python3
"""Mutation testing of verification, sealing and the address guard (mutmut), outside CI.

    .venv/bin/python scripts/mutation_test.py                 # every group below
    .venv/bin/python scripts/mutation_test.py guard merkle    # some of them
    .venv/bin/python scripts/mutation_test.py --list          # the groups

Each group names modules to mutate and the tests that should catch a change to them.
The repository's committed HEAD is copied into a work folder (default /tmp/custody-
mutation) with a virtual environment of its own, so the mutated files never touch the
checkout; there mutmut 2 changes one thing at a time on disk (an operator, a number, a
condition, a name; string and f-string literals too with --strings, though most are messages no test
should pin word for word), runs the group's tests, and counts the mutant killed when they
fail. Each run has a temporary folder of its own (--basetemp): pytest's shared one is
cleaned by whichever run starts next, which would kill or spare mutants at random.

mutmut 2, not 3: custody's tests run custody as a subprocess (kill -9, signals,
third-party tools on what it writes), and mutmut 3's in-process trampolines do not reach
into a subprocess, while a mutation written to disk does.

With --sample N, N mutants of each group are drawn at random (seeded: --seed) from
every mutant mutmut would make, and each is applied (mutmut apply), tested and
undone here: a group whose tests take minutes has thousands of mutants, more than an
afternoon holds, and a random sample's score estimates the whole's (the margin is
printed beside it).

At the end it prints, per module, mutants killed, survived and timed out, and the score;
and the surviving mutants, for a person to judge (a survivor is either a test to write or
a change that makes no difference, such as a message's wording).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# group -> (modules to mutate, tests that guard them)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "guard": (["capture/guard.py"], [
        "tests/test_guard.py",
        "tests/test_crawl.py::test_private_addresses_are_not_reached_from_links",
        "tests/test_crawl.py::test_allow_private_lets_links_reach_private_addresses"]),
    "merkle": (["seal/merkle.py", "seal/inclusion_script.py"], ["tests/test_merkle.py"]),
    "trust": (["verify/seals.py", "seal/trust.py", "core/sshsig.py", "core/allowed_signers.py"],
              ["tests/test_keys.py", "tests/test_signing.py", "tests/test_verify.py",
               "tests/test_tamper_matrix.py", "tests/test_sample.py"]),
    "ledger": (["verify/proofs.py", "seal/ledger.py"],
               ["tests/test_evidence.py", "tests/test_tamper_matrix.py",
                "tests/test_crash.py::test_killed_after_each_step_of_sealing",
                "tests/test_sample.py"]),
    "records": (["verify/records.py", "warc/scan.py", "verify/run.py", "verify/report.py"],
                ["tests/test_verify.py", "tests/test_tamper_matrix.py", "tests/test_pool.py",
                 "tests/test_sample.py"]),
    "database": (["verify/database.py", "verify/search_index.py"],
                 ["tests/test_database.py", "tests/test_verify.py", "tests/test_sample.py",
                  "tests/test_crash.py::test_killed_after_each_step_of_sealing"]),
    "tokens": (["verify/tokens.py", "seal/timestamp.py"],
               ["tests/test_evidence.py", "tests/test_tamper_matrix.py", "tests/test_pool.py"]),
    "sealing": (["seal/sealing.py", "seal/journal.py", "seal/recovery.py",
                 "capture/completion.py"],
                ["tests/test_crash.py", "tests/test_guards_alone.py",
                 "tests/test_import_overlap.py", "tests/test_resources.py"]),
    "verify": (["verify/captures.py", "verify/named.py", "verify/log_check.py",
                "verify/tree.py"],
               ["tests/test_guards_alone.py", "tests/test_every_byte.py",
                "tests/test_tamper_matrix.py", "tests/test_verify.py"]),
    "fencing": (["queue/sealing.py"],
                ["tests/test_queue_fence.py",
                 "tests/test_queue.py::test_a_killed_workers_job_is_taken_over_and_sealed_once",
                 "tests/test_queue.py::test_many_workers_sealing_at_once_keep_one_chain"]),
    "redaction": (["capture/redact.py", "report/secrets.py"],
                  ["tests/test_login.py", "tests/test_secrets.py"]),
}


def prepare(work: Path) -> Path:
    """A copy of HEAD in ``work`` with its own venv; its python."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=REPO, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "venv", str(work / ".venv")], check=True)
    python = work / ".venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", f"{work}[test]",
                    "mutmut>=2.5,<3"], check=True)
    return python


EXIT_PLUGIN = """import pytest


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if exitstatus not in (0, 5):  # passed, or no tests: anything else is a failure
        session.exitstatus = 1
"""


def restore(work: Path, paths: list[str]) -> None:
    """The files as HEAD has them: mutmut, stopped, leaves its current mutant in place."""
    archive = subprocess.run(["git", "archive", "HEAD", *paths], cwd=REPO,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)


def run_group(python: Path, work: Path, name: str, timeout: float,
              strings: bool) -> dict[str, object]:
    modules, tests = GROUPS[name]
    paths = ",".join(f"src/custody/{m}" for m in modules)
    # a mutant that makes the tests hang is a change they notice: mutmut ends the run at
    # twice the unmutated run's time (--test-time-base more). pytest is started directly:
    # a wrapper (timeout(1)) killed in its place would leave pytest running, and mutmut
    # waiting for its output
    # mutmut 2 counts a mutant killed only when the tests exit with 1: a mutant that
    # breaks the module's import makes pytest exit with 2 (collection error), which
    # mutmut would count as survived. The plugin makes every failure exit 1.
    (work / "mutmut_exit.py").write_text(EXIT_PLUGIN)
    runner = (f"{python} -m pytest -x -q -p no:cacheprovider -p mutmut_exit -o addopts= "
              f"--basetemp={work}/.pytest-tmp " + " ".join(tests))
    cache = work / ".mutmut-cache"
    cache.unlink(missing_ok=True)
    started = time.monotonic()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    skip = [] if strings else ["--disable-mutation-types", "string,fstring"]
    run = subprocess.Popen([str(python), "-m", "mutmut", "run", "--paths-to-mutate", paths,
                            "--runner", runner, "--no-progress", "--simple-output",
                            "--test-time-base", "20", *skip],
                           cwd=work, env=env, start_new_session=True)
    finished = True
    try:
        run.wait(timeout)
    except subprocess.TimeoutExpired:  # the mutants tested so far are counted; say so
        finished = False
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        restore(work, [f"src/custody/{m}" for m in modules])  # a mutant may be on disk
    per_module: dict[str, dict[str, int]] = {}
    shown = []
    for mutant, status, filename, line in _mutants(cache):
        module = Path(filename).name
        counts = per_module.setdefault(module, {"killed": 0, "survived": 0, "other": 0})
        if status == "ok_killed":
            counts["killed"] += 1
        elif status == "bad_survived":
            counts["survived"] += 1
            diff = subprocess.run([str(python), "-m", "mutmut", "show", str(mutant)], cwd=work,
                                  capture_output=True, text=True, env=env).stdout
            changed = [d for d in diff.splitlines() if d[:2] in ("- ", "+ ")]
            shown.append(f"{mutant} ({module}:{line})\n" + "\n".join(changed))
        elif status != "untested":  # timed out, or suspicious: counted apart, and shown
            counts["other"] += 1
            shown.append(f"{mutant} ({module}:{line}): {status}")
    shutil.copy(cache, work / f"mutmut-{name}.sqlite")
    untested = _count(cache, "untested")
    return {"group": name, "seconds": round(time.monotonic() - started), "finished": finished,
            "untested": untested, "modules": per_module, "survivors": shown}


def sample_group(python: Path, work: Path, name: str, timeout: float, strings: bool,
                 sample: int, seed: int) -> dict[str, object]:
    """``sample`` of the group's mutants, drawn at random, each applied, tested, undone."""
    modules, tests = GROUPS[name]
    sources = [f"src/custody/{m}" for m in modules]
    (work / "mutmut_exit.py").write_text(EXIT_PLUGIN)
    cache = work / ".mutmut-cache"
    cache.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    skip = [] if strings else ["--disable-mutation-types", "string,fstring"]
    # every mutant listed (the runner `true` passes at once, so each is "survived")
    subprocess.run([str(python), "-m", "mutmut", "run", "--paths-to-mutate", ",".join(sources),
                    "--runner", "true", "--no-progress", "--simple-output", *skip],
                   cwd=work, env=env, capture_output=True, check=False)
    restore(work, sources)
    everything = _mutants(cache)
    chosen = sorted(random.Random(seed).sample(everything, min(sample, len(everything))))
    command = [str(python), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
               "-p", "mutmut_exit", "-o", "addopts=", f"--basetemp={work}/.pytest-tmp", *tests]
    started = time.monotonic()
    baseline = subprocess.run(command, cwd=work, env=env, capture_output=True, check=False)
    base_seconds = time.monotonic() - started
    if baseline.returncode != 0:
        raise SystemExit(f"{name}: the tests fail without a mutant:\n"
                         + baseline.stdout.decode()[-2000:])
    per_module: dict[str, dict[str, int]] = {}
    shown = []
    finished = True
    for pk, _status, filename, line in chosen:
        if time.monotonic() - started > timeout:
            finished = False
            break
        module = Path(filename).name
        counts = per_module.setdefault(module, {"killed": 0, "survived": 0, "other": 0})
        diff = subprocess.run([str(python), "-m", "mutmut", "show", str(pk)], cwd=work,
                              capture_output=True, text=True, env=env).stdout
        subprocess.run([str(python), "-m", "mutmut", "apply", str(pk)], cwd=work, env=env,
                       check=True, capture_output=True)
        try:
            test = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            try:  # a mutant that makes the tests hang is one they notice
                code = test.wait(base_seconds * 3 + 60)
            except subprocess.TimeoutExpired:
                os.killpg(test.pid, signal.SIGKILL)
                test.wait()
                code = None
        finally:
            restore(work, sources)
        changed = [d for d in diff.splitlines() if d[:2] in ("- ", "+ ")]
        if code is None:
            counts["other"] += 1
            shown.append(f"{pk} ({module}:{line}): timed out")
        elif code == 0:
            counts["survived"] += 1
            shown.append(f"{pk} ({module}:{line})\n" + "\n".join(changed))
        else:
            counts["killed"] += 1
        print(f"{name} {pk} {module}:{line} "
              f"{'timeout' if code is None else 'survived' if code == 0 else 'killed'}",
              flush=True)
    return {"group": name, "seconds": round(time.monotonic() - started), "finished": finished,
            "untested": len(everything) - sum(sum(c.values()) for c in per_module.values()),
            "of": len(everything), "modules": per_module, "survivors": shown}


def _mutants(cache: Path) -> list[tuple[int, str, str, int]]:
    """Each mutant: its id, status, file and line (mutmut's cache, read directly: its
    junitxml report fails on a run that was stopped)."""
    with contextlib.closing(sqlite3.connect(cache)) as db:
        return db.execute("SELECT m.id, m.status, f.filename, l.line_number + 1 FROM Mutant m "
                          "JOIN Line l ON m.line = l.id JOIN SourceFile f ON l.sourcefile = f.id "
                          "ORDER BY m.id").fetchall()


def _count(cache: Path, status: str) -> int:
    with contextlib.closing(sqlite3.connect(cache)) as db:
        return int(db.execute("SELECT count(*) FROM Mutant WHERE status = ?",
                              [status]).fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="*", help="groups to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the groups and exit")
    parser.add_argument("--work", type=Path, default=Path("/tmp/custody-mutation"))
    parser.add_argument("--timeout", type=float, default=6 * 3600,
                        help="seconds a group may take in all; then the mutants tested "
                             "so far are counted, and the rest said to be untested")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--sample", type=int,
                        help="test this many mutants of each group, drawn at random")
    parser.add_argument("--seed", type=int, default=27, help="the draw's seed (--sample)")
    parser.add_argument("--strings", action="store_true",
                        help="mutate string literals too (messages, mostly: off by default)")
    args = parser.parse_args()
    if args.list:
        for name, (modules, tests) in GROUPS.items():
            print(f"{name:9} {' '.join(modules)}\n          tests: {' '.join(tests)}")
        return 0
    names = args.groups or list(GROUPS)
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        parser.error(f"no such group: {', '.join(unknown)}")
    python = prepare(args.work)
    outcomes = []
    for name in names:
        if args.sample:
            outcome = sample_group(python, args.work, name, args.timeout, args.strings,
                                   args.sample, args.seed)
        else:
            outcome = run_group(python, args.work, name, args.timeout, args.strings)
        outcomes.append(outcome)
        print(json.dumps({k: outcome.get(k) for k in ("group", "seconds", "finished",
                                                      "untested", "of", "modules")}),
              flush=True)
    killed = sum(c["killed"] for o in outcomes for c in o["modules"].values())  # type: ignore[attr-defined]
    survived = sum(c["survived"] for o in outcomes for c in o["modules"].values())  # type: ignore[attr-defined]
    print("\nmodule                 killed  survived  score")
    for outcome in outcomes:
        for module, c in sorted(outcome["modules"].items()):  # type: ignore[attr-defined]
            total = c["killed"] + c["survived"]
            print(f"{module:22} {c['killed']:6}  {c['survived']:8}  "
                  f"{c['killed'] / total:6.1%}" if total else f"{module:22} (none)")
    total = killed + survived
    print(f"{'all':22} {killed:6}  {survived:8}  {killed / total:6.1%}" if total else "none")
    if args.sample and total:  # a sample's score, with its 95% margin (normal approximation)
        share = killed / total
        print(f"sampled: {total} mutants tested; the whole's score is {share:.1%} "
              f"+/- {1.96 * math.sqrt(share * (1 - share) / total):.1%} (95%)")
    print("\nsurvivors:")
    for outcome in outcomes:
        for diff in outcome["survivors"]:  # type: ignore[attr-defined]
            print(diff, "\n")
    if args.json:
        args.json.write_text(json.dumps(outcomes, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
