"""`custody archive --media` against yt-dlp alone, on the same HLS stream.

    .venv/bin/python scripts/bench_media.py [--mb 50] [--segment-kb 1024] [--latency 0.03]
                                            [--runs 3]

A local server answers each request after ``latency`` seconds; it serves a page with a
``<video>`` whose source is an HLS playlist of ``mb`` megabytes in segments of
``segment-kb`` (incompressible bytes: what yt-dlp's HLS downloader fetches and joins is
the same work whatever the segments encode). custody archives the page with --media
into a new archive each run -- the page, the playlist and every segment through its
recording proxy into the WARC, the joined file as a resource record, then sealing --
and yt-dlp alone downloads the same stream from the same page (as it does by default,
one segment at a time, and with -N 4, the four at once custody asks it for). Runs alternate; medians
of wall time and of peak RSS (and PSS) over each process tree are printed. The goal from
the issue: custody at most 1.2x yt-dlp's time at the same ``-N``, peak RSS under 300 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from custody.testing.bench import timed
from custody.testing.mediasite import stream_site
from custody.testing.site import SiteServer

BIN = Path(sys.executable).parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--segment-kb", type=int, default=1024)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    pages = stream_site(max(1, args.mb * 1024 // args.segment_kb), args.segment_kb * 1024)
    size = sum(len(p.body) for p in pages.values()) / 1e6
    results: dict[str, list] = {"custody": [], "yt-dlp": [], "yt-dlp -N 4": []}
    with tempfile.TemporaryDirectory() as tmp, SiteServer(pages, latency=args.latency) as site:
        url = site.url + "/watch"
        print(f"{os.cpu_count()} cores; {len(pages) - 2} segments, {size:.1f} MB, "
              f"{args.latency * 1000:.0f} ms per request")
        for run in range(args.runs):
            root = Path(tmp) / f"archive{run}"
            env = dict(os.environ, CUSTODY_ROOT=str(root), CUSTODY_KEY=str(Path(tmp) / "key"))
            env.pop("CUSTODY_KEY_PASSPHRASE", None)
            subprocess.run([BIN / "custody", "init", "--no-tsa"], env=env, check=True,
                           capture_output=True)
            results["custody"].append(timed([str(BIN / "custody"), "archive", "--quiet",
                                             "--media", url], env))
            out = Path(tmp) / f"yt{run}"
            results["yt-dlp"].append(timed([str(BIN / "yt-dlp"), "--quiet", "--no-progress",
                                            "--no-cache-dir", "-P", str(out), url]))
            results["yt-dlp -N 4"].append(timed([str(BIN / "yt-dlp"), "--quiet", "--no-progress",
                                                 "--no-cache-dir", "-N", "4", "-P",
                                                 str(Path(tmp) / f"yt4-{run}"), url]))
            fetched = sum(f.stat().st_size for f in out.iterdir())
            warcs = sum(p.stat().st_size for p in (root / "archive").rglob("*.warc.gz"))
            print(f"run {run + 1}: custody {results['custody'][-1].seconds:.2f} s "
                  f"(WARC {warcs / 1e6:.1f} MB), yt-dlp {results['yt-dlp'][-1].seconds:.2f} s "
                  f"(file {fetched / 1e6:.1f} MB)", flush=True)
    print(f"{'':10} {'median s':>9} {'RSS MB':>7} {'PSS MB':>7}")
    for name, runs in results.items():
        print(f"{name:10} {statistics.median(r.seconds for r in runs):>9.2f} "
              f"{statistics.median(r.rss_mb for r in runs):>7} "
              f"{statistics.median(r.pss_mb for r in runs):>7}")
    ratio = (statistics.median(r.seconds for r in results["custody"])
             / statistics.median(r.seconds for r in results["yt-dlp"]))
    same = (statistics.median(r.seconds for r in results["custody"])
            / statistics.median(r.seconds for r in results["yt-dlp -N 4"]))
    print(f"custody / yt-dlp: {ratio:.2f}x; custody / yt-dlp with custody's 4 segments at "
          f"once: {same:.2f}x (goal: at most 1.2x at the same -N; peak RSS under 300 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
