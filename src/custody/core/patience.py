"""Waiting out a service that stops answering (Redis, the object store), one way for both.

A worker that loses its queue or its store waits for it rather than failing a capture:
it says so once when the service stops answering and once when it answers again (never
a line per attempt), tries again at doubling intervals up to a ceiling, and gives up
only when told to stop or when its patience, if it has one, runs out. Written here
rather than taken from tenacity or stamina because what matters is those two lines and
the caller's own classification of each error (retry, or fail at once with its own
exception), which each would need as callbacks anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
WAIT_FIRST = 0.05
WAIT_MAX = 2.0


def reason(exc: BaseException) -> str:
    """An error's first line, or its type's name."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def patiently(call: Callable[[], T], *, name: str, say: Callable[[str], None],
              transient: Callable[[BaseException], bool],
              give_up: Callable[[BaseException], BaseException],
              stopped: Callable[[], bool] = lambda: False,
              patience: float | None = None) -> T:
    """``call()``, tried again while it raises an error ``transient`` says will pass
    (``transient`` may raise its own error instead, for one that will not); ``give_up``
    makes the error raised when ``stopped()`` or ``patience`` seconds have gone by."""
    wait, told, started = WAIT_FIRST, False, time.monotonic()
    while True:
        try:
            result = call()
        except Exception as exc:
            if not transient(exc):
                raise
            if stopped() or (patience is not None and time.monotonic() - started > patience):
                raise give_up(exc) from exc
            if not told:
                say(f"{name} does not answer ({reason(exc)}); waiting for it")
                told = True
            time.sleep(wait)
            wait = min(wait * 2, WAIT_MAX)
            continue
        if told:
            say(f"{name} answers again")
        return result
