"""A capture's settings: what to fetch and how, as the manifest and the crawl state keep them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.errors import UsageError
from .rules import Rules

BEHAVIORS = ("autoscroll", "autoplay", "autofetch", "autoclick", "site",  # behaviors.KINDS
             "expand")  # custody's own (browser/expand.py)
DEFAULT_BEHAVIORS = ("autoscroll", "autoplay", "autofetch", "site", "expand")
MAX_URLS = 10_000  # URLs a queued job may hold (`--batch`'s most; queue/envelope.py)


@dataclass
class Settings:
    requisites: bool = True
    timeout: float = 30.0
    concurrency: int = 8
    delay: float = 0.0
    depth: int = 0
    scope: str = "host"
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    max_pages: int | None = None
    max_bytes: int | None = None
    time_limit: float | None = None
    retries: int = 2
    respect_robots: bool = False
    allow_private: bool = False
    warc_size: int = 1_000_000_000
    user_agent: str = ""  # "": the installed Chromium's own (core/user_agent.py)
    tsa: list[str] = field(default_factory=list)
    ca_bundle: str | None = None
    insecure: bool = False
    browser: bool = False  # load pages in Chromium, through the recording proxy
    interactive: bool = False  # a person browses in a headed Chromium (browser/interactive.py)
    page_timeout: float = 30.0  # seconds a page may take to load, go quiet and be rendered
    # page behaviours run in each page (browser/behaviors.py), and for how long at most
    behaviors: list[str] = field(default_factory=lambda: list(DEFAULT_BEHAVIORS))
    behavior_timeout: float = 20.0
    replay_check: bool = True  # each page replayed from the WARC and compared, before sealing
    # CSS selectors of parts that change on every visit (a watch's ignored parts, ads):
    # each browser visit records where they lie on its screenshot, for comparisons
    volatile: list[str] = field(default_factory=list)
    media: bool = False  # run yt-dlp on each page, through a recording proxy
    max_media_bytes: int | None = None  # a media file is cut off (kept, truncated) past this
    media_time_limit: float | None = None  # seconds yt-dlp may spend on one page
    cookies: str | None = None  # a Netscape cookies.txt sent by every fetcher
    browser_profile: str | None = None  # a Chromium user-data dir whose cookies are sent

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        """Settings as a crawl state or a manifest kept them; names this version does not
        know (from a newer custody) are left out rather than refused."""
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    def rules(self) -> Rules:
        from .rules import compile_pattern

        return Rules(
            depth=self.depth, scope=self.scope,
            include=[compile_pattern(p) for p in self.include],
            exclude=[compile_pattern(p) for p in self.exclude],
            requisites=self.requisites, max_pages=self.max_pages, time_limit=self.time_limit,
            concurrency=self.concurrency, delay=self.delay, retries=self.retries,
            respect_robots=self.respect_robots,
        )


def parse_behaviors(value: str) -> list[str]:
    """``--behaviors``: "default", "all", "none", or some of BEHAVIORS joined by commas; in
    their order. Here, not in browser/, so that a capture without a browser imports none
    of it."""
    words = [w.strip().lower() for w in value.split(",") if w.strip()]
    if not words:
        raise UsageError("--behaviors: default, all, none, or some of "
                         f"{', '.join(BEHAVIORS)} joined by commas")
    if words == ["default"]:
        return list(DEFAULT_BEHAVIORS)
    if words == ["all"]:
        return list(BEHAVIORS)
    if words == ["none"]:
        return []
    unknown = [w for w in words if w not in BEHAVIORS]
    if unknown:
        raise UsageError(f"--behaviors {unknown[0]!r}: all, none, or some of "
                         f"{', '.join(BEHAVIORS)} joined by commas")
    return [kind for kind in BEHAVIORS if kind in words]
