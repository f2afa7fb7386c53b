"""When a watch runs. Each watch's intervals are numbered from the epoch, shifted by a
phase of its own (from its id), so that watches of one interval are spread over it
rather than all due at once; each run starts within a small jitter after its interval's
start (intervals of a minute and more)."""

from __future__ import annotations

import hashlib
import math

JITTER = 0.1  # of an interval, at most MAX_JITTER seconds: when in its interval a run starts
MAX_JITTER = 300.0
JITTERED_FROM = 60  # seconds of interval


def _fraction(*parts: object) -> float:
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def phase(watch_id: str, every: int) -> float:
    return _fraction("phase", watch_id) * every


def interval_of(watch_id: str, every: int, moment: float) -> int:
    """The number of the watch's interval that ``moment`` falls in."""
    return math.floor((moment - phase(watch_id, every)) / every)


def due_time(watch_id: str, every: int, number: int) -> float:
    """When the run of interval ``number`` is due: its start, and a jitter (for intervals
    of a minute and more: a shorter one is due again at most ``every`` after a run)."""
    spread = min(every * JITTER, MAX_JITTER) if every >= JITTERED_FROM else 0.0
    jitter = _fraction("jitter", watch_id, number) * spread
    return phase(watch_id, every) + number * every + jitter
