"""Speed of the basic path: `custody --help`, and one page archived with its requisites.

    .venv/bin/python scripts/bench_archive.py [--runs N]

Prints medians over N runs (default 15):
- `custody --help` wall time, as a user sees it (a new process each time);
- archiving one local page with its requisites, sealed and extracted and indexed,
  timed inside the process after start-up (imports done), and as a whole command.
Limits from the issue: --help < 0.3 s, one page < 1 s after start-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from custody.testing.site import SiteServer, build_site

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "data" / "seeds"

CUSTODY = str(REPO / ".venv" / "bin" / "custody")


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs

    help_times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([CUSTODY, "--help"], capture_output=True, check=True)
        help_times.append(time.perf_counter() - start)

    from custody.capture import run as capture
    from custody.core import keyfile
    from custody.core.archive import Archive

    in_process, whole_command = [], []
    with tempfile.TemporaryDirectory() as tmp, SiteServer(build_site(SEEDS)) as site:
        key_path = Path(tmp) / "key"
        key = keyfile.create_key(key_path)
        env = dict(os.environ, CUSTODY_KEY=str(key_path))
        for i in range(runs):
            root = Path(tmp) / f"a{i}"
            archive = Archive.create(root)
            archive.add_signer("bench@example.org", key.public_key())
            start = time.perf_counter()
            result = capture.start(archive, [site.url + "/en.html"], key=key,
                                 settings=capture.Settings())
            in_process.append(time.perf_counter() - start)
            assert result.status == "complete" and result.resources == 6, result
            start = time.perf_counter()
            subprocess.run([CUSTODY, "archive", "--root", str(root), site.url + "/ru.html"],
                           env=env, capture_output=True, check=True)
            whole_command.append(time.perf_counter() - start)

    print(f"runs: {runs}")
    print(f"custody --help                                 median {median_ms(help_times)}"
          f"  (limit 300 ms)")
    print(f"one page + 5 requisites, sealed, in-process    median {median_ms(in_process)}"
          f"  (limit 1000 ms)")
    print(f"one page + 5 requisites, whole command         median {median_ms(whole_command)}"
          f"  (includes interpreter start and imports)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
