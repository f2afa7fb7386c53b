"""`custody check` against `warcio check`, and the time an import takes, in one run.

    .venv/bin/python scripts/bench_check.py [--runs 5] [--pages 3000] [--image-kb 64]

1. The corpora (tests/data/corpora, the same bytes as ../shared/corpora/warc): the
   verdict on each file -- what its README.txt says, what custody says, what `warcio
   check` says (its exit status; it reads no WACZ) -- and the time of one `custody
   check` and one `warcio check` over all the WARC and ARC files, medians of interleaved
   runs.
2. A crawl of custody's own (``pages`` pages, each with a photo of ``image-kb``
   incompressible bytes: about 200 MB of WARC at the defaults): `custody check` against
   `warcio check` on the same file, interleaved, medians and peak memory; the goal from
   the issue is at most 0.5x warcio's time.
3. `custody import` of that WARC into a fresh archive: the wall time, and where it goes
   (hash, check, copy, extract, seal, index), as the command reports it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from custody.testing.bench import timed
from custody.testing.site import SiteServer, crawl_site

REPO = Path(__file__).resolve().parent.parent
CORPORA = REPO / "tests" / "data" / "corpora"
SEEDS = REPO / "tests" / "data" / "seeds"
BIN = REPO / ".venv" / "bin"
BROKEN = {"example-bad-non-chunked.warc.gz", "example-wrong-chunks.warc.gz",
          "example-trunc.warc", "example-digest.warc", "invalid-warcfile-digest-fields.warc",
          "invalid-warcfile-duplicate-fields.warc", "invalid-warcfile-fields-missing.warc",
          "example.wacz", "invalid_example_1.wacz", "invalid_signed_example_1.wacz"}


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPORA.glob("*/*")
                  if p.name != "README.txt" and not p.name.endswith(".cdx.txt"))


def verdict_table(env: dict[str, str]) -> None:
    print("| file | README says | custody check | warcio check |")
    print("|---|---|---|---|")
    for path in corpus_files():
        custody = subprocess.run([str(BIN / "custody"), "check", "--json", str(path)],
                                 env=env, capture_output=True, text=True)
        status = json.loads(custody.stdout)["status"] if custody.stdout else "error"
        if path.suffix == ".wacz":
            warcio = "(reads no WACZ)"
        else:
            run = subprocess.run([str(BIN / "warcio"), "check", str(path)],
                                 capture_output=True, text=True)
            problems = run.stdout.count("failed") + run.stdout.count("exception")
            warcio = "passed" if run.returncode == 0 and not problems else \
                f"failed ({problems} reported)" if run.returncode else f"passed ({problems})"
        expected = "broken" if path.name in BROKEN else "valid"
        print(f"| {path.parent.name}/{path.name} | {expected} | {status} | {warcio} |")


def compare(label: str, files: list[str], env: dict[str, str], runs: int) -> None:
    commands = {"custody check": [str(BIN / "custody"), "check", *files],
                "warcio check": [str(BIN / "warcio"), "check", *files]}
    # peak memory from a run of its own: sampling /proc while timing would cost the time
    memory = {name: timed(cmd, env, ok=(0, 1)).pss_mb for name, cmd in commands.items()}
    results: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            start = time.perf_counter()
            subprocess.run(cmd, env=env, capture_output=True)
            results[name].append(time.perf_counter() - start)
    mb = sum(os.path.getsize(f) for f in files) / 1e6
    custody, warcio = (statistics.median(results[n]) for n in commands)
    print(f"\n{label}: {len(files)} files, {mb:.1f} MB; medians of {runs} interleaved runs, "
          f"{os.cpu_count()} cores")
    for name in commands:
        median = statistics.median(results[name])
        print(f"  {name:14} {median:7.3f} s  {mb / median:7.1f} MB/s  "
              f"peak PSS {memory[name]} MB")
    print(f"  ratio custody / warcio: {custody / warcio:.2f}  (goal <= 0.5 on the crawl)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--image-kb", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, CUSTODY_KEY=str(Path(tmp) / "key"),
                   CUSTODY_ROOT=str(Path(tmp) / "crawl"))
        env.pop("CUSTODY_KEY_PASSPHRASE", None)
        print("## Verdicts on the corpora\n")
        verdict_table(env)
        warcs = [str(p) for p in corpus_files() if p.suffix != ".wacz"]
        compare("The corpora's WARC and ARC files", warcs, env, args.runs)

        subprocess.run([str(BIN / "custody"), "init", "--no-tsa"], env=env, check=True,
                       capture_output=True)
        with SiteServer(crawl_site(SEEDS, args.pages,
                                   image_bytes=args.image_kb * 1024)) as site:
            subprocess.run([str(BIN / "custody"), "archive", "--quiet", "--depth", "1",
                            "--concurrency", "16", site.url + "/"], env=env, check=True,
                           capture_output=True)
        crawl = sorted(str(p) for p in (Path(tmp) / "crawl" / "archive").rglob("*.warc.gz"))
        compare(f"custody's own crawl ({args.pages} pages, {args.image_kb} KB photos)", crawl,
                env, args.runs)

        fresh = dict(env, CUSTODY_ROOT=str(Path(tmp) / "imports"))
        subprocess.run([str(BIN / "custody"), "init", "--no-tsa"], env=fresh, check=True,
                       capture_output=True)
        start = time.perf_counter()
        proc = subprocess.run([str(BIN / "custody"), "import", "--json", *crawl], env=fresh,
                              capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        result = json.loads(proc.stdout)[0]
        mb = sum(os.path.getsize(f) for f in crawl) / 1e6
        print(f"\nImport of the crawl's WARC ({mb:.0f} MB): {wall:.2f} s wall, "
              f"{result['records']} records, {result['documents']} documents indexed")
        for step, seconds in result["seconds"].items():
            print(f"  {step:8} {seconds:7.2f} s  {100 * seconds / wall:5.1f} %")
        rest = wall - sum(result["seconds"].values())
        print(f"  {'other':8} {rest:7.2f} s  {100 * rest / wall:5.1f} %  (start-up, log event)")
        verify = timed([str(BIN / "custody"), "verify"], fresh)
        print(f"  custody verify afterwards: {verify.seconds:.2f} s (passed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
