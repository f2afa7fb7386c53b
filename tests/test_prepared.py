"""trafilatura's first-use work kept in the user's cache (extract/prepared.py): what comes
back from the cache is what the libraries build, damaged files are rebuilt, processes that
build it at once do not trip over each other, and extraction is the same without it."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA, SEEDS
from custody.testing.site import crawl_site

# in a process of its own: prepared.trafilatura() changes the libraries it loads
PROBE = r"""
import json, sys
from custody.extract import prepared
trafilatura = prepared.trafilatura()
def flat(node):
    kids = None if node.children is None else {k: flat(v) for k, v in node.children.items()}
    return (node.exception, node.leaf, node.private, kids)

import justext.core
from tld.utils import MozillaTLDSourceParser, get_tld_names
trie = get_tld_names()[MozillaTLDSourceParser.local_path]
words = trafilatura.external.jt_stoplist_init()
print(json.dumps({"trie": repr(flat(trie.root)), "nodes": len(trie),
                  "words": sorted(words), "same": justext.core.define_stoplist(words) == words}))
"""

# the libraries alone, untouched
REFERENCE = r"""
import json
from justext.core import define_stoplist
from trafilatura.external import jt_stoplist_init
from tld.utils import MozillaTLDSourceParser, get_tld_names
def flat(node):
    kids = None if node.children is None else {k: flat(v) for k, v in node.children.items()}
    return (node.exception, node.leaf, node.private, kids)
trie = get_tld_names()[MozillaTLDSourceParser.local_path]
print(json.dumps({"trie": repr(flat(trie.root)), "nodes": len(trie),
                  "words": sorted(define_stoplist(jt_stoplist_init())), "same": True}))
"""

# every page of the quality subset, extracted by custody with trafilatura as prepared
# (its first-use work from the cache) and, as the control, with trafilatura imported
# plainly and nothing of it replaced
EXTRACT = r"""
import gzip, json, sys
from pathlib import Path
plain = sys.argv[2] == "plain"
if plain:
    import trafilatura
    from custody.extract import prepared
    prepared.trafilatura = lambda: trafilatura
from custody.extract import content
out = {}
for path in sorted(Path(sys.argv[1]).glob("*.html.gz")):
    html = gzip.decompress(path.read_bytes())
    url = "https://example.org/" + path.name
    doc = content.extract(url, "text/html", "text/html", html)
    out[path.name] = [doc.text, doc.title, doc.author, doc.published, doc.sitename]
print(json.dumps(out))
"""


def run(script: str, cache: Path, *args: str) -> dict[str, object]:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    out = subprocess.run([sys.executable, "-c", script, *args], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def cached_files(cache: Path) -> list[Path]:
    return sorted((cache / "custody" / "extract").glob("[!.]*"))


def test_what_the_cache_gives_back_is_what_the_libraries_build(tmp_path: Path) -> None:
    reference = run(REFERENCE, tmp_path / "unused")
    cache = tmp_path / "cache"
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    # two processes build the cache at the same moment
    racers = [subprocess.Popen([sys.executable, "-c", PROBE], env=env, stdout=subprocess.PIPE,
                               text=True) for _ in range(2)]
    for racer in racers:
        out, _ = racer.communicate()
        assert racer.returncode == 0
        assert json.loads(out) == reference
    assert [p.name.split("-")[0] for p in cached_files(cache)] == ["justext", "tld"]
    assert run(PROBE, cache) == reference  # now read from the cache


def test_a_damaged_cache_is_rebuilt_not_used(tmp_path: Path) -> None:
    reference = run(REFERENCE, tmp_path / "unused")
    cache = tmp_path / "cache"
    run(PROBE, cache)
    whole = {path: path.read_bytes() for path in cached_files(cache)}
    for path, data in whole.items():
        path.write_bytes(data[: len(data) // 2] + b"x" * 10)  # cut short, then garbage
    assert run(PROBE, cache) == reference
    assert {path: path.read_bytes() for path in cached_files(cache)} == whole


def test_no_cache_folder_is_no_error(tmp_path: Path) -> None:
    reference = run(REFERENCE, tmp_path / "unused")
    blocked = tmp_path / "a-file"
    blocked.write_text("the cache folder cannot be made under a file\n")
    assert run(PROBE, blocked) == reference


def test_extraction_is_trafilatura_s_with_the_cache_cold_or_warm(tmp_path: Path) -> None:
    folder = tmp_path / "pages"
    folder.mkdir()
    for page in sorted((DATA / "groundtruth" / "html").iterdir())[:16]:  # (time: 3 runs)
        shutil.copy(page, folder / page.name)
    # pages of one short paragraph among links: trafilatura asks justext about them
    for path, page in crawl_site(SEEDS, 12).items():
        if path.startswith("/section/"):
            (folder / f"crawl-{Path(path).stem}.html.gz").write_bytes(gzip.compress(page.body))
    pages = str(folder)
    plain = run(EXTRACT, tmp_path / "unused", pages, "plain")
    assert len(plain) == 16 + 12
    cache = tmp_path / "cache"
    assert run(EXTRACT, cache, pages, "custody") == plain  # builds the cache
    assert len(cached_files(cache)) == 2  # justext ran on some of these pages
    assert run(EXTRACT, cache, pages, "custody") == plain  # reads it


def test_a_relative_xdg_cache_home_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    from custody.extract.prepared import cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert cache_dir() == Path.home() / ".cache" / "custody" / "extract"
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere/cache")
    assert cache_dir() == Path("/somewhere/cache/custody/extract")
