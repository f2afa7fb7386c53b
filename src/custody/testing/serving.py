"""`custody serve` as a child process, for the tests and scripts/bench_serve.py: started
on free ports, its address and per-run secret read from what it prints, stopped with
SIGTERM as Ctrl-C would; and a signed-in HTTP client for it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CUSTODY = str(Path(sys.executable).with_name("custody"))


@dataclass
class Served:
    process: subprocess.Popen[str]
    base: str  # http://127.0.0.1:PORT
    token: str | None
    lines: list[str]

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def signed_in(self) -> Any:
        """An httpx client holding a session opened with the run's secret."""
        import httpx

        client = httpx.Client(base_url=self.base, timeout=60)
        answer = client.get(f"/?token={self.token}")
        assert answer.status_code == 303, answer.text
        return client


@contextmanager
def serving(root: Path, *args: str, env: dict[str, str] | None = None,
            timeout: float = 90.0) -> Iterator[Served]:
    """``custody serve --root ROOT --port 0 ARGS``, until the block ends."""
    process = subprocess.Popen([CUSTODY, "serve", "--root", str(root), "--port", "0", *args],
                               env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("custody serve ended: " + (process.stderr.read()
                                                              if process.stderr else ""))
            lines.append(line.rstrip("\n"))
            found = re.match(r"open (https?://[^/]+)/(?:\?token=(\S+))?", line)
            if found:
                yield Served(process, found.group(1), found.group(2), lines)
                return
        raise RuntimeError("custody serve did not start in time")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
