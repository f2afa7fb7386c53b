"""Each host's politeness across processes: with a ``gate`` (custody.queue's HostGate,
whose ``passage(host)`` is a context manager), each fetch of a URL runs inside the
host's passage, so that --concurrency and --delay hold across every worker, on top of
what the crawl keeps to itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def through_gate(gate: Any, host: str, work: Callable[[str], Any], url: str) -> Any:
    with gate.passage(host):
        return work(url)
