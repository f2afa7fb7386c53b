"""`custody verify` on a large archive: its time and peak memory as the archive grows.

    .venv/bin/python scripts/bench_verify_scale.py [--captures 10] [--pages 3000] [--image-kb 64]

Archives the same local site (``pages`` pages, each with a photo of ``image-kb``
incompressible bytes: about 200 MB of WARC) ``captures`` times into one archive -- about
2 GB at the defaults -- and, after each doubling, times `custody verify` and `warcio
check` on all of it, with each one's peak RSS (and PSS) over its process tree: the goal
from the issue is a peak independent of the archive's size, under 200 MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from custody.testing.bench import timed
from custody.testing.site import SiteServer, crawl_site

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "data" / "seeds"
BIN = REPO / ".venv" / "bin"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--captures", type=int, default=10)
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--image-kb", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "archive"
        env = dict(os.environ, CUSTODY_KEY=str(Path(tmp) / "key"), CUSTODY_ROOT=str(root))
        env.pop("CUSTODY_KEY_PASSPHRASE", None)
        bare = {k: v for k, v in env.items() if k != "CUSTODY_KEY"}  # no log event
        subprocess.run([BIN / "custody", "init", "--no-tsa"], env=env, check=True,
                       capture_output=True)
        print(f"{os.cpu_count()} cores; each capture {args.pages} pages with "
              f"{args.image_kb} KB photos")
        print(f"{'captures':>8} {'GB':>6} {'verify s':>9} {'RSS MB':>7} {'PSS MB':>7} "
              f"{'warcio s':>9} {'ratio':>6}")
        with SiteServer(crawl_site(SEEDS, args.pages,
                                   image_bytes=args.image_kb * 1024)) as site:
            for number in range(1, args.captures + 1):
                subprocess.run([BIN / "custody", "archive", "--quiet", "--depth", "1",
                                "--concurrency", "16", site.url + "/"], env=env,
                               check=True, capture_output=True)
                if number & (number - 1) and number != args.captures:
                    continue  # measured at 1, 2, 4, 8... and the last
                warcs = sorted(str(p) for p in (root / "archive").rglob("*.warc.gz"))
                size = sum(os.path.getsize(w) for w in warcs) / 1e9
                verify = timed([str(BIN / "custody"), "verify"], bare)
                warcio = timed([str(BIN / "warcio"), "check", *warcs], bare)
                print(f"{number:>8} {size:>6.2f} {verify.seconds:>9.2f} {verify.rss_mb:>7} "
                      f"{verify.pss_mb:>7} {warcio.seconds:>9.2f} "
                      f"{verify.seconds / warcio.seconds:>6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
