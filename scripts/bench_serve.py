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


def _years_back(text: str, years: int) -> str:
    return str(int(text[:4]) - years) + text[4:]


def grow(db_path: Path, target: int) -> int:
    """Repeat the captures custody.db holds, with their resources and documents (each
    added to the search index as custody indexes them), until it holds ``target``:
    each copy's id and times moved a year back per round, so that the list's order and
    keys stay those of real ids. Only custody.db changes (the copies have no manifest: a
    capture's page is asked of the real ones). Rounds of the rows there are; returns how
    many captures it then holds."""
    from custody.index import db

    database = db.connect(db_path)
    conn = database.conn
    originals = [r[0] for r in conn.execute("SELECT id FROM captures ORDER BY id")]
    count = len(originals)
    shift = 0
    while count < target:
        shift += 1
        take = originals[: target - count]
        with conn:
            top = conn.execute("SELECT coalesce(max(id), 0) FROM documents").fetchone()[0]
            for cid in take:
                new = _years_back(cid, shift)
                conn.execute("INSERT INTO captures SELECT ?, sequence, seed_url, final_url, "
                             "?, ?, status, operator, key_fingerprint, manifest_sha256, "
                             "responses, documents, failures FROM captures WHERE id = ?",
                             [new, *(_years_back(v, shift) for v in conn.execute(
                                 "SELECT started_at, finished_at FROM captures WHERE id = ?",
                                 [cid]).fetchone()), cid])
                conn.execute("INSERT INTO resources (capture_id, url, status_code, "
                             "content_type, record_id, warc_path, warc_offset, warc_length, "
                             "payload_sha256, ip, fetched_at, truncated) SELECT ?, url, "
                             "status_code, content_type, record_id, warc_path, warc_offset, "
                             "warc_length, payload_sha256, ip, fetched_at, truncated FROM "
                             "resources WHERE capture_id = ?", [new, cid])
                conn.execute("INSERT INTO documents (capture_id, resource_id, record_id, "
                             "source, url, title, author, published, sitename, language, "
                             "text, text_sha256, charset, extractor, note) SELECT ?, NULL, "
                             "record_id, source, url, title, author, published, sitename, "
                             "language, text, text_sha256, charset, extractor, note FROM "
                             "documents WHERE capture_id = ?", [new, cid])
            db.index_documents(database, "SELECT id, title, text, language FROM documents "
                                         "WHERE id > ?", [top])
        count += len(take)
        print(f"  custody.db grown to {count:,} captures", flush=True)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="the archive (a copy: it is served)")
    parser.add_argument("--n", type=int, default=200, help="requests per page kind")
    parser.add_argument("--grow-db", type=int, metavar="N",
                        help="first repeat custody.db's captures until it holds N (a copy's "
                             "custody.db is changed: the list and search at N rows; a "
                             "capture's page is asked of the sealed ones)")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    sealed_ids = None
    if args.grow_db:
        first_conn = sqlite3.connect(root / "custody.db")
        sealed_ids = [r[0] for r in first_conn.execute("SELECT id FROM captures")]
        first_conn.close()
        grow(root / "custody.db", args.grow_db)
    conn = sqlite3.connect(f"file:{root / 'custody.db'}?mode=ro", uri=True)
    ids = [r[0] for r in conn.execute("SELECT id FROM captures")]
    # a capture's page is asked of sealed captures (a grown custody.db's copies have none)
    sealed = sealed_ids or [c for c in ids if (root / "manifests" / f"{c}.json").exists()]
    grown_db = len(sealed) < len(ids)
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
            ("a capture's page", lambda r: f"/captures/{r.choice(sealed)}"),
            ("search", lambda r: "/search?q=" + r.choice(QUERIES)),
            ("search, filtered", lambda r: "/search?lang=fa&q=" + r.choice(
                ["ایران", "مسئولیت", "مردم"])),
        ]
        kinds += [("a case of 1,000 captures", lambda r: f"/cases/{r.choice(cases)}")] \
            if cases else []
        for name, paths in kinds:
            measure(name, paths, client, args.n, rows)
    grown = f" (custody.db grown from {len(sealed):,} sealed)" if grown_db else ""
    print(f"\n{len(ids):,} captures{grown}, {documents:,} documents; server time "
          f"(Server-Timing), {args.n} requests each\n")
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
