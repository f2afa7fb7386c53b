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
printed beside it). Each sampled mutant runs only the group's tests that execute its
line: one run of them all under coverage (subprocesses too, a process killed at a
fault point saving its data first) records which test reached which line. A mutant
on a line no test reaches is counted survived without a run.

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
                # (a sampled run found mutants these catch and the four before them do not:
                # checkpoint tokens, sealing over a cut log, a 404 seed, media notes, a dead
                # queue worker's seal)
                ["tests/test_crash.py", "tests/test_guards_alone.py",
                 "tests/test_import_overlap.py", "tests/test_resources.py",
                 "tests/test_evidence.py", "tests/test_every_byte.py", "tests/test_archive.py",
                 "tests/test_media.py", "tests/test_ledger_lines.py",
                 "tests/test_crawl.py::test_include_exclude_and_max_pages",
                 "tests/test_crawl.py::test_ctrl_c_seals_what_was_fetched_and_resume_finishes",
                 "tests/test_queue.py::test_a_worker_killed_while_sealing_leaves_one_capture",
                 # the note on a rendered page's server copy
                 "tests/test_browser.py::test_a_script_built_page_is_captured_as_a_person_saw_it"]),
    "verify": (["verify/captures.py", "verify/named.py", "verify/log_check.py",
                "verify/tree.py", "verify/leaf_lines.py"],
               ["tests/test_guards_alone.py", "tests/test_every_byte.py",
                "tests/test_tamper_matrix.py", "tests/test_verify.py",
                "tests/test_verify_blame.py", "tests/test_handover_fails.py",
                "tests/test_ledger_lines.py",
                "tests/test_pool.py::test_large_captures_are_judged_as_small_ones",
                "tests/test_verify_log_index.py",
                "tests/test_key_crash.py::test_a_handover_killed_while_logging_it_is_whole_after"]),
    "fencing": (["queue/sealing.py"],
                ["tests/test_queue_fence.py",
                 "tests/test_queue.py::test_a_killed_workers_job_is_taken_over_and_sealed_once",
                 "tests/test_queue.py::test_many_workers_sealing_at_once_keep_one_chain",
                 "tests/test_queue.py::"
                 "test_a_dead_workers_seal_lock_is_taken_at_once_a_live_ones_is_not",
                 "tests/test_queue.py::test_a_redis_that_lost_its_data_raises_its_fence_counter",
                 "tests/test_queue.py::"
                 "test_a_seal_leaves_its_fence_and_an_older_token_writes_nothing",
                 "tests/test_store.py::test_workers_keep_the_archive_in_the_store"]),
    "redaction": (["capture/redact.py", "report/secrets.py"],
                  ["tests/test_login.py", "tests/test_secrets.py"]),
}


def prepare(work: Path, rev: str = "HEAD") -> Path:
    """A copy of ``rev`` in ``work`` with its own venv; its python."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "venv", str(work / ".venv")], check=True)
    python = work / ".venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", f"{work}[test]",
                    "mutmut>=2.5,<3"], check=True)
    # the tools ./scripts/setup installs beside the venv (moto, pywb, the behaviours'
    # script), shared: without them the tests that need them skip, and their lines go
    # unreached
    tools = REPO / ".venv" / "tools"
    if tools.is_dir():
        (work / ".venv" / "tools").symlink_to(tools)
    return python


EXIT_PLUGIN = """import pytest


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if exitstatus not in (0, 5):  # passed, or no tests: anything else is a failure
        session.exitstatus = 1
"""


REV = "HEAD"  # the revision tested (--rev)


def restore(work: Path, paths: list[str]) -> None:
    """The files as the revision has them: mutmut, stopped, leaves its mutant in place."""
    archive = subprocess.run(["git", "archive", REV, *paths], cwd=REPO,
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


COVERAGE_PLUGIN = """import os


def pytest_runtest_setup(item):
    os.environ["CUSTODY_MUT_TEST"] = item.nodeid  # what subprocesses record as context
"""

# in the work folder's venv only, loaded by every Python process it starts: with
# MUT_COV_RC set, coverage starts, its static context the test that started the process
# (CUSTODY_MUT_TEST, set by the plugin above); and a process custody kills at a fault
# point (SIGKILL, to itself) saves what coverage saw first, else the lines it ran would
# seem reached by none
KILL_HOOK = """import os, signal
if os.environ.get("MUT_COV_RC"):
    import coverage
    _cov = coverage.Coverage(config_file=os.environ["MUT_COV_RC"], data_suffix=True,
                             auto_data=True,
                             context=os.environ.get("CUSTODY_MUT_TEST") or None)
    _cov.start()
    _kill = os.kill
    def _saving_kill(pid, sig):
        if pid == os.getpid() and sig == signal.SIGKILL:
            try:
                _cov.stop()
                _cov.save()
            except Exception:
                pass
        _kill(pid, sig)
    os.kill = _saving_kill
"""


def map_coverage(python: Path, work: Path, names: list[str]) -> dict[str, dict[int, set[str]]]:
    """Which tests reach which line of the groups' modules: {module path: {line: test ids}}."""
    tests = sorted({t for n in names for t in GROUPS[n][1]})
    subprocess.run([str(python), "-m", "pip", "install", "-q", "coverage>=7.10"], check=True)
    (work / "mut_context.py").write_text(COVERAGE_PLUGIN)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                           "'purelib'))"], capture_output=True, text=True, check=True)
    (Path(site.stdout.strip()) / "mut_kill_hook.pth").write_text(
        "import mut_kill_hook\n")
    (Path(site.stdout.strip()) / "mut_kill_hook.py").write_text(KILL_HOOK)
    data = work / ".cov"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    (work / ".coveragerc-mut").write_text(
        f"[run]\nparallel = True\ndata_file = {data}/cov\nsource = custody\n"
        # verify's workers are forked and end with os._exit: their lines count too
        "dynamic_context = test_function\npatch =\n    fork\n    _exit\n")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", CUSTODY_MUT_TEST="",
               MUT_COV_RC=str(work / ".coveragerc-mut"))
    subprocess.run([str(python), "-m",
                    "pytest", "-q", "-p", "no:cacheprovider", "-p", "mut_context", "-o",
                    "addopts=", "-n", "2", f"--basetemp={work}/.pytest-tmp", *tests],
                   cwd=work, env=env, check=False, stdout=subprocess.DEVNULL)
    env.pop("MUT_COV_RC")
    subprocess.run([str(python), "-m", "coverage", "combine", "--rcfile", ".coveragerc-mut",
                    "-q"], cwd=work, env=env, check=False)
    code = ("import json, sys, coverage\n"
            "d = coverage.CoverageData(sys.argv[1]); d.read()\n"
            "out = {}\n"
            "for f in d.measured_files():\n"
            "    if '/custody/' in f:\n"
            "        out[f.split('/src/')[-1]] = {n: sorted(c) for n, c in "
            "d.contexts_by_lineno(f).items()}\n"
            "print(json.dumps(out))")
    found = subprocess.run([str(python), "-c", code, str(data / "cov")], capture_output=True,
                           text=True, check=True, cwd=work)
    reached: dict[str, dict[int, set[str]]] = {}
    for module, lines in json.loads(found.stdout).items():
        reached[module] = {int(n): {t for c in contexts if (t := _test_of(c))}
                           for n, contexts in lines.items()}
    return reached


def _test_of(context: str) -> str | None:
    """A coverage context as a test to run: a subprocess's records its test's node id; the
    test process's, its function (test_module.test_name: every parameter of it); "*" for
    what ran outside any test (a module's own lines, when it is imported)."""
    static = context.split("|")[0]
    if "::" in static:
        return static
    dynamic = context.split("|")[-1]
    if not dynamic:  # run while no test ran: a module's own lines, run when it is imported
        return "*"
    module, _, function = dynamic.partition(".")
    return f"tests/{module}.py::{function.replace('.', '::')}"


def sample_group(python: Path, work: Path, name: str, timeout: float, strings: bool,
                 sample: int, seed: int, reached: dict[str, dict[int, set[str]]],
                 only: set[int] | None = None) -> dict[str, object]:
    """``sample`` of the group's mutants, drawn at random, each applied, tested (by the
    group's tests that reach its line), undone."""
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
    if only:  # these of the draw only (the same seed draws the same mutants)
        chosen = [m for m in chosen if m[0] in only]
    command = [str(python), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
               "-p", "mutmut_exit", "-o", "addopts=", f"--basetemp={work}/.pytest-tmp"]
    started = time.monotonic()
    in_group = tuple(t.split("::")[0] for t in tests)
    per_module: dict[str, dict[str, int]] = {}
    shown = []
    finished = True
    for pk, _status, filename, line in chosen:
        if time.monotonic() - started > timeout:
            finished = False
            break
        module = Path(filename).name
        counts = per_module.setdefault(module, {"killed": 0, "survived": 0, "other": 0})
        at = _statement_line(work / filename, line)
        reaching = reached.get(filename.split("src/")[-1], {}).get(at, set())
        chosen_tests = sorted(t for t in reaching if t.startswith(in_group) and _in(t, tests))
        if not chosen_tests and "*" in reaching:  # imported, then used by any of them
            chosen_tests = list(tests)
        if not chosen_tests:  # no test reaches the line: nothing can notice the change
            counts["survived"] += 1
            diff = subprocess.run([str(python), "-m", "mutmut", "show", str(pk)], cwd=work,
                                  capture_output=True, text=True, env=env).stdout
            changed = [d for d in diff.splitlines() if d[:2] in ("- ", "+ ")]
            shown.append(f"{pk} ({module}:{line}): no test reaches it\n" + "\n".join(changed))
            print(f"{name} {pk} {module}:{line} unreached", flush=True)
            continue
        diff = subprocess.run([str(python), "-m", "mutmut", "show", str(pk)], cwd=work,
                              capture_output=True, text=True, env=env).stdout
        subprocess.run([str(python), "-m", "mutmut", "apply", str(pk)], cwd=work, env=env,
                       check=True, capture_output=True)
        try:
            wide = ["-n", "2"] if chosen_tests == list(tests) else []  # the whole list
            test = subprocess.Popen([*command, *wide, *chosen_tests], cwd=work, env=env,
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            try:  # a mutant that makes the tests hang is one they notice
                code = test.wait(600)
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


def _statement_line(path: Path, line: int) -> int:
    """The first line of the innermost statement holding ``line``: where coverage records
    a statement written over several lines."""
    import ast

    best = line
    deepest = -1
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.stmt) and node.lineno <= line <= (node.end_lineno or 0) \
                and node.lineno > deepest:
            # a compound statement's body holds statements of its own, nearer the line
            deepest, best = node.lineno, node.lineno
    return best


def _in(test: str, group_tests: list[str]) -> bool:
    """A test id is one of the group's (a file of it, or a test named in it)."""
    return any(test == g or test.startswith(g + "::") or test.startswith(g + "[")
               or (("::" not in g) and test.startswith(g)) for g in group_tests)


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
    parser.add_argument("--rev", default="HEAD",
                        help="the commit to test (default HEAD; another run's, to test its "
                             "draw again)")
    parser.add_argument("--only", help="with --sample: test only these mutants of the draw "
                                       "(their numbers, comma-separated)")
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
    global REV
    REV = args.rev
    python = prepare(args.work, args.rev)
    reached = map_coverage(python, args.work, names) if args.sample else {}
    outcomes = []
    for name in names:
        if args.sample:
            outcome = sample_group(python, args.work, name, args.timeout, args.strings,
                                   args.sample, args.seed, reached,
                                   {int(n) for n in args.only.split(",")} if args.only
                                   else None)
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
