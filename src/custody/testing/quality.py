"""Scoring extraction against ground truth: token precision, recall and F1 of the text
custody extracted -- archived, read back from the WARC -- against the gold article text.
Used by scripts/quality_gate.py and by the tests' pinned quality gate."""

from __future__ import annotations

import gzip
import json
import re
import tempfile
from collections import Counter
from pathlib import Path

from .site import Page, SiteServer

_TOKEN = re.compile(r"\w+")


def scores(got: str, want: str) -> tuple[float, float, float]:
    """Token precision, recall and F1 (multiset overlap, case-folded)."""
    a, b = Counter(_TOKEN.findall(got.lower())), Counter(_TOKEN.findall(want.lower()))
    common = sum((a & b).values())
    if not common:
        return 0.0, 0.0, 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return precision, recall, 2 * precision * recall / (precision + recall)


def load(corpus: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    truth = json.loads((corpus / "ground-truth.json").read_text())
    pages, gold = {}, {}
    for key, entry in truth.items():
        path = corpus / "html" / f"{key}.html.gz"
        if path.exists():
            pages[key] = gzip.decompress(path.read_bytes())
            gold[key] = entry["articleBody"]
    return pages, gold


def archive_and_score(pages: dict[str, Page], gold: dict[str, str]) -> list[tuple[float, ...]]:
    """Archive the pages with custody (in a scratch archive) and score each document."""
    import sqlite3

    from ..capture import run as capture
    from ..capture.settings import Settings
    from ..core import keyfile
    from ..core.archive import Archive

    with tempfile.TemporaryDirectory() as tmp, SiteServer(pages) as server:
        key = keyfile.create_key(Path(tmp) / "key")
        archive = Archive.create(Path(tmp) / "evidence")
        archive.add_signer("quality-gate", key.public_key())
        urls = [server.url + path for path in pages]
        capture.start(archive, urls, key=key,
                      settings=Settings(requisites=False, concurrency=8))
        with sqlite3.connect(archive.db_path) as conn:
            texts = dict(conn.execute("SELECT url, text FROM documents"))
        return [scores(texts.get(server.url + path, ""), gold[path]) for path in gold]
