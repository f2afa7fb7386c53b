"""What a run of a watch came to, and what one pass over the due watches did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .compare import Change


@dataclass
class Outcome:
    watch_id: str
    url: str
    capture_id: str | None
    status: str  # baseline, same, changed, interrupted, truncated, site-error, failed, skipped
    change: Change | None = None
    change_seq: int | None = None
    error: str | None = None


@dataclass
class Pass:
    """What one pass over the due watches did."""

    outcomes: list[Outcome] = field(default_factory=list)
    notified: list[dict[str, Any]] = field(default_factory=list)
