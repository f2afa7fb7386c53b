"""Watch: pages captured again on a schedule, what changed or vanished proved from two
sealed captures, and people told. What `custody watch` and the workbench both call.

Watches are evidence of intent and changes evidence of what two captures show: each is
a signed event of the custody log (``watch-added``, ``-removed``, ``-paused``,
``-resumed``, ``-changed``: index/watching.py), indexed in custody.db's ``watches`` and
``watch_changes``, which ``custody reindex`` rebuilds and ``custody verify`` compares
with the log. When each watch is next due, the run under way and what was delivered
are the scheduler's working state (``.custody/watch/state.db``).

The API::

    from custody.watch import ...
    add_watches(archive, urls, every="6h", signer=, browser=False, media=False,
                case=None, notify=[target names], ignore=[CSS selectors]) -> list[Watch]
    remove_watch / pause_watch(archive, ref, signer=, reason=None) -> Recorded
    resume_watch(archive, ref, signer=) -> Recorded
    list_watches(archive, status=None, case=None) -> list[Watch]   # oldest first
    get_watch(archive, ref) -> Watch                # ref: its id, or its URL
    schedule_of(archive) -> dict[watch id, Slot]    # next due, last capture, last outcome
    list_changes(archive, since=None, watch_id=None, limit=None) -> list[FoundChange]
    add_target(archive, name, apprise_url) -> secret | None;  remove_target; list_targets

    runner = Runner(archive, key=, who=, open_visitor=, open_media=, tsa=)
    runner.run_due() -> Pass;  runner.loop(should_stop)   # within scheduler_lock(archive)

Errors are custody.core.errors' (UsageError, NotFound, ArchiveError, ArchiveLocked, ...),
each with the exit code the CLI gives it.
"""

from __future__ import annotations

from ..core.archive import Archive
from .changes import FoundChange, list_changes, since_moment
from .intervals import parse_interval, shown
from .notify import add_target, list_targets, remove_target
from .outcome import Outcome, Pass
from .runner import Runner
from .state import Slot, WatchState, scheduler_lock
from .watches import (
    Watch,
    add_watches,
    get_watch,
    list_watches,
    pause_watch,
    remove_watch,
    resume_watch,
)


def schedule_of(archive: Archive) -> dict[str, Slot]:
    """Each scheduled watch's place: when next due, its last capture and outcome."""
    state = WatchState(archive)
    try:
        return state.slots()
    finally:
        state.close()


__all__ = [
    "FoundChange", "Outcome", "Pass", "Runner", "Slot", "Watch", "WatchState", "add_target",
    "add_watches", "get_watch", "list_changes", "list_targets", "list_watches",
    "parse_interval", "pause_watch", "remove_target", "remove_watch", "resume_watch",
    "schedule_of", "scheduler_lock", "shown", "since_moment",
]
