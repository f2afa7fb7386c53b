"""Verification speed: `custody verify` against `warcio check` on the same WARC files.

    .venv/bin/python scripts/bench_verify.py [--pages 600] [--runs 9] [--image-kb 20]

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

Prints the medians, custody's ratio to warcio on the same files (goal from the issue:
<= 0.2 at 3000 pages with 64 KB photos), and MB/s.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from custody.testing.site import SiteServer, crawl_site
from custody.testing.tsa import LocalTSA

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "data" / "seeds"

BIN = REPO / ".venv" / "bin"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
    return elapsed


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
    subprocess.run([BIN / "custody", "init"], env=env, check=True, capture_output=True)
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = dict(os.environ, CUSTODY_KEY=str(Path(tmp) / "key"))
        base.pop("CUSTODY_KEY_PASSPHRASE", None)
        base.pop("PYTHONDONTWRITEBYTECODE", None)  # both tools start from cached bytecode
        archives: dict[str, tuple[dict[str, str], list[str]]] = {}
        with contextlib.ExitStack() as stack:
            authority = stack.enter_context(LocalTSA(Path(tmp) / "tsa"))
            site = stack.enter_context(
                SiteServer(crawl_site(SEEDS, args.pages, image_bytes=args.image_kb * 1024)))
            for name, tsa in (("with a timestamp token", authority), ("without a TSA", None)):
                root = Path(tmp) / name.replace(" ", "-")
                env = dict(base, CUSTODY_ROOT=str(root))
                archives[name] = env, make_archive(root, env, site.url, tsa)
        # with the key at hand verify would log a "verified" event: time it without
        times: dict[tuple[str, str], list[float]] = {}
        for env, warcs in archives.values():  # warm the caches for every tool
            bare = {k: v for k, v in env.items() if k != "CUSTODY_KEY"}
            timed([str(BIN / "custody"), "verify"], bare)
            timed([str(BIN / "warcio"), "check", *warcs], bare)
        for _ in range(args.runs):
            for name, (env, warcs) in archives.items():
                bare = {k: v for k, v in env.items() if k != "CUSTODY_KEY"}
                for tool, cmd in (("custody", [str(BIN / "custody"), "verify"]),
                                  ("jobs0", [str(BIN / "custody"), "verify", "--jobs", "0"]),
                                  ("warcio", [str(BIN / "warcio"), "check", *warcs])):
                    times.setdefault((name, tool), []).append(timed(cmd, bare))
                times.setdefault((name, "sha256"), []).append(sha256_of(warcs))
                times.setdefault((name, "inflate"), []).append(inflate_of(warcs))
                times.setdefault((name, "blocks"), []).append(inflate_of(warcs, digest=True))
        empty = Path(tmp) / "empty"
        empty_env = dict(base, CUSTODY_ROOT=str(empty))
        subprocess.run([BIN / "custody", "init"], env=empty_env, check=True,
                       capture_output=True)
        bare_empty = {k: v for k, v in empty_env.items() if k != "CUSTODY_KEY"}
        empty_times = [timed([str(BIN / "custody"), "verify"], bare_empty)
                       for _ in range(args.runs)]

        cores = len(os.sched_getaffinity(0))
        print(f"{args.pages + 1} pages, {args.image_kb} KB images; medians of {args.runs} "
              f"interleaved runs; {cores} cores")
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
        print(f"\ncustody verify of an empty archive: {statistics.median(empty_times):.3f} s "
              "(goal < 0.1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
