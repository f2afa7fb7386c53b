#!/usr/bin/env python3
"""What one pool mechanism for both verify and extraction would cost: the time from
asking for workers to the first result, for verify's fork pool and for the spawn
ProcessPoolExecutor extraction uses, each with the job a verify worker first runs.

    .venv/bin/python scripts/bench_pool.py [--runs 15]

Extraction cannot use a fork pool (it starts beside the crawl's threads, and a fork copies
their locks); so the question is whether verify could use extraction's. Each run is a
fresh interpreter (start-up is the point), and the two kinds alternate; medians printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

FORK = """
import json, sys, time
t0 = time.perf_counter()
from custody.verify.pool import Pool
def job():
    import custody.verify.records  # what a verify worker reads WARC parts with
    return 1
with Pool([job, job], 2) as pool:
    pool.result(0); pool.result(1)
print(json.dumps(time.perf_counter() - t0))
"""

SPAWN = """
import json, multiprocessing, sys, time
from concurrent.futures import ProcessPoolExecutor
def job():
    import custody.verify.records
    return 1
if __name__ == "__main__":
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(job), pool.submit(job)]
        [f.result() for f in futures]
    print(json.dumps(time.perf_counter() - t0))
"""


def once(code: str, tmp: str) -> float:
    path = f"{tmp}/bench_pool_job.py"
    with open(path, "w") as fh:
        fh.write(code)
    out = subprocess.run([sys.executable, path], capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout))


def main() -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    fork, spawn = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            fork.append(once(FORK, tmp))
            spawn.append(once(SPAWN, tmp))
    f, s = statistics.median(fork), statistics.median(spawn)
    print(f"verify's fork pool, 2 workers, first two results:        {f * 1000:7.1f} ms")
    print(f"a spawn ProcessPoolExecutor, 2 workers, same two jobs:    {s * 1000:7.1f} ms")
    print(f"spawn / fork: {s / f:.1f}x (medians of {args.runs} interleaved runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
