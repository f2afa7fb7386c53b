"""custody serve at scale: p50 and p95 server time of its pages on an archive you point
it at, read as each answer's Server-Timing (from the request reaching the workbench's
guard to its answer starting: routing, the reads, the template), over HTTP from a real
`custody serve` on loopback.

    .venv/bin/python scripts/bench_serve.py --root /path/to/a/COPY/of/evidence [--n 200]

Pages: the captures list (first page, pages deep in history by key, and filtered by a
common and a rare language, a site, a status no capture has, a date range), a capture's
page, search (words and other word forms in English, Persian and Russian, with and
without a filter), and a case of 1,000 captures when the archive has cases. The
archive is only read (the server runs without the archivist's key: it signs nothing);
still, point it at a copy. Goal: p95 under 200 ms each.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

QUERIES = ["Iran", "massacre", "Ирана", "правозащитников", "ایران", "مسئولیت", "کشتار",
           '"human rights"', "Иран NOT интернет", "govern*"]


def timing(answer: object) -> float:
    header = answer.headers.get("server-timing", "")  # type: ignore[attr-defined]
    return float(header.split("dur=")[1]) if "dur=" in header else float("nan")


def measure(name: str, paths: Callable[[random.Random], str], client: object, n: int,
            rows: list[tuple[str, float, float, float, int]]) -> None:
    rng = random.Random(name)
    took = []
    wall = []
    for _ in range(n):
        path = paths(rng)
        start = time.perf_counter()
        answer = client.get(path)  # type: ignore[attr-defined]
        wall.append((time.perf_counter() - start) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
        took.append(timing(answer))
    took.sort()
    p95 = took[min(len(took) - 1, int(len(took) * 0.95))]
    rows.append((name, statistics.median(took), p95, statistics.median(wall), n))
    print(f"  {name}: p50 {statistics.median(took):.1f} ms, p95 {p95:.1f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="the archive (a copy: it is served)")
    parser.add_argument("--n", type=int, default=200, help="requests per page kind")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    conn = sqlite3.connect(f"file:{root / 'custody.db'}?mode=ro", uri=True)
    ids = [r[0] for r in conn.execute("SELECT id FROM captures")]
    documents = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    langs = conn.execute("SELECT language, count(*) FROM documents WHERE language IS NOT "
                         "NULL GROUP BY 1 ORDER BY 2").fetchall()
    host = conn.execute("SELECT seed_url FROM captures LIMIT 1").fetchone()[0] \
        .split("/")[2].split(":")[0]
    cases = []
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'case_captures'").fetchone():
        cases = [r[0] for r in conn.execute(
            "SELECT case_id FROM case_captures GROUP BY case_id HAVING count(*) >= 1000")]
    first, last = min(ids)[:8], max(ids)[:8]
    conn.close()
    print(f"{root}: {len(ids):,} captures, {documents:,} documents", flush=True)
    from custody.testing.serving import serving

    env = {"CUSTODY_KEY": str(root / ".no-key-here")}  # read-only: nothing is signed
    rows: list[tuple[str, float, float, float, int]] = []
    with serving(root, "--no-replay", env=env) as served:
        client = served.signed_in()
        client.get("/captures")  # warm: the first request loads the templates

        def day(text: str) -> str:
            return f"{text[:4]}-{text[4:6]}-{text[6:8]}"

        kinds: list[tuple[str, Callable[[random.Random], str]]] = [
            ("captures, first page", lambda r: "/captures"),
            ("captures, deep in history", lambda r: f"/captures?after={r.choice(ids)}"),
            (f"captures, language {langs[-1][0]} (common)",
             lambda r: f"/captures?lang={langs[-1][0]}"),
            (f"captures, language {langs[0][0]} (rare)",
             lambda r: f"/captures?lang={langs[0][0]}"),
            (f"captures, site {host}", lambda r: f"/captures?site={host}"),
            ("captures, status none has", lambda r: "/captures?status=interrupted"),
            ("captures, date range", lambda r: f"/captures?since={day(first)}&until={day(last)}"
             f"&after={r.choice(ids)}"),
            ("a capture's page", lambda r: f"/captures/{r.choice(ids)}"),
            ("search", lambda r: "/search?q=" + r.choice(QUERIES)),
            ("search, filtered", lambda r: "/search?lang=fa&q=" + r.choice(
                ["ایران", "مسئولیت", "مردم"])),
        ]
        kinds += [("a case of 1,000 captures", lambda r: f"/cases/{r.choice(cases)}")] \
            if cases else []
        for name, paths in kinds:
            measure(name, paths, client, args.n, rows)
    print(f"\n{len(ids):,} captures, {documents:,} documents; server time (Server-Timing), "
          f"{args.n} requests each\n")
    print("| page | p50 | p95 | p50 over HTTP |")
    print("| --- | --- | --- | --- |")
    for name, p50, p95, wall, _ in rows:
        mark = "" if p95 < 200 else " (over the goal)"
        print(f"| {name} | {p50:.1f} ms | {p95:.1f} ms{mark} | {wall:.1f} ms |")
    if not cases:
        print("\n(no case of 1,000 captures in this archive: not measured)")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
