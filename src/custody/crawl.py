"""The crawl: which URLs to fetch, in what order, and what each response adds.

Seeds are fetched with their page requisites (stylesheets, scripts, images,
frames, and what stylesheets import) and every redirect hop. Fetches run in a
pool of threads; everything that touches the WARC happens on the calling
thread, through the ``Sink`` the caller provides, so records are written in
one place and in one order.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit

from .errors import InvalidURL
from .fetch import Exchange, Fetcher

SCHEMES = ("http", "https")
MAX_REDIRECTS = 20
MAX_REQUISITE_DEPTH = 3  # a frame's stylesheet's image is three hops from the page
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_REQUISITE_RELS = frozenset(
    {"stylesheet", "icon", "shortcut", "apple-touch-icon", "preload", "modulepreload"}
)
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")


def check_url(url: str) -> str:
    """The URL, normalised, or InvalidURL saying why it cannot be archived."""
    text = url.strip()
    if not text:
        raise InvalidURL("empty URL", url=url)
    parts = urlsplit(text)
    if not parts.scheme:
        raise InvalidURL("not a URL (no scheme; did you mean https://...?)", url=url)
    if parts.scheme.lower() not in SCHEMES:
        raise InvalidURL(f"unsupported scheme {parts.scheme}: (only http and https)", url=url)
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidURL(f"invalid URL ({exc})", url=url) from exc
    if not host:
        raise InvalidURL("URL has no host", url=url)
    if any(ch.isspace() for ch in text):
        raise InvalidURL("URL contains white space", url=url)
    return normalise(text)


def normalise(url: str) -> str:
    """Scheme and host in lower case, default port and fragment dropped."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = port is None or (scheme, port) in (("http", 80), ("https", 443))
    netloc = host if default else f"{host}:{port}"
    if parts.username or parts.password:
        userinfo = parts.username or ""
        if parts.password:
            userinfo += ":" + parts.password
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def resolve(base: str, href: str) -> str | None:
    href = href.strip()
    if not href or href.startswith(("#", "data:", "javascript:", "mailto:", "tel:", "about:")):
        return None
    try:
        return check_url(urljoin(base, href))
    except InvalidURL:
        return None
    except ValueError:
        return None


# -- links -------------------------------------------------------------------------------------


@dataclass
class Links:
    requisites: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)  # <a href>, for --depth
    invalid: int = 0


def html_links(html: str, base_url: str) -> Links:
    import lxml.html

    found = Links()
    try:
        doc = lxml.html.document_fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return found
    base_el = doc.find(".//base[@href]")
    base = urljoin(base_url, base_el.get("href")) if base_el is not None else base_url

    def add(target: list[str], href: str | None) -> None:
        if not href:
            return
        url = resolve(base, href)
        if url is None:
            if not href.lstrip().startswith(("#", "data:", "javascript:", "mailto:", "tel:")):
                found.invalid += 1
            return
        target.append(url)

    for el in doc.iter("link"):
        rel = (el.get("rel") or "").lower().split()
        if _REQUISITE_RELS & set(rel):
            add(found.requisites, el.get("href"))
    for tag, attr in (("script", "src"), ("img", "src"), ("iframe", "src"), ("frame", "src"),
                      ("embed", "src"), ("audio", "src"), ("video", "src"), ("video", "poster"),
                      ("source", "src"), ("track", "src"), ("object", "data"), ("input", "src")):
        for el in doc.iter(tag):
            add(found.requisites, el.get(attr))
    for el in doc.iter("img", "source"):
        for candidate in (el.get("srcset") or "").split(","):
            add(found.requisites, candidate.strip().split(" ")[0] if candidate.strip() else None)
    for el in doc.iter("style"):
        for url in css_links(el.text or "", base):
            found.requisites.append(url)
    for el in doc.xpath("//*[@style]"):
        for url in css_links(el.get("style") or "", base):
            found.requisites.append(url)
    for el in doc.iter("a", "area"):
        add(found.pages, el.get("href"))
    found.requisites = list(dict.fromkeys(found.requisites))
    found.pages = list(dict.fromkeys(found.pages))
    return found


def css_links(css: str, base_url: str) -> list[str]:
    urls = []
    for match in _CSS_URL.finditer(css):
        url = resolve(base_url, match.group(1) or match.group(2))
        if url:
            urls.append(url)
    return list(dict.fromkeys(urls))


# -- the crawl ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    url: str
    seed: str
    kind: str  # seed, requisite
    requisite_depth: int = 0
    chain: tuple[str, ...] = ()  # redirect hops that led here


@dataclass
class Failure:
    url: str
    kind: str
    reason: str
    at: str

    def to_json(self) -> dict[str, str]:
        return {"url": self.url, "kind": self.kind, "reason": self.reason, "at": self.at}


class Sink(Protocol):
    """Where the crawl puts each exchange; returns the links the stored response offers."""

    def store(self, exchange: Exchange, target: Target) -> Links | None: ...


@dataclass
class Outcome:
    final_urls: dict[str, str] = field(default_factory=dict)  # seed -> last redirect hop
    failures: list[Failure] = field(default_factory=list)
    fetched: int = 0
    invalid_links: int = 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Crawl:
    def __init__(self, fetcher: Fetcher, sink: Sink, *, requisites: bool = True,
                 concurrency: int = 8, on_progress: Callable[[Outcome, int], None] | None = None):
        self.fetcher = fetcher
        self.sink = sink
        self.requisites = requisites
        self.concurrency = max(1, concurrency)
        self.on_progress = on_progress
        self.outcome = Outcome()
        self._queue: deque[Target] = deque()
        self._seen: set[str] = set()

    def _enqueue(self, target: Target) -> None:
        if target.url in self._seen:
            return
        self._seen.add(target.url)
        self._queue.append(target)

    def run(self, seeds: list[str]) -> Outcome:
        for seed in seeds:
            self.outcome.final_urls.setdefault(seed, seed)
            self._enqueue(Target(seed, seed, "seed"))
        pending: dict[Future[Exchange], Target] = {}
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="fetch") as pool:
            while self._queue or pending:
                while self._queue and len(pending) < self.concurrency:
                    target = self._queue.popleft()
                    pending[pool.submit(self.fetcher.fetch, target.url)] = target
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    target = pending.pop(future)
                    self._handle(future.result(), target)
                if self.on_progress:
                    self.on_progress(self.outcome, len(self._queue) + len(pending))
        return self.outcome

    def _handle(self, exchange: Exchange, target: Target) -> None:
        try:
            if not exchange.ok:
                kind = exchange.error_kind or "network"
                self._fail(target.url, kind, exchange.error or "")
                self.sink.store(exchange, target)
                return
            self.outcome.fetched += 1
            links = self.sink.store(exchange, target)
            if exchange.status in REDIRECTS and "location" in exchange.headers:
                self._follow_redirect(exchange, target)
                return
            if links is None:
                return
            self.outcome.invalid_links += links.invalid
            if self.requisites and target.requisite_depth < MAX_REQUISITE_DEPTH:
                for url in links.requisites:
                    self._enqueue(Target(url, target.seed, "requisite", target.requisite_depth + 1))
        finally:
            exchange.close()

    def _follow_redirect(self, exchange: Exchange, target: Target) -> None:
        location = exchange.headers["location"]
        chain = (*target.chain, target.url)
        next_url = resolve(target.url, location)
        if next_url is None:
            self._fail(target.url, "redirect", f"redirect to an unusable location {location!r}")
            return
        if next_url in chain:
            self._fail(target.url, "redirect-loop", f"redirect loop back to {next_url}")
            return
        if len(chain) >= MAX_REDIRECTS:
            self._fail(target.url, "redirect-limit", f"more than {MAX_REDIRECTS} redirects")
            return
        if target.kind == "seed":
            self.outcome.final_urls[target.seed] = next_url
        kind = target.kind
        self._enqueue(Target(next_url, target.seed, kind, target.requisite_depth, chain))

    def _fail(self, url: str, kind: str, reason: str) -> None:
        self.outcome.failures.append(Failure(url, kind, reason, _now()))
