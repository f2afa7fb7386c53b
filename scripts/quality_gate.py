"""Extraction quality gate: real pages with ground truth, served on loopback, archived by
custody, scored by token F1 against the gold article text.

    .venv/bin/python scripts/quality_gate.py [--corpus DIR] [--min F1] [--seeds-min F1]

DIR holds ``ground-truth.json`` ({key: {"articleBody": ...}}) and ``html/<key>.html.gz``,
as the scrapinghub article-extraction benchmark does (default: the full benchmark in
../shared/corpora, else the subset in tests/data/groundtruth). Prints custody's mean
precision, recall and F1, trafilatura's called directly on the same bytes with its
defaults, and custody's F1 on the seed pages; exits 1 below the minimums.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from custody.testing.quality import archive_and_score, load, scores
from custody.testing.site import Page, build_site

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "data" / "seeds"

SHARED = REPO.parent / "shared" / "corpora" / "html-groundtruth" / \
    "scrapinghub-article-extraction-benchmark"
SUBSET = REPO / "tests" / "data" / "groundtruth"
def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=SHARED if SHARED.exists() else SUBSET)
    parser.add_argument("--min", type=float, default=0.95)
    parser.add_argument("--seeds-min", type=float, default=0.97)
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip scoring trafilatura called directly")
    args = parser.parse_args()
    os.environ.setdefault("CUSTODY_OPERATOR", "quality-gate")

    raw, truth = load(args.corpus)
    pages = {f"/{k}.html": Page(body, "text/html") for k, body in raw.items()}
    gold = {f"/{k}.html": text for k, text in truth.items()}
    results = archive_and_score(pages, gold)
    p, r, f = (statistics.mean(x[i] for x in results) for i in range(3))
    print(f"{args.corpus.name}: {len(results)} pages")
    print(f"custody (archived, read back from the WARC)  P {p:.3f}  R {r:.3f}  F1 {f:.3f}")
    if not args.no_baseline:
        import trafilatura

        direct = [scores(trafilatura.extract(raw[k]) or "", truth[k]) for k in raw]
        print(f"trafilatura.extract() on the same bytes      "
              f"P {statistics.mean(x[0] for x in direct):.3f}  "
              f"R {statistics.mean(x[1] for x in direct):.3f}  "
              f"F1 {statistics.mean(x[2] for x in direct):.3f}")
    site = {path: page for path, page in build_site(SEEDS).items() if page.expected_text}
    seed_results = archive_and_score(site, {p: s.expected_text or "" for p, s in site.items()})
    seed_f1 = statistics.mean(x[2] for x in seed_results)
    print(f"seed pages ({len(seed_results)})                              F1 {seed_f1:.3f}")
    failed = f < args.min or seed_f1 < args.seeds_min
    if failed:
        print(f"FAILED: minimums are F1 {args.min} (corpus) and {args.seeds_min} (seeds)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
