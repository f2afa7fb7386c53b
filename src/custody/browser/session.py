"""A capture's browser, start to finish: its certificate authority, its recording proxy
on the capture's Fetcher, and Chromium behind it; all gone when the capture ends."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..capture.fetch import Fetcher
from ..capture.settings import Settings
from ..core.cookies import for_playwright
from .ca import CaptureCA
from .chromium import Chromium
from .proxy import RecordingProxy

TABS = 4  # pages loaded at once, at most: each is a renderer process
CA_PREFIX = "custody-ca-"  # the capture's certificate keys, in a folder named with the pid


def remove_stale_folders(prefix: str = CA_PREFIX) -> None:
    """Key folders left by a custody killed outright (its process is gone)."""
    for folder in Path(tempfile.gettempdir()).glob(prefix + "*"):
        pid = folder.name[len(prefix):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def open_visitor(fetcher: Fetcher, settings: Settings) -> Iterator[Chromium]:
    """The visitor a capture with --browser loads its pages with (capture.run)."""
    remove_stale_folders()
    folder = Path(tempfile.mkdtemp(prefix=f"{CA_PREFIX}{os.getpid()}-"))
    folder.chmod(0o700)
    proxy = None
    chromium = None
    try:
        ca = CaptureCA(folder)
        proxy = RecordingProxy(fetcher, ca).start()
        jar = fetcher.cookies
        chromium = Chromium(proxy, ca, page_timeout=settings.page_timeout,
                            tabs=min(TABS, settings.concurrency),
                            cookies=for_playwright(jar) if jar is not None else []).start()
        yield chromium
    finally:
        if chromium is not None:
            chromium.close()
        if proxy is not None:
            proxy.close()
        shutil.rmtree(folder, ignore_errors=True)
