"""The crawl: which URLs to fetch, when, and what each response adds to the frontier.

Fetches run in a pool of threads, at most ``concurrency`` at a time per host and
``delay`` seconds apart when asked. Everything else -- writing records, the
frontier, retries, limits -- happens on the calling thread, so the WARC is written
in one place and the frontier's state is committed only after the records it
describes are on disk.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from functools import partial
from typing import Any

from ..core.urls import check_link, referrer_header
from .fetch import Exchange, Fetcher, retry_after
from .gate import through_gate
from .links import Links
from .media import keep_media, page_then_media, store_ended
from .robots import Robots
from .rules import Rules
from .sink import Sink
from .state import CrawlState, Target
from .stats import Stats
from .visits import record_visit

MAX_REDIRECTS = 20
MAX_REQUISITE_DEPTH = 3  # a frame's stylesheet's image is three hops from the page
STRAGGLERS = 1.0  # seconds past a stop's abort time that a fetch in flight is waited for
STORING = 0.05  # seconds between stores of what a download fetched (less left at its end)
MAX_RETRY_WAIT = 120.0  # a Retry-After longer than this is recorded as a failure instead
REDIRECTS = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_ERRORS = frozenset({"timeout", "network", "protocol"})


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Crawl:
    def __init__(self, fetcher: Fetcher, sink: Sink, state: CrawlState, rules: Rules, *,
                 on_progress: Callable[[Stats, int], None] | None = None,
                 visitor: Any = None, media: Any = None, gate: Any = None) -> None:
        """``visitor``, when given, loads the pages (not their requisites) in a browser, as
        custody.browser's Chromium does: ``visit(url)``, ``tabs`` (pages at once),
        ``late()`` and ``fetching`` (its requests that outlived their page's visit), and
        ``stop()`` (end the loading of every page now, and record what it shows); ``media``
        runs yt-dlp on each page (custody.media's collector: ``collect``, ``late``...);
        ``gate``, each host's politeness across processes (see gate.py)."""
        self.fetcher = fetcher
        self.visitor = visitor
        self.media = media
        self._media_early: dict[str, list[Any]] = {}  # by visit: yt-dlp's, stored already
        # what earlier runs of a resumed capture stored, that yt-dlp fetches again
        self._held = partial(state.held_payloads, through=state.last_seq())
        self.gate = gate
        self._recorders = [r for r in (visitor, media) if r is not None]
        self._visiting = 0
        self.sink = sink
        self.state = state
        self.rules = rules
        self.on_progress = on_progress
        self.stats = Stats()
        self.final_urls: dict[str, str] = state.meta("final_urls", {})
        self._stopping = False
        self._active: Counter[str] = Counter()
        self._last_start: dict[str, float] = {}
        self._robots = Robots(fetcher, sink)
        self._workers = min(64, max(4, rules.concurrency * 4))

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self, reason: str = "interrupted") -> None:
        """Start no new fetch; the ones in flight finish and are kept."""
        self._stopping = True
        self.stats.stop_reason = self.stats.stop_reason or reason
        if self.visitor is not None:
            self.visitor.stop()  # pages loading now stop, and what they show is recorded
        if self.media is not None:
            self.media.stop()  # downloads end, what they fetched kept and said incomplete

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> Stats:
        pending: dict[Future[Any], Target] = {}
        pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="fetch")
        try:
            while True:
                self._check_time_limit()
                if not self._stopping:
                    self._start(pool, pending)
                if not pending and self._late_fetches():
                    continue  # the browser's requests still being fetched: stored when done
                if not pending:
                    wake = None if self._stopping else self.state.next_wake(self._startable())
                    if wake is None:
                        break
                    time.sleep(min(max(wake - time.time(), 0.01), 0.25))
                    continue
                downloading = self.media is not None and self.media.downloading
                done, _ = wait(pending, timeout=STORING if downloading else 0.25,
                               return_when=FIRST_COMPLETED)
                self.state.begin()
                if self.media is not None:
                    store_ended(self.sink, self.media, self._media_early, self._held)
                if self._stopping and time.monotonic() > self.fetcher.abort_at + STRAGGLERS:
                    self._leave_stragglers(pending, done)
                for future in done:
                    target = pending.pop(future)
                    self._active[target.host] -= 1
                    self._handle(future.result(), target)
                self._store_late()
                self.sink.poll()
                self.state.set_meta("final_urls", self.final_urls)
                self.state.commit()
                if self.on_progress:
                    self.on_progress(self.stats, self.state.count("queued") + len(pending))
        except BaseException:
            # a second Ctrl-C, or a crash: leave in-flight URLs to be fetched on --resume
            pool.shutdown(wait=False, cancel_futures=True)
            with contextlib.suppress(Exception):  # a full disk fails this too: the first
                self.state.commit()  # error is the one to report
            raise
        pool.shutdown(wait=True)
        return self.stats

    def _leave_stragglers(self, pending: dict[Future[Any], Target],
                          done: set[Future[Any]]) -> None:
        """After a stop, fetches still blocked (a connect that hangs) are not waited for:
        their URLs stay queued for --resume, and their threads end on their own."""
        for future in [f for f in pending if f not in done]:
            target = pending.pop(future)
            self._active[target.host] -= 1
            if self.visitor is not None and target.kind != "requisite":
                self._visiting -= 1
            self.state.mark(target.url, "queued")

    def _check_time_limit(self) -> None:
        limit = self.rules.time_limit
        if limit is not None and time.monotonic() - self.stats.started > limit:
            self.stop("time-limit")

    def _room(self, host: str, now: float) -> int:
        if self.rules.delay and now - self._last_start.get(host, 0.0) < self.rules.delay:
            return 0
        per_host = 1 if self.rules.delay else self.rules.concurrency
        return per_host - self._active[host]

    def _pages_left(self) -> int | None:
        if self.rules.max_pages is None:
            return None
        return self.rules.max_pages - self.state.pages_started()

    def _startable(self) -> tuple[str, ...] | None:
        """The kinds of URL that may still start: only requisites once --max-pages is reached."""
        left = self._pages_left()
        if left is None or left > 0:
            return None
        if self.stats.stop_reason is None and self.state.count("queued", ("page",)):
            self.stats.stop_reason = "max-pages"
        return ("requisite",)

    def _start(self, pool: ThreadPoolExecutor, pending: dict[Future[Any], Target]) -> None:
        capacity = self._workers - len(pending)
        if capacity <= 0:
            return
        now = time.time()
        left = self._pages_left()
        busy = [h for h in set(self._active) | set(self._last_start)
                if self._room(h, now) <= 0]
        self.state.begin()
        for target in self.state.next(capacity, busy, now, self._startable(),
                                      room=lambda h: self._room(h, now)):
            if target.kind != "requisite" and left is not None:
                if left <= 0:
                    self.state.mark(target.url, "queued")
                    continue
                left -= 1
            if self.visitor is not None and target.kind != "requisite":
                if self._visiting >= self.visitor.tabs:
                    self.state.mark(target.url, "queued")  # every tab is busy: later
                    continue
                self._visiting += 1
                work: Callable[[str], Any] = self.visitor.visit
            else:
                work = partial(self.fetcher.fetch,
                               referer=referrer_header(target.referrer, target.url))
            if self.media is not None and target.kind != "requisite":
                work = partial(page_then_media, self.media, work, lambda: self._stopping,
                               target=target)
            if self.gate is not None:
                work = partial(through_gate, self.gate, target.host, work)
            self._active[target.host] += 1
            self._last_start[target.host] = now
            pending[pool.submit(work, target.url)] = target
        self.state.commit()

    # -- one response ----------------------------------------------------------------------------

    def _handle(self, result: Any, target: Target) -> None:
        result, media = result if isinstance(result, tuple) else (result, None)
        if isinstance(result, Exchange):
            self._handle_exchange(result, target)
        else:
            self._visiting -= 1
            self._handle_visit(result, target)
        if media is not None:
            self._handle_media(media, target)

    def _handle_media(self, media: Any, target: Target) -> None:
        """What yt-dlp fetched and made of a page: stored, tied to the page's response."""
        fetched, size, failures = keep_media(self.sink, self.state, media, target,
                                             self._media_early.pop(media.visit_id, None),
                                             self._held)
        self.stats.fetched, self.stats.bytes = self.stats.fetched + fetched, self.stats.bytes + size
        for url, kind, reason in failures:
            self.fail(url, kind, reason)

    def _handle_visit(self, visit: Any, target: Target) -> None:
        """A page the browser loaded: its exchanges and renders stored, its failures
        recorded, its seed's final URL, and the links of the DOM its scripts made."""
        summary, links, failed = record_visit(self.sink, visit, target)
        self.state.add_visit(summary)
        fetched = [(seen.exchange.url, seen.exchange.ok) for seen in visit.seen
                   if not seen.prefetch] + [(url, True) for url in visit.inflight]
        for url, ok in fetched:  # what the browser fetched (or is fetching) is not again
            self.state.push(Target(url, target.seed, "requisite", target.depth,
                                   target.requisite_depth + 1),
                            state="done" if ok else "failed")
        self.stats.fetched += sum(1 for seen in visit.seen if seen.exchange.ok)
        self.stats.bytes += sum(seen.exchange.response_size for seen in visit.seen)
        for exchange in failed:
            self.fail(exchange.url, exchange.error_kind or "network", exchange.error or "")
        if visit.interrupted:  # what it showed is kept; --resume loads the page again
            return self.state.mark(target.url, "queued")
        if summary["error"]:
            if not any(exchange.url == target.url for exchange in failed):
                self.fail(target.url, "browser", summary["error"])
            self.state.mark(target.url, "failed")
            return
        self.state.mark(target.url, "done")
        if target.kind == "seed" or target.url in self.final_urls.values():
            for seed, final in self.final_urls.items():
                if final == target.url:
                    self.final_urls[seed] = visit.final_url
        if visit.final_url != target.url:
            self.state.push(Target(visit.final_url, target.seed, target.kind, target.depth),
                            state="done")  # loaded: not to be loaded again
        if links is not None:
            self._follow_links(links, target)

    def _late_fetches(self) -> bool:
        """Whether the browser's (or yt-dlp's) proxy is still fetching for visits that
        ended; what it finished meanwhile is stored."""
        if not self._recorders:
            return False
        self.state.begin()
        self._store_late()
        self.state.commit()
        if not any(recorder.fetching for recorder in self._recorders):
            return False
        time.sleep(0.1)
        return True

    def _store_late(self) -> None:
        """Fetches by the browser (or yt-dlp) that ended after their page's visit."""
        for seen in (seen for recorder in self._recorders for seen in recorder.late()):
            seed, depth = self.state.seed_of(seen.page) or (seen.page, 0)
            target = Target(seen.exchange.url, seed, "requisite", depth)
            try:
                self.sink.store(seen.exchange, target)
                self.stats.bytes += seen.exchange.response_size
                if seen.exchange.ok:
                    self.stats.fetched += 1
                else:
                    self.fail(seen.exchange.url, seen.exchange.error_kind or "network",
                               seen.exchange.error or "")
            finally:
                seen.exchange.close()

    def _handle_exchange(self, exchange: Exchange, target: Target) -> None:
        try:
            if exchange.stopped:  # cut by Ctrl-C: what came is kept; --resume fetches it
                if exchange.ok or exchange.response is not None:
                    self.sink.store(exchange, target)
                self.state.mark(target.url, "queued")
                return
            if not exchange.ok:
                if exchange.error_kind in RETRY_ERRORS and target.attempts < self.rules.retries:
                    self._retry(target, retry_after(None, target.attempts))
                    return
                self.sink.store(exchange, target)
                self.fail(target.url, exchange.error_kind or "network", exchange.error or "")
                self.state.mark(target.url, "failed")
                return
            self.stats.fetched += 1
            self.stats.bytes += exchange.response_size
            links = self.sink.store(exchange, target)
            if exchange.status in RETRY_STATUSES and target.attempts < self.rules.retries:
                wait_for = retry_after(exchange.headers.get("retry-after"), target.attempts)
                if wait_for <= MAX_RETRY_WAIT:
                    self._retry(target, wait_for)
                    return
            self.state.mark(target.url, "done")
            if exchange.status in REDIRECTS and "location" in exchange.headers:
                self._follow_redirect(exchange, target)
            elif links is not None:
                self._follow_links(links, target)
        finally:
            exchange.close()

    def _retry(self, target: Target, wait_for: float) -> None:
        self.stats.retried += 1
        self.state.retry_later(target.url, time.time() + wait_for)

    def _unusable(self, text: str, reason: str, target: Target) -> None:
        """A link custody would have fetched, but that no parser takes: a failure, once."""
        if self.state.push(Target(text, target.seed, "requisite"), state="failed") == "new":
            self.fail(text, "invalid-url", f"linked from {target.url}: {reason}")

    def fail(self, url: str, kind: str, reason: str) -> None:
        self.stats.failed += 1
        self.state.add_failure({"url": url, "kind": kind, "reason": reason, "at": _now_iso()})

    def _follow_redirect(self, exchange: Exchange, target: Target) -> None:
        location = exchange.headers["location"]
        chain = (*target.chain, target.url)
        next_url, reason = check_link(target.url, location)
        if next_url is None:
            why = f": {reason}" if reason else " (not an http or https URL)"
            self.fail(target.url, "redirect",
                       f"redirect to an unusable location {location!r}{why}")
        elif next_url in chain:
            self.fail(target.url, "redirect-loop", f"redirect loop back to {next_url}")
        elif len(chain) >= MAX_REDIRECTS:
            self.fail(target.url, "redirect-limit", f"more than {MAX_REDIRECTS} redirects")
        else:
            self._redirect_to(next_url, target)

    def _redirect_to(self, next_url: str, target: Target) -> None:
        chain = (*target.chain, target.url)
        if next_url in chain or len(chain) >= MAX_REDIRECTS:
            return
        if target.kind == "seed" or target.url in self.final_urls.values():
            for seed, final in self.final_urls.items():
                if final == target.url:
                    self.final_urls[seed] = next_url
        self.state.push(Target(next_url, target.seed, target.kind, target.depth,
                               target.requisite_depth, chain, referrer=target.referrer))

    def _follow_links(self, links: Links, target: Target) -> None:
        self.stats.invalid_links += links.invalid
        rules = self.rules
        for url in links.refresh:  # a <meta http-equiv=refresh>: followed as a redirect is
            self._redirect_to(url, target)
        if rules.requisites and target.requisite_depth < MAX_REQUISITE_DEPTH:
            for url in links.requisites:
                if not rules.excluded(url) and self._allowed(url):
                    self.state.push(Target(url, target.seed, "requisite", target.depth,
                                           target.requisite_depth + 1, referrer=target.url))
            for text, reason in links.bad_requisites:
                self._unusable(text, reason, target)
        depth = self.state.depth_of(target.url, target.depth)  # it may have come closer
        if target.kind == "requisite" or depth >= rules.depth:
            return
        for text, reason in links.bad_pages:
            if rules.in_scope_text(text, target.seed):
                self._unusable(text, reason, target)
        for url in links.pages:
            if rules.in_scope(url, target.seed) and self._allowed(url):
                found = self.state.push(Target(url, target.seed, "page", depth + 1,
                                               referrer=target.url))
                if found == "closer":
                    self._expand_again(url, target.seed)

    def _allowed(self, url: str) -> bool:
        """robots.txt's say, when the crawl was asked to respect it."""
        if not self.rules.respect_robots:
            return True
        allowed = self._robots.allow(url)
        if not allowed:
            self.stats.robots_skipped += 1
        return allowed

    def _expand_again(self, url: str, seed: str) -> None:
        """A page fetched deep turned out nearer: follow its links, read from the WARC."""
        record = self.state.response_record(url)
        links = self.sink.links_of(record) if record is not None else None
        if links is not None:
            depth = self.state.depth_of(url, self.rules.depth)
            self._follow_links(links, Target(url, seed, "page", depth))
