"""The progress line `custody archive` shows on a terminal: after a first Ctrl-C it says
that the capture is stopping to seal what it has, and that a second one stops it at once,
so that an archivist who sees the capture go on does not press it again unwarned."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from conftest import SEEDS, Custody
from custody.cli.progress import STOPPING
from custody.testing.site import SiteServer, crawl_site

CUSTODY = str(Path(sys.executable).with_name("custody"))
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _read(fd: int, until: float, seen: bytes | None = None) -> bytes:
    """What the terminal showed before ``until``, the program closed it, or it showed
    ``seen``."""
    out = b""
    while time.monotonic() < until and (seen is None or seen not in out):
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the program ended and closed its end
            break
        if not chunk:
            break
        out += chunk
    return out


def test_a_first_ctrl_c_says_the_capture_stops_to_seal(custody: Custody) -> None:
    controller, terminal = pty.openpty()
    # an 80-column terminal, as most are: what matters is said first
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key),
               TERM="xterm")
    with SiteServer(crawl_site(SEEDS, 40), latency=0.5) as site:
        proc = subprocess.Popen([CUSTODY, "archive", "--depth", "1", "--concurrency", "2",
                                 site.url + "/"], env=env, stdin=terminal, stdout=terminal,
                                stderr=terminal, close_fds=True)
        os.close(terminal)
        try:
            before = _read(controller, time.monotonic() + 60, seen=b" fetched, ")
            assert b" fetched, " in before, before  # the progress line, counting
            proc.send_signal(signal.SIGINT)
            after = _read(controller, time.monotonic() + 60)
            assert proc.wait(timeout=60) == 130  # interrupted, and sealed
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(controller)
    shown = _ESCAPE.sub("", after.decode("utf-8", "replace"))
    assert STOPPING in shown, shown
    assert STOPPING not in _ESCAPE.sub("", before.decode("utf-8", "replace"))
    (sealed,) = (custody.root / "manifests").glob("*.json")
    assert json.loads(sealed.read_text())["status"] == "interrupted"
    code, report = custody.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
