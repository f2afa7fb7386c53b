"""What a crawl counts as it goes: for the progress line, the note and the benchmarks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Stats:
    fetched: int = 0
    failed: int = 0
    retried: int = 0
    bytes: int = 0
    invalid_links: int = 0
    robots_skipped: int = 0
    started: float = field(default_factory=time.monotonic)
    stop_reason: str | None = None  # time-limit, max-pages, interrupted

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.fetched / max(self.elapsed, 1e-6)
