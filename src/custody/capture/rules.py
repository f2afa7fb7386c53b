"""What a crawl follows: depth, scope, include and exclude patterns, limits, politeness.

The include and exclude patterns are matched as patterns.py says: never able to hold the
crawl, whatever URLs the site gives them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .patterns import Pattern, matches

SCOPES = ("page", "prefix", "host", "domain", "any")


def compile_pattern(pattern: str) -> Pattern:
    """A crawl's include or exclude pattern (re.error where it is not one)."""
    return Pattern(pattern)


@dataclass
class Rules:
    depth: int = 0
    scope: str = "host"
    include: list[Pattern] = field(default_factory=list)
    exclude: list[Pattern] = field(default_factory=list)
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
