"""What the benchmarks in scripts/ share: a site served from a process of its own, and a
command timed with the peak memory and the CPU time of its whole process tree."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .site import Page, SiteServer


def tree(pid: int) -> list[int]:
    """A process and all its descendants, from /proc/<pid>/task/*/children (Linux)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                children = f"/proc/{current}/task/{task}/children"
                with contextlib.suppress(OSError, ValueError), open(children) as fh:
                    todo += [int(c) for c in fh.read().split()]
    return found


def memory_kb(pid: int) -> tuple[int, int]:
    """RSS and PSS of a process tree, in kB: RSS summed over the processes, and PSS,
    which counts the memory they share once."""
    rss = pss = 0
    for member in tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{member}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return rss, pss


def cpu_seconds(pid: int) -> tuple[str, float] | None:
    """A process's kind (chromium, python, node...: its executable's name) and the CPU
    time it has used so far, user and system; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
        kind = Path(os.readlink(f"/proc/{pid}/exe")).name
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return kind, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Timed:
    seconds: float
    rss_mb: int  # peak, summed over the process tree
    pss_mb: int  # peak, shared memory counted once
    stderr: str
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process kind
    cpu_total: float = 0.0  # of the whole tree, as the kernel counted it once it ended

    def cpu_line(self) -> str:
        """Its CPU time, in all and by kind of process (largest first); what sampling
        missed (processes that lived under its 50 ms) is the rest."""
        kinds = sorted(self.cpu.items(), key=lambda item: -item[1])
        # the kernel counts a process for the tree only when its parent waited for it:
        # Chromium's, ended after their parent, were never counted, and sampling saw them
        total = max(self.cpu_total, sum(self.cpu.values()))
        rest = total - sum(self.cpu.values())
        return (f"CPU {total:.1f} s: "
                + ", ".join(f"{kind} {seconds:.1f}" for kind, seconds in kinds)
                + (f", short-lived {rest:.1f}" if rest >= 0.05 else ""))


def timed(cmd: list[str], env: dict[str, str] | None = None,
          ok: tuple[int, ...] = (0,)) -> Timed:
    """Run the command; its wall time, and the peak memory and CPU time of its process
    tree, sampled every 50 ms (a process's CPU as last seen: what one that lived under
    50 ms used is missed). SystemExit when its exit code is not one of ``ok``."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    peak = [0, 0]
    used: dict[int, tuple[str, float]] = {}  # by process: its kind and CPU time, last seen
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, pss = memory_kb(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            for member in tree(proc.pid):
                seen = cpu_seconds(member)
                if seen is not None:  # (the kind as last seen: a wrapper script execs)
                    used[member] = seen
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}): {err[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu: dict[str, float] = {}
    for kind, seconds in used.values():
        cpu[kind] = cpu.get(kind, 0.0) + seconds
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timed(elapsed, peak[0] // 1024, peak[1] // 1024, err, cpu, total)


def _serve(site: Callable[..., dict[str, Page]], args: tuple[Any, ...], latency: float,
           conn: Any) -> None:
    with SiteServer(site(*args), latency=latency) as server:
        conn.send(server.url)
        conn.recv()  # until told to stop


@contextlib.contextmanager
def served(site: Callable[..., dict[str, Page]], *args: Any,
           latency: float = 0.0) -> Iterator[str]:
    """The pages ``site(*args)`` makes (``site`` a module-level function), served from a
    process of its own, so that its threads do not share a GIL with the memory sampling
    nor the timing; its base URL."""
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    server = context.Process(target=_serve, args=(site, args, latency, there), daemon=True)
    server.start()
    try:
        yield here.recv()
    finally:
        here.send("stop")
        server.join(10)
