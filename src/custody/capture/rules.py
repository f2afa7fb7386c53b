"""What a crawl follows: depth, scope, include and exclude patterns, limits, politeness.

The include and exclude patterns are the archivist's, or a queued job's: a pattern that
backtracks without end (``(a|aa)+b`` on a long URL) would hold the crawl, and with it the
signals that stop it and a queue worker's heartbeat, for minutes or for ever. They are
matched with the ``regex`` module (the same syntax as ``re``), each match bounded by
PATTERN_TIMEOUT and run without holding the interpreter's lock; one that takes longer is
taken as not matching an include and as matching an exclude (the URL is not followed),
and said once on the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import regex

SCOPES = ("page", "prefix", "host", "domain", "any")
PATTERN_TIMEOUT = 0.25  # seconds one pattern may take on one URL

log = logging.getLogger("custody.capture")


def compile_pattern(pattern: str) -> Any:
    """A crawl's include or exclude pattern, compiled (``regex.error`` where it is not
    one)."""
    return regex.compile(pattern)


def matches(patterns: list[Any], text: str, *, slow: bool) -> bool:
    """Whether any pattern is found in ``text``; ``slow``: what a pattern that runs past
    PATTERN_TIMEOUT counts as (True for an exclude: the URL is not followed)."""
    for pattern in patterns:
        try:
            if pattern.search(text, timeout=PATTERN_TIMEOUT, concurrent=True):
                return True
        except TimeoutError:
            log.warning("the pattern %r took more than %.2f s on %s: taken as %s",
                        pattern.pattern[:80], PATTERN_TIMEOUT, text[:200],
                        "matching it (not followed)" if slow else "not matching it")
            if slow:
                return True
    return False


@dataclass
class Rules:
    depth: int = 0
    scope: str = "host"
    include: list[Any] = field(default_factory=list)  # compile_pattern's
    exclude: list[Any] = field(default_factory=list)
    requisites: bool = True
    max_pages: int | None = None
    time_limit: float | None = None
    concurrency: int = 8  # per host
    delay: float = 0.0
    retries: int = 2
    respect_robots: bool = False

    def in_scope(self, url: str, seed: str) -> bool:
        if matches(self.exclude, url, slow=True):
            return False
        if matches(self.include, url, slow=False):
            return True
        target, origin = urlsplit(url), urlsplit(seed)
        host, seed_host = (target.hostname or ""), (origin.hostname or "")
        if self.scope == "any":
            return True
        if self.scope == "page":
            return False
        if self.scope == "prefix":
            return url.startswith(seed.rsplit("/", 1)[0] + "/")
        if self.scope == "host":
            return host == seed_host
        base = seed_host.removeprefix("www.")
        return host == base or host.endswith("." + base)

    def in_scope_text(self, text: str, seed: str) -> bool:
        """``in_scope`` for a link that does not parse as a URL: judged as text."""
        try:
            return self.in_scope(text, seed)
        except ValueError:
            if matches(self.exclude, text, slow=True):
                return False
            origin = urlsplit(seed)
            return self.scope == "any" or matches(self.include, text, slow=False) or (
                self.scope != "page" and text.lower().startswith(
                    f"{origin.scheme}://{origin.netloc}".lower()))

    def excluded(self, url: str) -> bool:
        return matches(self.exclude, url, slow=True)
