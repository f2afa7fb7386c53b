#!/usr/bin/env python3
"""Language identification, measured: which detector names Persian, Arabic, Russian and
English (and the rest) right, on the seed texts, real pages and short titles.

    .venv/bin/python scripts/bench_language.py [--corpora DIR]

Samples (each labelled with its ISO 639-1 code):
- the seed texts, paragraph by paragraph and whole, and the Persian ones again as a
  windows-1256 site writes them (Arabic yeh and kaf, Western digits: the demo's letter);
- real pages of ../shared/corpora (goose3 and newspaper4k, whose languages their READMEs
  give), their gold text;
- short titles: the seed pages' and the corpora's.

For each detector it prints accuracy per language and per set, milliseconds per sample,
and the peak memory and start-up of a process that loads it, each measured in a process
of its own. Candidates: py3langid (what custody used); lingua restricted to the languages
custody stems and other major ones, in its high- and low-accuracy modes; lingua with all
its languages in low-accuracy mode; and custody's own detector (extract/language.py).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "data" / "seeds"
CORPORA = REPO.parent / "shared" / "corpora" / "html-groundtruth"

GOOSE = {"test_bbc_chinese": "zh", "test_cnn_arabic": "ar", "test_donga_korean": "ko",
         "test_elmondo1": "es", "test_elpais": "es", "test_lefigaro": "fr",
         "test_liberation": "fr", "test_wiwo": "de"}
NEWSPAPER = {"arabic_article": "ar", "burmese_article": "my", "chinese_article": "zh",
             "chinese_article_001": "zh", "chinese_article_002": "zh", "japanese_article": "ja",
             "japanese_article2": "ja", "latvian_article": "lv", "spanish_article": "es",
             "thai_article": "th", "yna_co_kr": "ko"}
CANDIDATES = ("py3langid", "lingua-set", "lingua-set-low", "lingua-all-low", "custody")


def samples(corpora: Path) -> dict[str, list[tuple[str, str]]]:
    """Sets of (language, text)."""
    from custody.testing.site import legacy_persian, seed_sections

    sections = seed_sections(SEEDS)
    languages = {"en": "en", "fa": "fa", "ru": "ru", "letter": "fa", "labour": "fa"}
    paragraphs, pages, titles = [], [], []
    for name, lang in languages.items():
        title, paras = sections[name]
        titles.append((lang, title))
        paragraphs += [(lang, p) for p in paras if len(p) > 80]
        pages.append((lang, "\n".join(paras)))
        if lang == "fa":
            titles.append((lang, legacy_persian(title)))
            paragraphs += [(lang, legacy_persian(p)) for p in paras if len(p) > 80]
            pages.append((lang, legacy_persian("\n".join(paras))))
    real = []
    if corpora.exists():
        for path in sorted((corpora / "goose3").glob("*.json")):
            text = json.loads(path.read_text())["expected"]["cleaned_text"]
            real.append((GOOSE.get(path.stem, "en"), text))
        for path in sorted((corpora / "newspaper4k" / "txt").glob("*.txt")):
            real.append((NEWSPAPER.get(path.stem, "en"), path.read_text()))
            meta = corpora / "newspaper4k" / "metadata" / f"{path.stem}.json"
            if meta.exists():
                title = json.loads(meta.read_text()).get("title")
                if title:
                    titles.append((NEWSPAPER.get(path.stem, "en"), title))
    return {"seed paragraphs": paragraphs, "seed pages": pages, "real pages": real,
            "titles": titles}


def detector(name: str):
    if name == "py3langid":
        import py3langid  # the bench extra: pip install -e '.[bench]'

        return lambda text: py3langid.classify(text[:5000])[0]
    if name == "custody":
        from custody.extract.language import detect_language

        return lambda text: detect_language(text, minimum=1)
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    if name == "lingua-all-low":
        built = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
    else:
        from custody.extract.language import CANDIDATES as codes

        wanted = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in codes]
        builder = LanguageDetectorBuilder.from_languages(*wanted)
        if name == "lingua-set-low":
            builder = builder.with_low_accuracy_mode()
        built = builder.build()

    def detect(text: str) -> str | None:
        found = built.detect_language_of(text[:5000])
        return found.iso_code_639_1.name.lower() if found is not None else None

    return detect


def measure(name: str, corpora: Path) -> dict[str, object]:
    """In this process: load the detector, run every sample; accuracy and costs."""
    started = time.monotonic()
    detect = detector(name)
    detect("warm up the models of the first script")
    loaded = time.monotonic() - started
    results: dict[str, dict[str, list[int]]] = {}
    times = []
    for set_name, items in samples(corpora).items():
        per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for lang, text in items:
            t = time.perf_counter()
            got = detect(text)
            times.append(time.perf_counter() - t)
            per[lang][0] += got == lang
            per[lang][1] += 1
        results[set_name] = dict(per)
    return {"name": name, "load_s": round(loaded, 2),
            "ms": round(statistics.median(times) * 1e3, 2),
            "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "results": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a candidate, in a process alone
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.corpora)))
        return 0
    rows = []
    for name in CANDIDATES:
        out = subprocess.run([sys.executable, __file__, "--one", name, "--corpora",
                              str(args.corpora)], capture_output=True, text=True)
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["failed"])[-1]
            print(f"{name}: left out ({last}; pip install -e '.[bench]' installs the "
                  "candidates)", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout))
    if not rows:
        return 1
    sets = list(rows[0]["results"])
    languages = sorted({lang for row in rows for s in sets for lang in row["results"][s]})
    print("accuracy by set (correct / samples)")
    print(f"{'detector':16}" + "".join(f"{s:>17}" for s in sets)
          + f"{'ms/sample':>11}{'load s':>8}{'RSS MB':>8}")
    for row in rows:
        cells = []
        for s in sets:
            right = sum(v[0] for v in row["results"][s].values())
            total = sum(v[1] for v in row["results"][s].values())
            cells.append(f"{right}/{total} ({right / total:.0%})" if total else "-")
        print(f"{row['name']:16}" + "".join(f"{c:>17}" for c in cells)
              + f"{row['ms']:>11}{row['load_s']:>8}{row['rss_mb']:>8}")
    print("\naccuracy by language, all sets")
    print(f"{'detector':16}" + "".join(f"{lang:>7}" for lang in languages))
    for row in rows:
        cells = []
        for lang in languages:
            right = sum(row["results"][s].get(lang, [0, 0])[0] for s in sets)
            total = sum(row["results"][s].get(lang, [0, 0])[1] for s in sets)
            cells.append(f"{right}/{total}" if total else "-")
        print(f"{row['name']:16}" + "".join(f"{c:>7}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
