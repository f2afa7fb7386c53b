"""`custody verify` of archives of many captures: time per capture and peak memory.

    .venv/bin/python scripts/bench_verify_growth.py ROOT [ROOT...] [--jobs N] [--runs 3]

Each ROOT is an archive (or a folder holding ``evidence/`` and ``key``), such as
``scripts/bench_history.py --root DIR`` leaves at each size. Each is copied to a
temporary folder first (verify writes nothing, but a copy keeps the original as it is),
then `custody verify` runs ``--runs`` times as a whole command, without the key (a third
party's check: no log event). Prints, by archive: captures, median wall time, time per
capture, and the peak RSS and PSS of the process tree (PSS counts shared pages once).

Goals from the issue: verify linear -- its time per capture at 100,000 captures within
1.3x of that at 1,000 -- and its memory flat.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from custody.testing.bench import timed

REPO = Path(__file__).resolve().parent.parent
CUSTODY = str(REPO / ".venv" / "bin" / "custody")


def captures_of(root: Path) -> int:
    with open(root / "manifests" / "ledger" / "leaves", "rb") as fh:
        return sum(1 for _ in fh)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("roots", nargs="+", type=Path)
    parser.add_argument("--jobs", type=int, help="verify --jobs (default: verify's own)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for given in args.roots:
        source = given / "evidence" if (given / "evidence").is_dir() else given
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "evidence"
            shutil.copytree(source, root, symlinks=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
            env["XDG_CONFIG_HOME"] = tmp  # no key at hand: nothing is written
            cmd = [CUSTODY, "verify", "--root", str(root)]
            if args.jobs is not None:
                cmd += ["--jobs", str(args.jobs)]
            runs = [timed(cmd, env=env) for _ in range(args.runs)]
            n = captures_of(root)
            wall = statistics.median(r.seconds for r in runs)
            rows.append({"captures": n, "seconds": round(wall, 2),
                         "ms_per_capture": round(wall / n * 1000, 3),
                         "rss_mb": max(r.rss_mb for r in runs),
                         "pss_mb": max(r.pss_mb for r in runs)})
            print(json.dumps(rows[-1]), flush=True)
    base = rows[0]
    print(f"\n{'captures':>9} {'median s':>9} {'ms/capture':>11} {'x first':>8} "
          f"{'peak RSS MB':>12} {'peak PSS MB':>12}")
    for row in rows:
        ratio = row["ms_per_capture"] / base["ms_per_capture"]
        print(f"{row['captures']:>9} {row['seconds']:>9} {row['ms_per_capture']:>11} "
              f"{ratio:>8.2f} {row['rss_mb']:>12} {row['pss_mb']:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
