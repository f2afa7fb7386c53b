"""The changes the watches found, newest first, as custody.db's ``watch_changes`` holds them
(derived from the log's ``watch-changed`` events, each naming its two captures)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..core.archive import Archive
from ..core.errors import NotFound, UsageError
from .intervals import UNITS
from .watches import watch_reading


@dataclass(frozen=True)
class FoundChange:
    seq: int  # the event's number in the custody log
    at: str
    watch_id: str
    url: str
    kinds: list[str]
    reason: str | None
    before_capture: str
    before_manifest_sha256: str
    after_capture: str
    after_manifest_sha256: str
    counts: dict[str, int]
    diff_sha256: str
    diff: str


def since_moment(text: str, now: datetime | None = None) -> str:
    """An ISO time from ``2026-11-20``, ``2026-11-20T10:00:00Z`` or an age (``6h``, ``7d``),
    in the log's form, to compare with its times; UsageError for anything else."""
    moment = now or datetime.now(UTC)
    lowered = text.strip().lower()
    if lowered and lowered[:-1].isdigit() and lowered[-1] in UNITS:
        found = moment - timedelta(seconds=int(lowered[:-1]) * UNITS[lowered[-1]])
    else:
        try:
            found = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--since takes a date (2026-11-20), a time "
                             f"(2026-11-20T10:00:00Z) or an age (6h, 7d), not {text!r}") \
                from None
        if found.tzinfo is None:
            found = found.replace(tzinfo=UTC)
    return found.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_SELECT = ("SELECT seq, at, watch_id, url, kinds, reason, before_capture, "
           "before_manifest_sha256, after_capture, after_manifest_sha256, counts, "
           "diff_sha256, diff FROM watch_changes ")


def list_changes(archive: Archive, *, since: str | None = None, watch_id: str | None = None,
                 limit: int | None = None) -> list[FoundChange]:
    """Changes newest first (``since``: an ISO time, as since_moment gives it)."""
    with watch_reading(archive) as conn:
        rows = conn.execute(
            _SELECT + "WHERE (? IS NULL OR at >= ?) AND (? IS NULL OR watch_id = ?) "
            "ORDER BY seq DESC LIMIT ?",
            [since, since, watch_id, watch_id, -1 if limit is None else limit]).fetchall()
    return [_change(r) for r in rows]


def change_of(archive: Archive, seq: int) -> FoundChange:
    """The change the custody log's event ``seq`` records; NotFound when it records none."""
    with watch_reading(archive) as conn:
        row = conn.execute(_SELECT + "WHERE seq = ?", [seq]).fetchone()
    if row is None:
        raise NotFound("no such change (custody watch changes lists them, each with its "
                       "number)", where=str(seq))
    return _change(row)


def _change(r: tuple[Any, ...]) -> FoundChange:
    return FoundChange(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7], r[8], r[9],
                       json.loads(r[10]), r[11], r[12])


def not_before_last_change(conn: Any, watch_id: str, capture_id: str) -> str:
    """The capture a run is compared with: ``capture_id`` (the working state's), unless
    it was sealed before the after-capture of the watch's last recorded change (a state
    wound back would record that change again): then that capture."""
    last = conn.execute(
        "SELECT c.after_capture, a.sequence FROM watch_changes c JOIN captures a ON a.id = "
        "c.after_capture WHERE c.watch_id = ? ORDER BY c.seq DESC LIMIT 1",
        [watch_id]).fetchone()
    mine = conn.execute("SELECT sequence FROM captures WHERE id = ?", [capture_id]).fetchone()
    if last is None or mine is None or (mine[0] or 0) >= (last[1] or 0):
        return capture_id
    import logging

    logging.getLogger("custody.watch").error(
        "watch %s: the working state names %s as its last capture, sealed before the "
        "capture of its last change, %s: compared with that", watch_id, capture_id, last[0])
    return str(last[0])
