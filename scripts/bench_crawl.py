"""Crawl speed and memory: custody against wget on the same local site, in one run.

    .venv/bin/python scripts/bench_crawl.py [--pages 400] [--latency 0.03] [--runs 3]
                                            [--scale 1000,10000]

The site (tests/sampleweb.crawl_site) has an index linking every page; each page has
a stylesheet, its own image and text from the seed documents; every request waits
``latency`` seconds; it is served from a process of its own, so that its threads do not
wait on this script's memory sampling. custody crawls it with `--depth 1 --concurrency
16`, extraction and sealing included, and wget with `wget -r -l 1 -p --warc-file`.
Prints the median pages/s of each over ``runs``, their ratio, custody's peak RSS (the
whole process tree, extraction workers included), pages/s at custody's default
settings, and the peak RSS of crawls of the sizes in ``--scale`` (no latency).
Goals from the issue: >= 8x wget's pages/s; peak RSS < 300 MB; the 10,000-page crawl's
peak RSS within 1.5x of the 1,000-page crawl's.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from custody.testing.site import SiteServer, crawl_site

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "data" / "seeds"

CUSTODY = str(REPO / ".venv" / "bin" / "custody")


def _children(pid: int) -> list[int]:
    """A process's children, from /proc/<pid>/task/*/children (Linux)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            pass
    return found


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
        todo += _children(current)
    return total


def _serve_site(pages: int, latency: float, conn: Any) -> None:
    with SiteServer(crawl_site(SEEDS, pages), latency=latency) as site:
        conn.send(site.url)
        conn.recv()  # until told to stop


@contextlib.contextmanager
def served(pages: int, latency: float) -> Iterator[str]:
    """The site, served from a process of its own: its threads do not share a GIL with
    this one's memory sampling (nor the tools' timing with it)."""
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    server = context.Process(target=_serve_site, args=(pages, latency, there), daemon=True)
    server.start()
    try:
        yield here.recv()
    finally:
        here.send("stop")
        server.join(10)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak tree RSS in MB, and stderr of a command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode not in (0, 8):  # wget exits 8 on any 404 (robots.txt here)
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {err[-2000:]}")
    return elapsed, peak // 1024, err


def custody_crawl(url: str, workdir: Path, env: dict[str, str], *args: str) -> tuple[float, int]:
    root = workdir / "evidence"
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([CUSTODY, "init", "--root", str(root)], env=env, check=True,
                   capture_output=True)
    elapsed, rss, _ = timed([CUSTODY, "archive", "--root", str(root), "--quiet", "--depth", "1",
                             *args, url], env)
    check = subprocess.run([CUSTODY, "verify", "--root", str(root)], env=env,
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit("verify failed after the benchmark crawl:\n" + check.stdout[-2000:])
    return elapsed, rss


def wget_crawl(url: str, workdir: Path) -> float:
    out = workdir / "wget"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    elapsed, _, _ = timed(["wget", "-q", "-r", "-l", "1", "-p", "--warc-file",
                           str(out / "crawl"), "-P", str(out), url])
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", default="1000,10000")
    args = parser.parse_args()
    pages = args.pages + 1  # the index is a page too

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = dict(os.environ, CUSTODY_KEY=str(workdir / "key"))
        env.pop("CUSTODY_KEY_PASSPHRASE", None)
        with served(args.pages, args.latency) as base:
            url = base + "/"
            custody_times, wget_times, rss, default_times = [], [], [], []
            for _ in range(args.runs):
                t, peak = custody_crawl(url, workdir, env, "--concurrency", "16")
                custody_times.append(t)
                rss.append(peak)
                wget_times.append(wget_crawl(url, workdir))
                default_times.append(custody_crawl(url, workdir, env)[0])
        c_rate = pages / statistics.median(custody_times)
        w_rate = pages / statistics.median(wget_times)
        d_rate = pages / statistics.median(default_times)
        print(f"site: {pages} pages (+{args.pages + 1} requisites), latency "
              f"{args.latency * 1000:.0f} ms, {args.runs} runs, medians")
        print(f"custody --depth 1 --concurrency 16  {c_rate:7.1f} pages/s  "
              f"({statistics.median(custody_times):.2f} s, peak RSS {max(rss)} MB)")
        print(f"wget -r -l 1 -p --warc-file         {w_rate:7.1f} pages/s  "
              f"({statistics.median(wget_times):.2f} s)")
        print(f"ratio custody / wget                {c_rate / w_rate:7.1f} x  (goal >= 8)")
        print(f"custody --depth 1 (defaults)        {d_rate:7.1f} pages/s")

        sizes = [int(s) for s in args.scale.split(",") if s.strip()]
        peaks = {}
        for size in sizes:
            with served(size, 0.0) as base:
                t, peak = custody_crawl(base + "/", workdir, env, "--concurrency", "16")
            peaks[size] = peak
            print(f"{size:6d}-page crawl: {t:6.1f} s, {(size + 1) / t:6.1f} pages/s, "
                  f"peak RSS {peak} MB")
        if len(sizes) == 2:
            small, large = peaks[sizes[0]], peaks[sizes[1]]
            print(f"peak RSS ratio {sizes[1]} / {sizes[0]} pages: {large / small:.2f} "
                  "(goal <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
