"""The thread Playwright runs in for a capture's browser: an asyncio loop of its own,
which the capture's threads hand coroutines to and wait for."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


_LOG = logging.getLogger(__name__)


def _leftover(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """What a cancelled or abandoned browser operation leaves behind (a future whose
    exception nobody took, as when a page closed under a replay that ran out of time)
    goes to the debug log, not to the archivist's terminal; anything else as asyncio
    says it."""
    if "never retrieved" in str(context.get("message", "")):
        _LOG.debug("%s: %r", context.get("message"), context.get("exception"))
        return
    loop.default_exception_handler(context)


class BrowserLoop:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_leftover)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=name)

    def start(self) -> None:
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """The coroutine run in the loop's thread, its result within ``timeout``; past
        it, the coroutine is cancelled, not left running in the loop."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self, shutdown: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """``shutdown()`` run (its failure ignored: the browser was broken already), then
        the loop and its thread ended."""
        if self._thread.ident is None:  # never started
            return
        try:
            if self._thread.is_alive():
                self.run(shutdown(), 20)
        except Exception:
            pass
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
