"""`custody archive URL` of one small page, as a user runs it: a new process, the whole
command, a loopback page, into an archive that already holds captures.

    .venv/bin/python scripts/bench_archive_one.py [--runs 11] [--captures 20]
                                                  [--src DIR ...] [--lang en,fa,ru]

Each ``--src`` is a source tree (a ``src`` folder holding ``custody``) run with the same
interpreter through PYTHONPATH, so that two versions of custody can be compared on the
same machine at the same moment: the runs are interleaved (A, B, A, B...), each version
into an archive of its own grown alike beforehand, and the table gives the median of
each and its ratio to the first. Without ``--src``, this checkout's own ``src``.

The pages are bench_history.py's (``/p/N.html``, a page of its own for every N, in
English, Persian and Russian by N); ``--lang`` picks which of them are archived, in turn,
and the median is over all. Goal from issue 26: at most 0.5 s.
Set PYTHONDONTWRITEBYTECODE unset (as users have it), or every run compiles again.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_history  # the site and the growing, shared with it

REPO = Path(__file__).resolve().parent.parent
# bench_history's page N is in these languages by N % 5
PAGE_LANGUAGE = ("en", "fa", "ru", "fa", "fa")

# what the `custody` console script runs
CUSTODY = "import sys; from custody.cli import main; sys.exit(main())"
GROW_SCRIPT = """
import sys
from pathlib import Path
from custody.core import keyfile
from custody.core.archive import Archive
from custody.seal.archivists import found
sys.path.insert(0, sys.argv[1])
import bench_history
root, key_path, url, count = Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], int(sys.argv[5])
key = keyfile.create_key(key_path)
found(Archive.create(root), key, "bench@example.org")
bench_history.grow(root, key, url, 0, count)
"""


def _pages(languages: list[str], runs: int) -> list[int]:
    """Page numbers, a new one for every run, cycling through the languages asked for."""
    out: list[int] = []
    n = 1_000_000
    while len(out) < runs:
        if PAGE_LANGUAGE[n % len(PAGE_LANGUAGE)] == languages[len(out) % len(languages)]:
            out.append(n)
        n += 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--captures", type=int, default=20,
                        help="captures each archive holds before the timed runs")
    parser.add_argument("--src", action="append", help="a source tree (repeatable)")
    parser.add_argument("--lang", default="en,fa,ru")
    args = parser.parse_args()
    sources = [str(Path(s).resolve()) for s in (args.src or [str(REPO / "src")])]
    languages = args.lang.split(",")

    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    server = context.Process(target=bench_history._serve, args=(there,), daemon=True)
    server.start()
    url = here.recv()
    with tempfile.TemporaryDirectory(prefix="bench-archive-one-") as folder:
        try:
            return _measure(Path(folder), sources, languages, url, args)
        finally:
            here.close()
            server.terminate()


def _measure(work: Path, sources: list[str], languages: list[str], url: str,
             args: argparse.Namespace) -> int:
    envs, roots = [], []
    for i, source in enumerate(sources):
        root, key_path = work / f"evidence{i}", work / f"key{i}"
        env = dict(os.environ, PYTHONPATH=source, CUSTODY_KEY=str(key_path),
                   CUSTODY_OPERATOR="bench@example.org")
        subprocess.run([sys.executable, "-c", GROW_SCRIPT, str(Path(__file__).parent),
                        str(root), str(key_path), url, str(args.captures)],
                       env=env, check=True)
        envs.append(env)
        roots.append(root)
    times: list[list[float]] = [[] for _ in sources]
    pages = _pages(languages, args.runs)
    for page in pages:
        for i, source in enumerate(sources):
            cmd = [sys.executable, "-c", CUSTODY, "archive", "--root", str(roots[i]),
                   "--no-requisites", f"{url}/p/{page}.html"]
            began = time.perf_counter()
            done = subprocess.run(cmd, env=envs[i], capture_output=True, text=True)
            times[i].append(time.perf_counter() - began)
            if done.returncode != 0:
                raise SystemExit(f"{source}: exit {done.returncode}: {done.stderr[-2000:]}")

    print(f"`custody archive --no-requisites URL`, one small loopback page ({args.lang}), "
          f"into an archive of {args.captures}+ captures; {args.runs} runs each, interleaved")
    first = statistics.median(times[0])
    for source, samples in zip(sources, times, strict=True):
        middle = statistics.median(samples)
        by_language = {lang: statistics.median(
            [t for t, p in zip(samples, pages, strict=True)
             if PAGE_LANGUAGE[p % len(PAGE_LANGUAGE)] == lang]) for lang in languages}
        # each run against the first version's run beside it: steadier while others'
        # work comes and goes
        paired = statistics.median(t / f for t, f in zip(samples, times[0], strict=True))
        print(f"{source}: median {middle * 1000:.0f} ms  (min {min(samples) * 1000:.0f}, "
              f"max {max(samples) * 1000:.0f})  ratio {middle / first:.2f}  paired ratio "
              f"{paired:.2f}  by language: "
              + ", ".join(f"{lang} {t * 1000:.0f}" for lang, t in by_language.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
