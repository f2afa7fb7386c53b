"""The browser's asyncio loop: a coroutine that runs out of time is cancelled, not left
running; what an abandoned operation leaves behind never reaches the terminal."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest

from custody.browser.loop import BrowserLoop


def test_a_coroutine_past_its_time_is_cancelled_and_leaves_nothing_on_stderr(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    loop = BrowserLoop("custody-test-loop")
    loop.start()
    state: dict[str, object] = {}

    async def hangs() -> None:
        async def fails_late() -> None:
            await asyncio.sleep(0.3)
            raise RuntimeError("the page closed under it")

        try:
            await asyncio.gather(fails_late(), asyncio.sleep(30))
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise

    async def abandons() -> None:
        # a future given an exception that nobody takes, as a closed page's call leaves
        future = asyncio.get_running_loop().create_future()
        future.set_exception(RuntimeError("Target page, context or browser has been closed"))
        del future
        gc.collect()

    try:
        with pytest.raises(TimeoutError):
            loop.run(hangs(), 0.1)
        time.sleep(0.5)
        assert state.get("cancelled") is True
        loop.run(abandons(), 5)
        assert loop.run(asyncio.sleep(0, "still answers"), 5) == "still answers"
    finally:
        loop.close(lambda: asyncio.sleep(0))
    said = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not said, [r.getMessage() for r in said]
    assert any("never retrieved" in r.getMessage() for r in caplog.records)
