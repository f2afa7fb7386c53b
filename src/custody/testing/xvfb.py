"""A virtual X display (Xvfb, Debian's ``xvfb``) for tests of what opens a window: the
display of archive --interactive's browser, started on a free number and stopped after."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

XVFB = "Xvfb"


def available() -> bool:
    return shutil.which(XVFB) is not None


class Display:
    def __init__(self, width: int = 1280, height: int = 1024) -> None:
        self.size = f"{width}x{height}x24"
        self.proc: subprocess.Popen[bytes] | None = None
        self.name = ""

    def __enter__(self) -> Display:
        for number in range(90 + os.getpid() % 400, 600):
            if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
                continue
            self.proc = subprocess.Popen([XVFB, f":{number}", "-screen", "0", self.size,
                                          "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                if Path(f"/tmp/.X11-unix/X{number}").exists():
                    self.name = f":{number}"
                    return self
                time.sleep(0.05)
            self.proc.kill()
            self.proc.wait()
        raise RuntimeError("Xvfb would not start on any display number")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
