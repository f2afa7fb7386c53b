"""Verification speed: `custody verify` against `warcio check` on the same WARC files.

    .venv/bin/python scripts/bench_verify.py [--pages 600] [--runs 5]

Crawls a local site of ``pages`` pages (each with a stylesheet and a 20 KB image) into a
fresh archive, then
times, as whole commands, a full `custody verify` (signatures, chain, ledger and
checkpoint, every file and record digest, the database) and `warcio check` over the
capture's WARC files, and reads the same bytes once with plain sha256. Prints medians,
the ratio (goal: custody <= 0.5x warcio) and MB/s; and custody again with ``--jobs 0``,
in one process, as warcio runs.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from sampleweb import SiteServer, crawl_site  # noqa: E402

BIN = REPO / ".venv" / "bin"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image-kb", type=int, default=20,
                        help="incompressible bytes per page image, as photos are")
    parser.add_argument("--tsa", action="store_true",
                        help="timestamp the capture with a local TSA (openssl ts), so that "
                             "verify checks a token and its chain too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "evidence"
        env = dict(os.environ, CUSTODY_KEY=str(Path(tmp) / "key"), CUSTODY_ROOT=str(root))
        env.pop("CUSTODY_KEY_PASSPHRASE", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # both tools start from cached bytecode
        subprocess.run([BIN / "custody", "init"], env=env, check=True, capture_output=True)
        with contextlib.ExitStack() as stack:
            if args.tsa:
                from tsa import LocalTSA

                authority = stack.enter_context(LocalTSA(Path(tmp) / "tsa"))
                shutil.copy(authority.root_pem, root / "tsa-roots.pem")
                (root / "custody.toml").write_text(
                    f'[timestamp]\ntsa = ["{authority.url}"]\nroots = ["tsa-roots.pem"]\n')
            site = stack.enter_context(
                SiteServer(crawl_site(args.pages, image_bytes=args.image_kb * 1024)))
            subprocess.run([BIN / "custody", "archive", "--quiet", "--depth", "1",
                            "--concurrency", "16", site.url + "/"], env=env, check=True,
                           capture_output=True)
        warcs = sorted(str(p) for p in (root / "archive").rglob("*.warc.gz"))
        total = sum(os.path.getsize(w) for w in warcs)
        # verify records a "verified" event when the key is at hand; time it without
        bare = {k: v for k, v in env.items() if k != "CUSTODY_KEY"}
        custody_t, alone_t, warcio_t, sha_t = [], [], [], []
        timed([str(BIN / "custody"), "verify"], bare)  # warm the caches for both tools
        timed([str(BIN / "warcio"), "check", *warcs], bare)
        for _ in range(args.runs):
            custody_t.append(timed([str(BIN / "custody"), "verify"], bare))
            warcio_t.append(timed([str(BIN / "warcio"), "check", *warcs], bare))
            alone_t.append(timed([str(BIN / "custody"), "verify", "--jobs", "0"], bare))
            start = time.perf_counter()
            for w in warcs:
                digest = hashlib.sha256()
                with open(w, "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
            sha_t.append(time.perf_counter() - start)
        c, a, w, s = (statistics.median(x) for x in (custody_t, alone_t, warcio_t, sha_t))
        mb = total / 1e6
        print(f"{args.pages + 1} pages, {len(warcs)} WARC file(s), {mb:.1f} MB; "
              f"medians of {args.runs} runs" + ("; with an RFC 3161 token" if args.tsa else ""))
        print(f"custody verify (everything)  {c:6.3f} s  {mb / c:7.1f} MB/s  "
              f"({os.cpu_count()} cores; worker processes read the WARC files)")
        print(f"  the same, --jobs 0         {a:6.3f} s  {mb / a:7.1f} MB/s  "
              f"(one process; ratio {a / w:.2f})")
        print(f"warcio check                 {w:6.3f} s  {mb / w:7.1f} MB/s")
        print(f"plain sha256 of the bytes    {s:6.3f} s  {mb / s:7.1f} MB/s")
        print(f"ratio custody / warcio       {c / w:6.2f}   (goal <= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
