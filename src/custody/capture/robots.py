"""robots.txt, for crawls asked to respect it (--respect-robots): fetched once per origin,
archived like any response, and asked before each followed link."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..core.fields import byte_count
from ..warc.payload import decode, split_head
from .fetch import Fetcher
from .sink import Sink
from .state import Target

if TYPE_CHECKING:  # imported when robots.txt is read (urllib.request with it: 8 ms)
    from urllib.robotparser import RobotFileParser


class Robots:
    def __init__(self, fetcher: Fetcher, sink: Sink) -> None:
        self.fetcher = fetcher
        self.sink = sink
        self._parsers: dict[str, RobotFileParser | None] = {}

    def allow(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._parsers:
            self._parsers[origin] = self._fetch(origin)
        parser = self._parsers[origin]
        return parser is None or parser.can_fetch(self.fetcher.user_agent, url)

    def _fetch(self, origin: str) -> RobotFileParser | None:
        """Fetch (and archive) robots.txt; None, allowing everything, when there is none."""
        url = origin + "/robots.txt"
        exchange = self.fetcher.fetch(url)
        try:
            if not exchange.ok or exchange.response is None:
                return None
            exchange.response.seek(0)
            raw = exchange.response.read(1 << 20)
            self.sink.store(exchange, Target(url, url, "requisite"))
            if exchange.status != 200:
                return None
            head = split_head(raw, wire=True)
            body = decode(head[2], head[1], 1 << 20).body() if head is not None else b""
            from urllib.robotparser import RobotFileParser

            parser = RobotFileParser()
            parser.parse(_parsable(body.decode("utf-8", errors="replace").splitlines()))
            parser.modified()  # parse() alone leaves it thinking nothing was read
            return parser
        finally:
            exchange.close()


def _parsable(lines: list[str]) -> list[str]:
    """The lines, less a Crawl-delay or Request-rate whose numbers are not ASCII digits:
    the standard library takes "²" for a digit and then fails on it (custody uses
    neither field; the robots.txt itself is archived as it came)."""
    kept = []
    for line in lines:
        field, _, value = line.partition("#")[0].partition(":")
        name = field.strip().lower()
        if name == "crawl-delay" and byte_count(value) is None:
            continue
        if name == "request-rate" and any(byte_count(n) is None for n in value.split("/")):
            continue
        kept.append(line)
    return kept
