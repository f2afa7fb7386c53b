"""An interactive capture's loop (``archive --interactive``): the pages a person visits
in the session's browser are stored as each is left -- its exchanges, its marks -- and
committed with the crawl's state, until the session ends; then the capture is sealed as
any other. Ending the session (closing the browser, the toolbar's "Finish", Ctrl-C) is
how such a capture is meant to end: it is complete, not interrupted.

The session is custody.browser.interactive's; capture reads it by its methods alone:
``open(seeds, capture_id)``, ``take(timeout)``, ``over``, ``late()``, ``fetching``.
"""

from __future__ import annotations

from typing import Any

from .crawl import Crawl
from .state import Target
from .stats import Stats

WAIT = 0.25  # seconds between looks at what the session handed on


def browse(crawl: Crawl, session: Any) -> Stats:
    state = crawl.state
    seeds: list[str] = list(state.meta("seeds"))
    session.open(seeds, state.meta("capture_id"))
    while True:
        over = session.over  # read first: what is taken after it ended is the last
        visits = session.take(WAIT)
        state.begin()
        for visit in visits:
            if not seeds:  # begun on an empty window: its first page is the seed
                seeds = [visit.url]
                state.set_meta("seeds", seeds)
                crawl.final_urls[visit.url] = visit.url
            kind = "seed" if visit.url in seeds else "page"
            target = Target(visit.url, visit.url if kind == "seed" else seeds[0], kind,
                            0 if kind == "seed" else 1)
            state.push(target)
            crawl.handle_visit(visit, target)
        crawl.store_late()
        crawl.sink.poll()
        state.set_meta("final_urls", crawl.final_urls)
        state.commit()
        if crawl.on_progress:
            crawl.on_progress(crawl.stats, 0)
        if over and not visits and not session.fetching:
            break
    state.begin()
    crawl.store_late()
    for seed in seeds:  # a seed the browser never showed (closed before it came)
        if state.state_of(seed) == "queued":
            state.mark(seed, "failed")
            crawl.fail(seed, "browser", "the session ended before the page was shown")
    state.commit()
    if crawl.stats.stop_reason == "interrupted":  # Ctrl-C ends a session as it should
        crawl.stats.stop_reason = None
    return crawl.stats
