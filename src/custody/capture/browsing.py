"""An interactive capture's loop (``archive --interactive``): what the person's browser
fetches is written to the WARC as it comes, each exchange with its page, and each mark
(browser/marking.py's) as it is taken, tied to its page's answer; a page's visit is
recorded when its tab leaves it. All of it is committed with the crawl's state every
quarter of a second, so that a session cut short (a second Ctrl-C, kill -9) keeps what
it fetched and marked; ``--resume`` seals it. Ending the session (closing the browser,
the toolbar's "Finish", Ctrl-C) is how such a capture is meant to end: it is complete.

The session is custody.browser.interactive's; capture reads it by its methods alone:
``open(seeds, capture_id)``, ``take(timeout)`` (events), ``over``, ``fetching``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..warc.records import warc_date
from .crawl import Crawl
from .state import Target
from .stats import Stats

WAIT = 0.25  # seconds between looks at what the session handed on


@dataclass
class _Page:
    """A page the person was shown, as this capture writes it."""

    target: Target
    visit: Any  # the session's PageVisit (kept: its id names the page)
    marks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    requests: int = 0


def browse(crawl: Crawl, session: Any) -> Stats:
    state = crawl.state
    seeds: list[str] = list(state.meta("seeds"))
    pages: dict[int, _Page] = {}
    documents: dict[str, dict[str, Any]] = {}  # each page's answer written, by its address
    session.open(seeds, state.meta("capture_id"))
    while True:
        over = session.over  # read first: what is taken after it ended is the last
        events = session.take(WAIT)
        state.begin()
        for kind, item, visit in events:
            page = None if visit is None else pages.get(id(visit))
            if page is None and visit is not None:
                if not seeds:  # begun on an empty window: its first page is the seed
                    seeds = [visit.url]
                    state.set_meta("seeds", seeds)
                    crawl.final_urls[visit.url] = visit.url
                page = pages[id(visit)] = _Page(_target(visit.url, seeds), visit)
                state.push(page.target)
            if kind == "exchange":
                _exchange(crawl, item, page, seeds, documents)
            elif kind == "mark" and page is not None:
                page.marks.append(_mark(crawl, item, _answer(page, documents)))
            elif kind == "left" and page is not None:
                _left(crawl, page, _answer(page, documents))
        crawl.sink.poll()
        state.set_meta("final_urls", crawl.final_urls)
        state.commit()
        if crawl.on_progress:
            crawl.on_progress(crawl.stats, 0)
        if over and not events and not session.fetching:
            break
    state.begin()
    for page in pages.values():  # begun, never shown (a download), or open at a kill
        if state.state_of(page.target.url) == "queued" and page.target.kind != "seed":
            state.mark(page.target.url, "done")
    for seed in seeds:  # a seed the browser never showed (closed before it came)
        if state.state_of(seed) == "queued":
            state.mark(seed, "failed")
            crawl.fail(seed, "browser", "the session ended before the page was shown")
    state.commit()
    if crawl.stats.stop_reason == "interrupted":  # Ctrl-C ends a session as it should
        crawl.stats.stop_reason = None
    return crawl.stats


def _target(url: str, seeds: list[str]) -> Target:
    if url in seeds:
        return Target(url, url, "seed", 0)
    return Target(url, seeds[0] if seeds else url, "page", 1)


def _exchange(crawl: Crawl, seen: Any, page: _Page | None, seeds: list[str],
              documents: dict[str, dict[str, Any]]) -> None:
    """One exchange, written: a tab's page (each hop of its redirects) as a page, the
    rest as what a page needed; one that failed is a failure, but a failed request of
    the browser's own (no page asked) is noted on the page instead. Which visit a page's
    answer is the answer of is told by its address, when the page is marked or left: a
    tab a page opens may ask for its page before the browser says whose tab it is."""
    exchange = seen.exchange
    if page is not None:
        page.requests += 1
    main = seen.navigation and seen.frame == "document"
    owner = page.target if page is not None else _target(seen.page or exchange.url, seeds)
    kind = ("seed" if exchange.url in seeds else "page") if main else "requisite"
    try:
        crawl.sink.store(exchange, Target(exchange.url, owner.seed, kind, owner.depth))
        if main and exchange.ok and crawl.sink.last_response is not None:
            documents[exchange.url] = crawl.sink.last_response
        crawl.stats.bytes += exchange.response_size
        if exchange.ok:
            crawl.stats.fetched += 1
        elif getattr(seen, "own", False) and page is not None:
            page.notes.append(f"the browser's own request (no page's) to {exchange.url} "
                              f"failed: {exchange.error}")
        else:
            crawl.fail(exchange.url, exchange.error_kind or "network", exchange.error or "")
    finally:
        exchange.close()


def _mark(crawl: Crawl, mark: Any, entry: dict[str, Any] | None) -> dict[str, Any]:
    """A page as it showed at one moment (browser/marking.py's Mark): its view with its
    band, the view as it was, the DOM, written now; what the visit says of it."""
    renders = []
    if mark.screenshot:
        renders.append(("screenshot", "image/png", mark.banded(getattr(crawl.sink, "band", ""))))
        renders.append(("screenshot-unmarked", "image/png", mark.screenshot))
    if mark.dom is not None:
        renders.append(("dom", "text/html", mark.dom.encode("utf-8")))
    ids = crawl.sink.store_renders(mark.url, renders, entry, warc_date(mark.at)) \
        if renders else {}
    return {**mark.summary(), "records": ids}


def _answer(page: _Page, documents: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The record of the answer the page's tab showed: the last one written of its
    final address (or of the one it asked, had the final one not come)."""
    visit = page.visit
    return documents.get(visit.final_url) or documents.get(visit.url)


def _left(crawl: Crawl, page: _Page, entry: dict[str, Any] | None) -> None:
    """The visit of a page its tab left, as the manifest says it."""
    summary = page.visit.summary()
    summary["requests"] = page.requests
    summary["notes"] = [*summary["notes"], *page.notes[:50]]
    if entry is None:
        summary["notes"].append("its answer had not come when the page was left (the "
                                "browser showed it from its cache, or it is recorded later)")
    summary["response_record"] = entry["record_id"] if entry else None
    summary["marks"] = page.marks
    summary["records"] = next((m["records"] for m in reversed(page.marks) if m["records"]), {})
    crawl.state.add_visit(summary)
    crawl.state.mark(page.target.url, "done")
    if page.target.kind == "seed":
        crawl.final_urls[page.target.url] = page.visit.final_url
