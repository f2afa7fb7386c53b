"""The progress line `custody archive` shows on a terminal while it captures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# after a first Ctrl-C (or SIGTERM) the capture finishes what is under way and seals,
# which may take a while: said first, so that a narrow terminal cuts the counts instead
STOPPING = "stopping: sealing what was captured (Ctrl-C again: stop now, resume later)"


class Progress:
    """A rich progress line on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None

    def __enter__(self) -> Callable[[Any, int], None] | None:
        if not self.enabled:
            return None
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                  TimeElapsedColumn(), transient=True)
        self._progress.start()
        task = self._progress.add_task("starting")

        def update(stats: Any, queued: int) -> None:
            counts = (f"{stats.fetched} fetched, {queued} queued, {stats.failed} failed, "
                      f"{stats.bytes / 1e6:.1f} MB, {stats.rate:.1f}/s")
            stopping = stats.stop_reason == "interrupted"
            self._progress.update(task, description=f"{STOPPING}; {counts}" if stopping
                                  else counts)

        return update

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
