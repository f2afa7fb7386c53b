"""What a crawl follows: depth, scope, include and exclude patterns, limits, politeness."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SCOPES = ("page", "prefix", "host", "domain", "any")


@dataclass
class Rules:
    depth: int = 0
    scope: str = "host"
    include: list[re.Pattern[str]] = field(default_factory=list)
    exclude: list[re.Pattern[str]] = field(default_factory=list)
    requisites: bool = True
    max_pages: int | None = None
    time_limit: float | None = None
    concurrency: int = 8  # per host
    delay: float = 0.0
    retries: int = 2
    respect_robots: bool = False

    def in_scope(self, url: str, seed: str) -> bool:
        if any(p.search(url) for p in self.exclude):
            return False
        if any(p.search(url) for p in self.include):
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
            if any(p.search(text) for p in self.exclude):
                return False
            origin = urlsplit(seed)
            return self.scope == "any" or any(p.search(text) for p in self.include) or (
                self.scope != "page" and text.lower().startswith(
                    f"{origin.scheme}://{origin.netloc}".lower()))

    def excluded(self, url: str) -> bool:
        return any(p.search(url) for p in self.exclude)
