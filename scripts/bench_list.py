"""Listing captures, and reading cases and selectors, at scale.

    .venv/bin/python scripts/bench_list.py [--captures 100000] [--pages 10] [--runs 30]

Builds a custody.db of ``captures`` captures of ``pages`` documents each (1,000,000 by
default) over 2,000 sites, in five languages, a tenth of them imported, with tags on
one capture in five, a case of 1,000 captures and notes on them, and the selectors of
one document in fifty -- the rows as custody writes them (db.connect's schema; the
annotation tables filled by applying log events, as the index does) -- then times, in
process and each call opening custody.db as the library does:

- `custody list` (annotate.list_captures): the first page, unfiltered and by each
  filter (case, tag, site, language, status, date range, imported), and a deep page;
- a case of 1,000 captures (show_case, notes_of, selectors_of_case);
- a selector looked up across the archive (pages_with);

and prints p50 and p95 of each, in milliseconds. The goal: p95 under 200 ms each.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "fa", "ru", "ar", "uk")


def build(root: Path, captures: int, pages: int) -> float:
    """The archive folder (just enough of one for the library to open) and its custody.db;
    seconds taken."""
    from custody.index import annotation, db

    start = time.perf_counter()
    (root / "manifests").mkdir(parents=True)
    (root / "allowed_signers").write_text("")
    database = db.connect(root / "custody.db")
    conn = database.conn
    rng = random.Random(7)
    from custody.index.listing import site_keys

    rows, documents, facets, selectors = [], [], [], []
    doc_id = 0
    for n in range(captures):
        cid = f"2026{(n // 86400) % 12 + 1:02d}{(n // 2880) % 28 + 1:02d}T" \
              f"{(n // 120) % 24:02d}{(n // 2) % 60:02d}{n % 60:02d}Z-{n:08x}"
        started = f"2026-{(n // 86400) % 12 + 1:02d}-{(n // 2880) % 28 + 1:02d}T" \
                  f"{(n // 120) % 24:02d}:{(n // 2) % 60:02d}:{n % 60:02d}.{n % 999999:06d}Z"
        host = f"site{rng.randrange(2000)}.example.org"
        status = "imported" if n % 10 == 0 else ("partial" if n % 17 == 0 else "complete")
        rows.append((cid, n + 1, f"https://{host}/", f"https://{host}/", started, started,
                     status, "bench", "SHA256:x", "0" * 64, pages, pages, 0))
        language = LANGUAGES[n % len(LANGUAGES)]
        facets += [("site", key, started, cid) for key in site_keys(host)]
        facets.append(("lang", language, started, cid))
        for p in range(pages):
            doc_id += 1
            url = f"https://{host}/" if p == 0 else f"https://{host}/page/{p}"
            documents.append((doc_id, cid, url, f"Page {p} of capture {n}", language,
                              f"text of page {p}", "0" * 64, "bench"))
            if doc_id % 50 == 0:
                selectors.append((doc_id, cid, "email", f"person{doc_id % 500}@example.org",
                                  f"person{doc_id % 500}@example.org", 0, 1))
    with conn:
        conn.executemany("INSERT INTO captures (id, sequence, seed_url, final_url, "
                         "started_at, finished_at, status, operator, key_fingerprint, "
                         "manifest_sha256, responses, documents, failures) VALUES "
                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany("INSERT INTO documents (id, capture_id, url, title, language, text, "
                         "text_sha256, extractor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", documents)
        conn.executemany("INSERT OR IGNORE INTO capture_facets (kind, value, started_at, "
                         "capture_id) VALUES (?, ?, ?, ?)", facets)
        conn.executemany("INSERT INTO selectors VALUES (?, ?, ?, ?, ?, ?, ?)", selectors)
        seq = 0

        def apply(event: str, **details: Any) -> None:
            nonlocal seq
            seq += 1
            annotation.apply(conn, seq, {"event": event, "at": "2026-12-01T00:00:00Z",
                                         "who": "bench", "details": details})

        ids = [r[0] for r in rows]
        apply("case-created", case_id="case-000000000001", name="Big case")
        chosen = rng.sample(ids, 1000)
        apply("case-added", case_id="case-000000000001", name="Big case", capture_ids=chosen)
        for i, cid in enumerate(ids[::5]):
            apply("tagged", capture_id=cid, tag=f"tag{i % 50}")
        for i, cid in enumerate(chosen):
            apply("note-added", note_id=f"note-{i:012x}", capture_id=cid, text=f"note {i}")
        conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - start


def timed(call: Callable[[], Any], runs: int) -> tuple[float, float]:
    call()  # warm
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--captures", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    from custody.annotate import (
        CaptureFilters,
        list_captures,
        notes_of,
        pages_with,
        selectors_of_case,
        show_case,
    )
    from custody.core.archive import Archive

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "archive"
        seconds = build(root, args.captures, args.pages)
        size = (root / "custody.db").stat().st_size
        with sqlite3.connect(root / "custody.db") as conn:
            counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                      for t in ("captures", "documents", "tags", "case_captures", "notes",
                                "selectors")}
        print(f"built in {seconds:.1f} s: {size / 1e6:.0f} MB, "
              + ", ".join(f"{n} {t}" for t, n in counts.items()))
        arch = Archive.open(root)
        calls: list[tuple[str, Callable[[], Any]]] = [
            ("list", lambda: list_captures(arch)),
            ("list --case", lambda: list_captures(arch, CaptureFilters(case="Big case"))),
            ("list --tag", lambda: list_captures(arch, CaptureFilters(tag="tag7"))),
            ("list --site", lambda: list_captures(arch, CaptureFilters(
                site="site123.example.org"))),
            ("list --site (domain)", lambda: list_captures(arch, CaptureFilters(
                site="example.org"))),
            ("list --lang", lambda: list_captures(arch, CaptureFilters(language="fa"))),
            ("list --status", lambda: list_captures(arch, CaptureFilters(status="partial"))),
            ("list --since --until", lambda: list_captures(arch, CaptureFilters(
                since="2026-02-01", until="2026-02-14"))),
            ("list --not-imported", lambda: list_captures(arch, CaptureFilters(
                imported=False))),
            ("list --lang --tag --site", lambda: list_captures(arch, CaptureFilters(
                language="en", tag="tag3", site="example.org"))),
            ("list --offset 50000", lambda: list_captures(arch, offset=args.captures // 2)),
            ("case show (1,000 captures)", lambda: show_case(arch, "Big case")),
            ("case notes (1,000)", lambda: notes_of(arch, case="Big case")),
            ("case selectors", lambda: selectors_of_case(arch, "Big case")),
            ("selector across the archive", lambda: pages_with(
                arch, "email", "person7@example.org")),
        ]
        print(f"{'call':32} {'p50 ms':>8} {'p95 ms':>8}")
        for name, call in calls:
            p50, p95 = timed(call, args.runs)
            print(f"{name:32} {p50:8.1f} {p95:8.1f}")


if __name__ == "__main__":
    main()
