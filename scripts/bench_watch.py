"""Benchmark the watch scheduler: 10,000 watched URLs at a 1-hour interval.

What it measures, plainly:

1. Adding the watches: each one a signed ``watch-added`` event (custody.watch.add_watches),
   timed.
2. The scheduler's own cost at that scale, as a SCALED run: the real Runner (its sync of
   the watches from custody.db, its schedule in .custody/watch/state.db, claim and done
   transactions with synchronous=FULL, politeness, the loop's sleeps) on a clock that runs
   ``--scale`` times faster than the wall, for ``--hours`` simulated hours, in a process of
   its own. Each run's capture is replaced by one GET of the page from a loopback site
   served by another process (a sealed capture of every URL would be the capture's cost,
   measured apart in 3); the CPU those GETs take is counted apart and taken out. Reported:
   CPU seconds per simulated hour (as a share of one core over a real hour), peak memory,
   and how late runs start (simulated seconds after they were due), p50/p99/max, in the
   first hour (every watch new: each due at once) and in the hours after.
3. One sealed capture per watch run through the real path (watch run --once on 20
   watches): its CPU and wall time, so how many URLs one scheduler keeps up with per hour.

    .venv/bin/python scripts/bench_watch.py                     # 10,000 watches
    .venv/bin/python scripts/bench_watch.py --watches 2000 --scale 60
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def _serve(conn: Any) -> None:
    from custody.testing.changing import ChangingSite

    with ChangingSite() as site:
        conn.send(site.url)
        conn.recv()


def _archive(base: Path) -> tuple[Any, Any, str]:
    os.environ.update({"CUSTODY_ROOT": str(base / "evidence"),
                       "CUSTODY_KEY": str(base / "keys" / "id_ed25519"),
                       "XDG_CONFIG_HOME": str(base / "config")})
    from click.testing import CliRunner

    from custody.cli import main
    from custody.cli.common import archivist
    from custody.core.archive import Archive

    result = CliRunner().invoke(main, ["init", "--no-tsa", "--operator", "bench@example.org"])
    assert result.exit_code == 0, result.output
    arch = Archive.open(base / "evidence")
    key, who = archivist(arch)
    return arch, key, who


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def scheduler_only(root: str, scale: float, hours: float) -> None:
    """In a process of its own: the scaled run (2); prints one JSON line."""
    import httpx

    from custody.cli.common import archivist
    from custody.core.archive import Archive
    from custody.watch import Outcome, Runner
    from custody.watch.watches import Watch

    arch = Archive.open(root)
    key, who = archivist(arch)
    start_wall = time.time()

    def clock() -> float:
        return start_wall + (time.time() - start_wall) * scale

    late: list[tuple[float, float]] = []  # (simulated seconds since start, lateness)
    fetch_cpu = [0.0]
    marks: dict[str, float] = {}  # CPU and fetch CPU when the first simulated hour ended
    client = httpx.Client(timeout=10)

    class LoopbackRunner(Runner):
        def perform(self, watch: Watch, number: int, job: str) -> Outcome:
            slot = self.state.slot(watch.id)
            now = self.clock()
            if slot is not None:
                late.append((now - start_wall, now - slot.next_due))
            if now - start_wall >= 3600 and not marks:
                marks.update(cpu=time.process_time(), fetch=fetch_cpu[0])
            before = time.thread_time()
            client.get(watch.url)
            fetch_cpu[0] += time.thread_time() - before
            self.mark_done(watch, number, job, status="same", last_capture=None,
                           text_capture=None, change_seq=None)
            return Outcome(watch.id, watch.url, None, "same")

    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        peak[0] = max(peak[0], int(line.split()[1]))
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    runner = Runner.__new__(LoopbackRunner)
    Runner.__init__(runner, arch, key=key, who=who, host_gap=0.0, clock=clock,
                    sleep=lambda seconds: time.sleep(seconds / scale))
    cpu0 = time.process_time()
    end = hours * 3600
    runner.loop(lambda: clock() - start_wall >= end, poll=5.0)
    cpu = time.process_time() - cpu0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    stop.set()
    runner.close()
    first = [v for t, v in late if t < 3600]
    after = [v for t, v in late if t >= 3600]
    later_cpu = (time.process_time() - marks["cpu"]) - (fetch_cpu[0] - marks["fetch"]) \
        if marks else 0.0
    print(json.dumps({
        "runs": len(late), "cpu_s": cpu, "fetch_cpu_s": fetch_cpu[0], "peak_rss_mb": peak[0] / 1024,
        "user_s": usage.ru_utime, "system_s": usage.ru_stime,
        "later_own_cpu_s": later_cpu, "later_hours": max(0.0, hours - 1),
        "first_hour": {"runs": len(first), "p50": _percentile(first, 50),
                       "p99": _percentile(first, 99), "max": max(first, default=0)},
        "later": {"runs": len(after), "p50": _percentile(after, 50),
                  "p99": _percentile(after, 99), "max": max(after, default=0)}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watches", type=int, default=10_000)
    parser.add_argument("--scale", type=float, default=30.0,
                        help="simulated seconds per real second (default 30: an hour in 2 min)")
    parser.add_argument("--hours", type=float, default=2.0, help="simulated hours (default 2)")
    parser.add_argument("--real", type=int, default=20, help="sealed watch runs to time (3)")
    parser.add_argument("--scheduler-only", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scheduler_only:
        scheduler_only(args.scheduler_only, args.scale, args.hours)
        return
    from custody.annotate import Signer
    from custody.watch import Runner, add_watches

    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    server = context.Process(target=_serve, args=(there,), daemon=True)
    server.start()
    url = here.recv()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
            arch, key, who = _archive(Path(tmp) / "scale")
            started, cpu = time.perf_counter(), time.process_time()
            step = 500
            for first in range(0, args.watches, step):
                add_watches(arch, [f"{url}/w/{i}" for i in range(first, min(first + step,
                                                                         args.watches))],
                            every="1h", signer=Signer(key, who))
            added = time.perf_counter() - started, time.process_time() - cpu
            print(f"1. added {args.watches} watches (one signed event each) in "
                  f"{added[0]:.1f} s ({added[1]:.1f} s CPU), "
                  f"{added[0] / args.watches * 1000:.1f} ms each")
            done = subprocess.run(
                [sys.executable, __file__, "--scheduler-only", str(arch.root),
                 "--scale", str(args.scale), "--hours", str(args.hours)],
                capture_output=True, text=True, check=True, env=os.environ)
            found = json.loads(done.stdout.strip().splitlines()[-1])
            own = found["cpu_s"] - found["fetch_cpu_s"]
            per_hour = own / args.hours
            print(f"2. scaled run ({args.scale:g}x, {args.hours:g} simulated hours, "
                  f"{found['runs']} runs): scheduler CPU {per_hour:.1f} s per simulated hour "
                  f"= {per_hour / 3600 * 100:.2f}% of a core (loopback GETs "
                  f"{found['fetch_cpu_s']:.1f} s CPU, left out; the process's user "
                  f"{found['user_s']:.1f} s, system {found['system_s']:.1f} s); peak RSS "
                  f"{found['peak_rss_mb']:.0f} MB")
            if found["later_hours"]:
                steady = found["later_own_cpu_s"] / found["later_hours"]
                print(f"   after the first hour (each watch once an hour): {steady:.1f} s "
                      f"per simulated hour = {steady / 3600 * 100:.2f}% of a core")
            for name in ("first_hour", "later"):
                one = found[name]
                print(f"   {name.replace('_', ' ')}: {one['runs']} runs; start lateness "
                      f"p50 {one['p50']:.1f} s, p99 {one['p99']:.1f} s, max {one['max']:.1f} s "
                      "(simulated)")
            arch2, key2, who2 = _archive(Path(tmp) / "real")
            add_watches(arch2, [f"{url}/w/{i}" for i in range(args.real)], every="1h",
                        signer=Signer(key2, who2))
            runner = Runner(arch2, key=key2, who=who2, host_gap=0.0)
            started, cpu = time.perf_counter(), time.process_time()
            outcomes = runner.run_due().outcomes
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            runner.close()
            sealed = [o for o in outcomes if o.capture_id]
            each = wall / max(1, len(sealed))
            print(f"3. {len(sealed)} sealed watch runs: {each * 1000:.0f} ms each "
                  f"({cpu / max(1, len(sealed)) * 1000:.0f} ms CPU): one scheduler keeps up "
                  f"with about {int(3600 / each):,} watched URLs an hour on this machine "
                  f"(median outcome: {statistics.mode(o.status for o in outcomes)})")
    finally:
        here.send("stop")
        server.join(10)


if __name__ == "__main__":
    main()
