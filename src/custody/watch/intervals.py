"""How often a watch runs: ``30s``, ``15m``, ``6h``, ``1d`` (a number and one unit)."""

from __future__ import annotations

import re

from ..core.errors import UsageError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SHORTEST = 1  # seconds; the tests watch at 1s, and a page is never fetched more often
LONGEST = 366 * 86400
_FORM = re.compile(r"\s*(\d+)\s*([smhd])\s*")


def parse_interval(text: str) -> int:
    """Seconds, from ``30s``, ``15m``, ``6h`` or ``1d``; UsageError for anything else."""
    match = _FORM.fullmatch(text.lower())
    if match is None:
        raise UsageError(f"not an interval: {text!r} (give a number and a unit: 30s, 15m, "
                         "6h, 1d)")
    seconds = int(match[1]) * UNITS[match[2]]
    if not SHORTEST <= seconds <= LONGEST:
        raise UsageError(f"an interval from {SHORTEST}s to {LONGEST // 86400}d, not {text!r}")
    return seconds


def shown(seconds: int) -> str:
    """The interval as it would be written: the largest unit that divides it."""
    for unit in ("d", "h", "m"):
        if seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"
