"""Search in a large archive: the newest matches are ranked (a common word matches
hundreds of thousands of documents, and scoring them all takes seconds), and a search
that reached that window says so; a page whose served text and rendered DOM are both
documents is one hit."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest

from conftest import Custody
from custody.index.search import search
from custody.testing.site import Page, SiteServer

CHROMIUM = "/usr/bin/chromium"


def page(title: str, body: str) -> Page:
    return Page((f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
                 f"<body><article><h1>{title}</h1><p>{body}</p></article></body></html>"
                 ).encode(), "text/html; charset=utf-8")


PAGES = {f"/{n}.html": page(f"Report {n}", f"Observers were turned away at the border. "
                            f"{'Observers ' * n}returned on day {n} of the siege.")
         for n in range(1, 6)}


@pytest.fixture(scope="module")
def site() -> Iterator[SiteServer]:
    with SiteServer(PAGES) as server:
        yield server


@pytest.fixture
def five(custody: Custody, site: SiteServer) -> Custody:
    for path in PAGES:  # one capture a page, as an investigator makes them
        custody.archive(site.url + path, extra=("--no-requisites",))
    return custody


def names(found: list[dict[str, object]]) -> list[str]:
    return [str(h["url"]).rsplit("/", 1)[1] for h in found]


def test_the_newest_matches_are_ranked_and_it_says_so(five: Custody) -> None:
    conn = sqlite3.connect(f"file:{five.root / 'custody.db'}?mode=ro", uri=True)
    everything = search(conn, "observers", window=None)
    assert len(everything) == 5 and not everything.windowed
    # bm25: the page that says it most often first
    assert names(everything)[0] == "5.html"
    wide = search(conn, "observers")  # the default window holds them all: the same answer
    assert names(wide) == names(everything) and not wide.windowed
    narrow = search(conn, "observers", window=2, limit=2)  # the two newest, ranked
    assert narrow.windowed and sorted(names(narrow)) == ["4.html", "5.html"]
    assert names(narrow) == ["5.html", "4.html"]
    exact = search(conn, "observers", window=5, limit=5)  # as many as match
    assert not exact.windowed and len(exact) == 5
    # paging past the window ranks everything: page 2 of 2 is not cut short
    assert names(search(conn, "observers", window=2, limit=2, offset=2)) == \
        names(everything)[2:4]
    conn.close()


def test_rank_all_on_the_command_line(five: Custody) -> None:
    plain = json.loads(five.ok("search", "--json", "observers").stdout)
    every = five.ok("search", "--json", "--rank-all", "observers")
    assert json.loads(every.stdout) == plain and every.stderr == ""


@pytest.mark.skipif(not __import__("os").path.exists(CHROMIUM),
                    reason="Debian's chromium is not installed (./scripts/setup installs it)")
def test_a_page_served_and_rendered_is_one_hit(custody: Custody, site: SiteServer) -> None:
    url = site.url + "/3.html"
    cid = custody.archive(url, extra=("--browser", "--no-requisites"))["capture_id"]
    documents = custody.query(f"SELECT source FROM documents WHERE capture_id = '{cid}' "
                              f"AND url = '{url}'")
    assert len(documents) == 2, documents  # the text the server sent, and the DOM rendered
    found = json.loads(custody.ok("search", "--json", "siege").stdout)
    assert [(h["capture_id"], h["url"]) for h in found] == [(cid, url)]


def test_a_capture_filter_names_a_capture(five: Custody) -> None:
    unknown = five("search", "observers", "--capture", "20261121T101500Z-1a2b3c4d")
    assert unknown.exit_code == 8 and "no such capture" in unknown.stderr
    assert five("search", "observers", "--capture", "../x").exit_code == 2
