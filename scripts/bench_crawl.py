"""Crawl speed and memory: custody against wget on the same local site, in one run.

    .venv/bin/python scripts/bench_crawl.py [--pages 400] [--latency 0.03] [--runs 3]
                                            [--scale 1000,10000] [--concurrency 16]

The site (tests/sampleweb.crawl_site) has an index linking every page; each page has
a stylesheet, its own image and text from the seed documents; every request waits
``latency`` seconds; it is served from a process of its own, so that its threads do not
wait on this script's memory sampling. custody crawls it with `--depth 1 --concurrency
16` (``--concurrency``), extraction and sealing included, and wget with `wget -r -l 1 -p
--warc-file`.
Prints the median pages/s of each over ``runs``, their ratio, custody's peak RSS (the
whole process tree, extraction workers included), pages/s at custody's default
settings, and the peak RSS of crawls of the sizes in ``--scale`` (no latency).
Also the same requests by a bare httpx client at the same concurrency, storing
nothing: the ceiling on this machine. Goals from the issues: >= 15x wget's pages/s;
peak RSS < 300 MB; the 10,000-page crawl's peak RSS within 1.5x of the 1,000-page
crawl's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from custody.testing.bench import served, timed
from custody.testing.site import crawl_site

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "data" / "seeds"

CUSTODY = str(REPO / ".venv" / "bin" / "custody")


def custody_crawl(url: str, workdir: Path, env: dict[str, str], *args: str) -> tuple[float, int]:
    root = workdir / "evidence"
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([CUSTODY, "init", "--no-tsa", "--root", str(root)], env=env, check=True,
                   capture_output=True)
    run = timed([CUSTODY, "archive", "--root", str(root), "--quiet", "--depth", "1", *args,
                 url], env)
    check = subprocess.run([CUSTODY, "verify", "--root", str(root)], env=env,
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit("verify failed after the benchmark crawl:\n" + check.stdout[-2000:])
    return run.seconds, run.rss_mb


def wget_crawl(url: str, workdir: Path) -> float:
    out = workdir / "wget"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    # wget exits 8 on any 404 (robots.txt here)
    return timed(["wget", "-q", "-r", "-l", "1", "-p", "--warc-file", str(out / "crawl"),
                  "-P", str(out), url], ok=(0, 8)).seconds


def bare_fetch(url: str, threads: int = 16) -> float:
    """The ceiling: the same requests by httpx from ``threads`` threads in a fresh
    process, the index, then its pages, then what they link to on the site, storing and
    extracting nothing. What no crawler at that concurrency can beat on this machine."""
    script = f"""
import re, sys
from concurrent.futures import ThreadPoolExecutor
import httpx
client = httpx.Client(limits=httpx.Limits(max_connections={threads * 2}))
base = {url!r}
def links(path):
    response = client.get(base + path.lstrip("/"))
    html = "html" in response.headers.get("content-type", "")
    return re.findall(r'(?:src|href)="/?([^":#?]+)"', response.text) if html else []
pages = sorted(set(links("/")))
with ThreadPoolExecutor({threads}) as pool:
    found = {{link for more in pool.map(links, pages) for link in more}} - set(pages)
    list(pool.map(links, sorted(found)))
"""
    return timed([sys.executable, "-c", script]).seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", default="1000,10000")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="custody's --concurrency, and the bare client's threads")
    args = parser.parse_args()
    pages = args.pages + 1  # the index is a page too
    conc = args.concurrency

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = dict(os.environ, CUSTODY_KEY=str(workdir / "key"))
        env.pop("CUSTODY_KEY_PASSPHRASE", None)
        with served(crawl_site, SEEDS, args.pages, latency=args.latency) as base:
            url = base + "/"
            custody_times, wget_times, rss, default_times, bare_times = [], [], [], [], []
            for _ in range(args.runs):
                t, peak = custody_crawl(url, workdir, env, "--concurrency", str(conc))
                custody_times.append(t)
                rss.append(peak)
                wget_times.append(wget_crawl(url, workdir))
                default_times.append(custody_crawl(url, workdir, env)[0])
                bare_times.append(bare_fetch(url, conc))
        c_rate = pages / statistics.median(custody_times)
        w_rate = pages / statistics.median(wget_times)
        d_rate = pages / statistics.median(default_times)
        print(f"site: {pages} pages (+{args.pages + 1} requisites), latency "
              f"{args.latency * 1000:.0f} ms, {args.runs} runs, medians")
        print(f"custody --depth 1 --concurrency {conc:<3d} {c_rate:7.1f} pages/s  "
              f"({statistics.median(custody_times):.2f} s, peak RSS {max(rss)} MB)")
        print(f"wget -r -l 1 -p --warc-file         {w_rate:7.1f} pages/s  "
              f"({statistics.median(wget_times):.2f} s)")
        print(f"ratio custody / wget                {c_rate / w_rate:7.1f} x  (goal >= 15)")
        print(f"custody --depth 1 (defaults)        {d_rate:7.1f} pages/s")
        b_rate = pages / statistics.median(bare_times)
        print(f"bare httpx, {conc:3d} threads, no storage {b_rate:7.1f} pages/s  "
              f"({statistics.median(bare_times):.2f} s; {b_rate / w_rate:.1f} x wget: the ceiling)")

        sizes = [int(s) for s in args.scale.split(",") if s.strip()]
        peaks = {}
        for size in sizes:
            with served(crawl_site, SEEDS, size) as base:
                t, peak = custody_crawl(base + "/", workdir, env, "--concurrency", str(conc))
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
