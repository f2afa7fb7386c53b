"""Verification speed: `custody verify` against `warcio check` on the same WARC files.

    .venv/bin/python scripts/bench_verify.py [--pages 600] [--runs 9] [--image-kb 20]
        [--text seed|varied] [--baseline SRC]

Crawls a local site of ``pages`` pages (each with a stylesheet and an image of
``image-kb`` incompressible bytes, as photos are) into two fresh archives: one whose
capture is timestamped by a local TSA (openssl ts), as a capture made with `--tsa` is,
and one without a TSA. Then, in one run, interleaved, it times as whole commands:

- a full `custody verify` of each (signatures, the chain, the ledger and its
  checkpoint, the custody log, every file and record digest, the database; and the
  RFC 3161 token with its certificate chain, where there is one), with the default
  workers and with ``--jobs 0`` (everything in one process, as warcio runs);
- `warcio check` over each archive's WARC files;
- plain sha256 over the same bytes, in this process, and zlib inflate of each member
  alone and with the sha256 of what it inflates to: the physical limits. verify must do
  at least the file's sha256 and each record block's, so their sum over the cores is the
  least it can take.

``--text varied`` gives the pages varied text (custody.testing.varied: eight languages,
a Zipf vocabulary of 300,000 words) instead of the seed paragraphs repeated, for what
reads the text: the search index's comparison above all. ``--baseline SRC`` times the
`custody verify` of another source tree too (SRC holds its ``custody`` package, as
``git archive COMMIT src | tar -x`` gives it), interleaved with this one's.

Prints the medians, custody's ratio to warcio on the same files (goal from the issues:
<= 0.3 on any text), MB/s, the CPU time of each command (all its processes), and that
of the search index's comparison alone, in this process, over the ranges verify uses.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from custody.testing.site import SiteServer, crawl_site
from custody.testing.tsa import LocalTSA
from custody.testing.varied import varied_site

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "data" / "seeds"

BIN = REPO / ".venv" / "bin"


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user and system, of the command's every process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu


def search_index_cpu(root: Path) -> float:
    """The search index's comparison alone: CPU seconds over the ranges verify uses, all
    in one fresh process (whose caches start empty, as verify's do)."""
    out = subprocess.run([sys.executable, __file__, "--index-cpu", str(root)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout)


def print_index_cpu(root: Path) -> None:
    from custody.verify.pool import default_workers
    from custody.verify.report import PASSED, Report
    from custody.verify.search_index import check_search_index, ranges

    db = root / "custody.db"
    start = time.process_time()
    report = Report(str(root))
    for between in ranges(db, None, default_workers() + 1):
        check_search_index(db, report, None, between)
    assert all(c.outcome == PASSED for c in report.checks), report.checks
    print(time.process_time() - start)


def sha256_of(paths: list[str]) -> float:
    start = time.perf_counter()
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return time.perf_counter() - start


def inflate_of(paths: list[str], digest: bool = False) -> float:
    """zlib alone over the same bytes, member by member: the other physical limit;
    ``digest``: with the sha256 of what each member inflates to (a record's block, which
    verify recomputes), the least any check of the blocks can cost."""
    import zlib

    start = time.perf_counter()
    for path in paths:
        data = memoryview(Path(path).read_bytes())
        at = 0
        while at < len(data):
            inflater = zlib.decompressobj(wbits=31)
            block = hashlib.sha256()
            used = 0
            while not inflater.eof and at + used < len(data):
                chunk = data[at + used : at + used + 65536]
                out = inflater.decompress(chunk)
                if digest:
                    block.update(out)
                used += len(chunk) - len(inflater.unused_data)
            at += used
    return time.perf_counter() - start


def make_archive(root: Path, env: dict[str, str], site_url: str,
                 authority: LocalTSA | None) -> list[str]:
    subprocess.run([BIN / "custody", "init", "--no-tsa"], env=env, check=True, capture_output=True)
    if authority is not None:
        shutil.copy(authority.root_pem, root / "tsa-roots.pem")
        (root / "custody.toml").write_text(
            f'[timestamp]\ntsa = ["{authority.url}"]\nroots = ["tsa-roots.pem"]\n')
    subprocess.run([BIN / "custody", "archive", "--quiet", "--depth", "1",
                    "--concurrency", "16", site_url + "/"], env=env, check=True,
                   capture_output=True)
    if authority is not None:
        assert list((root / "manifests").glob("*.json.tsr")), "the TSA gave no token"
    return sorted(str(p) for p in (root / "archive").rglob("*.warc.gz"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--image-kb", type=int, default=20,
                        help="incompressible bytes per page image, as photos are")
    parser.add_argument("--text", choices=("seed", "varied"), default="seed",
                        help="the seed paragraphs repeated, or varied text (see above)")
    parser.add_argument("--baseline", type=Path,
                        help="a source tree whose custody verify is timed alongside")
    parser.add_argument("--index-cpu", type=Path, help=argparse.SUPPRESS)  # see above
    args = parser.parse_args()
    if args.index_cpu:
        print_index_cpu(args.index_cpu)
        return 0
    make_site = crawl_site if args.text == "seed" else varied_site
    with tempfile.TemporaryDirectory() as tmp:
        base = dict(os.environ, CUSTODY_KEY=str(Path(tmp) / "key"))
        base.pop("CUSTODY_KEY_PASSPHRASE", None)
        base.pop("PYTHONDONTWRITEBYTECODE", None)  # both tools start from cached bytecode
        archives: dict[str, tuple[dict[str, str], list[str]]] = {}
        with contextlib.ExitStack() as stack:
            authority = stack.enter_context(LocalTSA(Path(tmp) / "tsa"))
            site = stack.enter_context(
                SiteServer(make_site(SEEDS, args.pages, image_bytes=args.image_kb * 1024)))
            for name, tsa in (("with a timestamp token", authority), ("without a TSA", None)):
                root = Path(tmp) / name.replace(" ", "-")
                env = dict(base, CUSTODY_ROOT=str(root))
                archives[name] = env, make_archive(root, env, site.url, tsa)
        # with the key at hand verify would log a "verified" event: time it without
        times: dict[tuple[str, str], list[float]] = {}
        cpus: dict[tuple[str, str], list[float]] = {}
        for env, warcs in archives.values():  # warm the caches for every tool
            bare = {k: v for k, v in env.items() if k != "CUSTODY_KEY"}
            timed([str(BIN / "custody"), "verify"], bare)
            timed([str(BIN / "warcio"), "check", *warcs], bare)
        for _ in range(args.runs):
            for name, (env, warcs) in archives.items():
                bare = {k: v for k, v in env.items() if k != "CUSTODY_KEY"}
                runs = [("custody", [str(BIN / "custody"), "verify"], bare),
                        ("jobs0", [str(BIN / "custody"), "verify", "--jobs", "0"], bare),
                        ("warcio", [str(BIN / "warcio"), "check", *warcs], bare)]
                if args.baseline:
                    runs.append(("baseline", [str(BIN / "custody"), "verify"],
                                 dict(bare, PYTHONPATH=str(args.baseline.resolve()))))
                for tool, cmd, tool_env in runs:
                    wall, cpu = timed(cmd, tool_env)
                    times.setdefault((name, tool), []).append(wall)
                    cpus.setdefault((name, tool), []).append(cpu)
                times.setdefault((name, "sha256"), []).append(sha256_of(warcs))
                times.setdefault((name, "inflate"), []).append(inflate_of(warcs))
                times.setdefault((name, "blocks"), []).append(inflate_of(warcs, digest=True))
        index_cpu = {name: statistics.median(search_index_cpu(Path(env["CUSTODY_ROOT"]))
                                             for _ in range(3))
                     for name, (env, _) in archives.items()}
        empty = Path(tmp) / "empty"
        empty_env = dict(base, CUSTODY_ROOT=str(empty))
        subprocess.run([BIN / "custody", "init", "--no-tsa"], env=empty_env, check=True,
                       capture_output=True)
        bare_empty = {k: v for k, v in empty_env.items() if k != "CUSTODY_KEY"}
        empty_times = [timed([str(BIN / "custody"), "verify"], bare_empty)[0]
                       for _ in range(args.runs)]

        cores = len(os.sched_getaffinity(0))
        print(f"{args.pages + 1} pages, {args.image_kb} KB images, {args.text} text; medians "
              f"of {args.runs} interleaved runs; {cores} cores")
        for name, (_, warcs) in archives.items():
            mb = sum(os.path.getsize(w) for w in warcs) / 1e6
            c, a, w, s = (statistics.median(times[(name, t)])
                          for t in ("custody", "jobs0", "warcio", "sha256"))
            print(f"\n{name}: {len(warcs)} WARC file(s), {mb:.1f} MB")
            print(f"  custody verify (everything)  {c:6.3f} s  {mb / c:7.1f} MB/s")
            print(f"    the same, --jobs 0         {a:6.3f} s  {mb / a:7.1f} MB/s"
                  f"  (ratio {a / w:.2f})")
            print(f"  warcio check                 {w:6.3f} s  {mb / w:7.1f} MB/s")
            z = statistics.median(times[(name, "inflate")])
            print(f"  plain sha256 of the bytes    {s:6.3f} s  {mb / s:7.1f} MB/s")
            print(f"  zlib inflate of the bytes    {z:6.3f} s  {mb / z:7.1f} MB/s")
            b = statistics.median(times[(name, "blocks")])
            floor = (s + b) / cores
            print(f"  inflate + sha256 of blocks   {b:6.3f} s  {mb / b:7.1f} MB/s")
            print(f"  the least the file and block digests cost on {cores} cores: "
                  f"{floor:.3f} s ({floor / w:.2f} of warcio)")
            print(f"  ratio custody / warcio       {c / w:6.2f}")
            if args.baseline:
                b = statistics.median(times[(name, "baseline")])
                print(f"  baseline custody verify      {b:6.3f} s  (ratio {b / w:.2f})")
            used = {tool: statistics.median(cpus[(name, tool)]) for tool in
                    ("custody", "warcio", *(["baseline"] if args.baseline else []))}
            print("  CPU s: " + ", ".join(f"{tool} {v:.2f}" for tool, v in used.items())
                  + f"; the search index's comparison alone {index_cpu[name]:.2f} "
                  f"({index_cpu[name] / used['custody']:.0%} of verify's)")
        print(f"\ncustody verify of an empty archive: {statistics.median(empty_times):.3f} s "
              "(goal < 0.1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
