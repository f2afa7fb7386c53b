#!/usr/bin/env python3
"""Extraction's fixed and per-page costs: one page extracted by a fresh process.

    .venv/bin/python scripts/bench_extract.py [--runs 7] [--corpora DIR]

For each page (the seed site's English, Persian and Russian pages, and an Arabic news page
of ../shared/corpora when it is there), a new process imports extraction, loads trafilatura
(extract/prepared.py), then extracts the page twice: the first call pays what trafilatura,
justext, tld and lingua build on first use, the second is the per-page cost. Each is run
with the cache of extract/prepared.py warm (as every run after the first has it) and cold
(an empty cache folder). Prints the medians over ``runs``, wall time and CPU time, and the
language each page was given.
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

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "data" / "seeds"
CORPORA = REPO.parent / "shared" / "corpora" / "html-groundtruth"
ARABIC = CORPORA / "goose3" / "test_cnn_arabic.html"


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> list[float]:
    now = clock()
    return [now[0] - start[0], now[1] - start[1]]


def one(page: str) -> dict[str, object]:
    """In this (fresh) process: the costs of extracting one page."""
    started = clock()
    from custody.extract import content
    from custody.extract.prepared import trafilatura

    imported = since(started)
    started = clock()
    trafilatura()
    loaded = since(started)
    if page == "ar":
        body, header = ARABIC.read_bytes(), "text/html; charset=utf-8"
    else:
        from custody.testing.site import build_site

        served = build_site(SEEDS)[f"/{page}.html"]
        body, header = served.body, served.content_type
    url = f"http://127.0.0.1:8000/{page}.html"
    started = clock()
    doc = content.extract(url, "text/html", header, body)
    first = since(started)
    started = clock()
    content.extract(url, "text/html", header, body)
    second = since(started)
    assert doc is not None
    return {"imports": imported, "trafilatura": loaded, "first": first, "second": second,
            "language": doc.language}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a page, in a process alone
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return 0
    pages = ["en", "fa", "ru"] + (["ar"] if ARABIC.exists() else [])
    results: dict[tuple[str, str], list[dict[str, object]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for page in pages:
                for cache in ("warm", "cold"):
                    folder = Path(tmp) / (cache if cache == "warm" else f"cold-{run}-{page}")
                    env = dict(os.environ, XDG_CACHE_HOME=str(folder))
                    out = subprocess.run([sys.executable, __file__, "--one", page], env=env,
                                         capture_output=True, text=True, check=True)
                    results.setdefault((page, cache), []).append(json.loads(out.stdout))
    print(f"one page, a fresh process each time; medians of {args.runs} runs, "
          "wall / CPU seconds")
    print(f"{'page':5}{'cache':6}{'imports':>16}{'trafilatura':>16}{'first page':>16}"
          f"{'next page':>16}  language")
    for (page, cache), rows in results.items():
        cells = []
        for phase in ("imports", "trafilatura", "first", "second"):
            wall = statistics.median(r[phase][0] for r in rows)  # type: ignore[index]
            cpu = statistics.median(r[phase][1] for r in rows)  # type: ignore[index]
            cells.append(f"{wall:.3f} / {cpu:.3f}")
        print(f"{page:5}{cache:6}" + "".join(f"{c:>16}" for c in cells)
              + f"  {rows[0]['language']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
