"""Search at scale: latency with 100,000 documents, database size, reindex throughput.

    .venv/bin/python scripts/bench_search.py [--documents 100000] [--reindex-pages 1000]

Builds a database of ``documents`` documents whose texts are drawn from the seed
statements (English, Persian, Russian) and the ground-truth corpus (tests/data), indexed
exactly as custody indexes (db.index_capture), then times `custody search` in-process
for a mix of queries -- words, other word forms, Arabic-keyboard Persian, phrases,
operators, prefixes and filters -- and prints p50 and p95. Then crawls a local site of
``reindex-pages`` pages and times `custody reindex` (documents/s).
Goals from the issue: p50 < 50 ms, p95 < 200 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from custody.testing.site import SiteServer, crawl_site, seed_sections

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "data" / "seeds"

QUERIES = [
    "massacre", "massacres", "Iran", "Ирана", "Иране", "ايران", "كشتار", "مردم",
    '"information blockade"', "internet AND blockade", "protest OR protesters",
    "Iran NOT internet", "правозащ*", "govern*", "observers", "company", "حقوق بشر",
    "Russian human rights defenders", "economy", "police",
]
FILTERED = [("Iran", {"lang": "en"}), ("ایران", {"lang": "fa"}), ("Иран", {"lang": "ru"}),
            ("massacre", {"since": "2026-01-01"})]


def corpus_texts() -> list[tuple[str, str, str]]:
    """(title, text, language) pieces to build documents from."""
    pieces = []
    for title, paragraphs in seed_sections(SEEDS).values():
        pieces += [(title, p, "") for p in paragraphs if len(p) > 40]
    truth = json.loads((REPO / "tests" / "data" / "groundtruth" / "ground-truth.json")
                       .read_text())
    for entry in truth.values():
        paragraphs = [p for p in entry["articleBody"].split("\n") if len(p) > 40]
        pieces += [(paragraphs[0][:80], p, "") for p in paragraphs]
    return pieces


def build(db_path: Path, count: int) -> float:
    from custody.extract.content import text_sha256
    from custody.extract.language import detect_language
    from custody.index import db

    rng = random.Random(7)
    pieces = corpus_texts()
    languages = {text: detect_language(text) or "en" for _, text, _ in pieces}
    database = db.connect(db_path)
    start = time.perf_counter()
    per_capture = 1000
    for c in range(count // per_capture):
        capture_id = f"2026{(c % 12) + 1:02d}01T000000Z-{c:08x}"
        records, documents = [], []
        for i in range(per_capture):
            chosen = rng.sample(pieces, 6)
            text = "\n".join(p for _, p, _ in chosen)
            record_id = f"<urn:uuid:{c:08x}-0000-0000-0000-{i:012x}>"
            url = f"https://site{rng.randrange(200)}.example/{c}/{i}"
            records.append({"type": "response", "record_id": record_id, "target_uri": url,
                            "http_status": 200, "payload_type": "text/html",
                            "warc_path": f"archive/{capture_id}.warc.gz", "offset": i,
                            "length": 1, "payload_sha256": "0" * 64, "ip": "127.0.0.1",
                            "date": "2026-01-01T00:00:00Z"})
            sha = text_sha256(text)
            documents.append(({"record_id": record_id, "url": url, "text_sha256": sha,
                               "extractor": "bench"},
                              {"title": chosen[0][0], "text": text, "text_sha256": sha,
                               "language": languages[chosen[0][1]], "extractor": "bench"}))
        head = {"capture_id": capture_id, "chain": {"sequence": c + 1}, "seed_url": "x",
                "final_url": "x", "started_at": f"2026-{(c % 12) + 1:02d}-01T00:00:00Z",
                "finished_at": "x", "status": "complete", "failures": [],
                "collector": {"operator": "bench", "key_fingerprint": "x"}}
        db.index_capture(database, head, "0" * 64, records, documents)
    database.conn.execute("ANALYZE")
    database.conn.close()
    return time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--reindex-pages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    from custody.index.query import open_readonly
    from custody.index.search import Filters, search

    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "custody.db"
        took = build(db_path, args.documents)
        print(f"{args.documents} documents indexed in {took:.0f} s "
              f"({args.documents / took:.0f} documents/s); database "
              f"{db_path.stat().st_size / 1e6:.0f} MB")
        conn = open_readonly(db_path)
        timings, found = [], {}
        for _ in range(args.rounds):
            for query in QUERIES:
                start = time.perf_counter()
                hits = search(conn, query, limit=20)
                timings.append(time.perf_counter() - start)
                found[query] = len(hits)
            for query, where in FILTERED:
                start = time.perf_counter()
                search(conn, query, limit=20, filters=Filters(**where))
                timings.append(time.perf_counter() - start)
        print(f"search, {len(timings)} queries in-process: p50 {percentile(timings, .5) * 1e3:.1f}"
              f" ms, p95 {percentile(timings, .95) * 1e3:.1f} ms, max "
              f"{max(timings) * 1e3:.1f} ms (goals: 50 ms, 200 ms)")
        print("hits (of 20 shown) per query:", json.dumps(found, ensure_ascii=False))

        root = Path(tmp) / "evidence"
        bin_dir = REPO / ".venv" / "bin"
        env = dict(os.environ, CUSTODY_KEY=str(Path(tmp) / "key"), CUSTODY_ROOT=str(root))
        subprocess.run([bin_dir / "custody", "init", "--no-tsa"], env=env, check=True,
                       capture_output=True)
        with SiteServer(crawl_site(SEEDS, args.reindex_pages)) as site:
            subprocess.run([bin_dir / "custody", "archive", "--quiet", "--depth", "1",
                            "--concurrency", "16", site.url + "/"], env=env, check=True,
                           capture_output=True)
        docs = int(subprocess.run([bin_dir / "custody", "query", "select count(*) from "
                                   "documents", "--csv"], env=env, capture_output=True,
                                  text=True).stdout.split()[1])
        start = time.perf_counter()
        subprocess.run([bin_dir / "custody", "reindex"], env=env, check=True,
                       capture_output=True)
        took = time.perf_counter() - start
        print(f"reindex: {docs} documents from the WARC files in {took:.1f} s "
              f"({docs / took:.0f} documents/s, extraction included)")

    return 0


if __name__ == "__main__":
    sys.exit(main())
