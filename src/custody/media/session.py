"""A capture's media collector (--media): a recording proxy of its own, on a fetcher like
the capture's but bounded by the media limits, and yt-dlp run on each page through it.

yt-dlp is given the page first, for its site extractors and its generic one (``<video>``,
``<source>``, ``<audio>``, HLS and DASH manifests in the HTML). When it finds nothing
there and the browser fetched media the page's scripts asked for, it is given those
URLs, playlists first, until one yields media.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..browser.ca import CaptureCA
from ..browser.proxy import RecordingProxy
from ..capture.fetch import Fetcher
from ..capture.settings import Settings
from ..core import scratch
from ..core.cookies import netscape_file
from . import apart
from .apart import Worker
from .ytdlp import MediaResult

AT_ONCE = 2  # pages yt-dlp works on at the same time
MAX_HINTS = 8  # media URLs from a browser visit tried, at most
GRACE = 5.0  # seconds the proxy waits for yt-dlp's fetches still running when it is done
PREFIX = "custody-media-"


class MediaCollector:
    def __init__(self, fetcher: Fetcher, ca: CaptureCA, settings: Settings,
                 folder: Path) -> None:
        self.settings = settings
        limit = settings.max_media_bytes
        # one response may run past the file's limit by what yt-dlp asks for in one go
        self.fetcher = fetcher.sibling(max_body=None if limit is None else limit + 2**20)
        self.proxy = RecordingProxy(self.fetcher, ca).start()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        # yt-dlp reads (and writes back) a cookies.txt: a copy of the capture's jar
        self.cookiefile = (netscape_file(fetcher.cookies, folder)
                           if fetcher.cookies is not None else None)
        self._slots = threading.Semaphore(AT_ONCE)
        self._count = 0
        self._lock = threading.Lock()
        self._open: dict[str, Any] = {}  # visit id -> its tag, while yt-dlp works
        self._stop = threading.Event()
        # yt-dlp's processes (media.apart): one started now, loading while the page is
        # fetched; more when pages are downloaded at once (AT_ONCE)
        self._idle = [apart.worker()]
        self._busy: list[Worker] = []

    def collect(self, url: str, hints: list[str], tag: Any = None) -> MediaResult:
        """yt-dlp on the page (and, when it finds nothing there, on ``hints``: the media
        URLs a browser saw it fetch); never raises for the page. Its fetches that end
        while it works are handed out by ``ended`` with ``tag``; the rest are the
        result's ``seen``."""
        with self._slots:
            visit_id = self.proxy.open_visit(url)
            with self._lock:
                self._open[visit_id] = tag
            folder = self._new_folder()
            try:
                result = self._download(url, visit_id, folder / "page")
                for number, hint in enumerate(h for h in hints[:MAX_HINTS] if h != url):
                    if result.files or self._stop.is_set():
                        break
                    more = self._download(hint, visit_id, folder / f"hint{number}")
                    result.tried.append(hint)
                    result.notes += more.notes
                    if more.files or more.info is not None:
                        result.files, result.info, result.error = more.files, more.info, None
                        result.found = True
                    elif more.error and result.error is None:
                        result.error = more.error
            finally:
                visit = self.proxy.close_visit(visit_id, grace=GRACE)
                with self._lock:
                    del self._open[visit_id]
            result.folder = folder
            result.visit_id = visit_id
            result.seen = visit.seen
            result.refused = visit.refused
            return result

    def _download(self, url: str, visit_id: str, folder: Path) -> MediaResult:
        settings = self.settings
        proxy_url = f"http://{visit_id}:{self.proxy.secret}@127.0.0.1:{self.proxy.port}"
        request = dict(url=url, proxy_url=proxy_url, folder=folder,
                       max_bytes=settings.max_media_bytes,
                       time_limit=settings.media_time_limit, timeout=settings.timeout,
                       cookiefile=self.cookiefile, user_agent=settings.user_agent or None)
        worker = self._take_worker()
        try:
            return worker.download(request, self._stop)
        finally:
            with self._lock:
                self._busy.remove(worker)
                if worker.alive:
                    self._idle.append(worker)
            if not worker.alive:
                worker.close()

    def _take_worker(self) -> Worker:
        with self._lock:
            while self._idle and not self._idle[-1].alive:
                self._idle.pop().close()
            worker = self._idle.pop() if self._idle else Worker()
            self._busy.append(worker)
            return worker

    def _new_folder(self) -> Path:
        with self._lock:
            self._count += 1
            number = self._count
        folder = self.folder / f"{number:06d}"
        folder.mkdir(parents=True)
        return folder

    def stop(self) -> None:
        """The capture is stopping: each download ends at its next piece, kept as far as
        it went, and no other URL is tried."""
        self._stop.set()
        with self._lock:
            busy = list(self._busy)
        for worker in busy:
            worker.stop()
        self.proxy.stop_new()  # one still finding its media (no segment yet) ends too

    def ended(self) -> list[tuple[str, Any, Any]]:
        """The fetches of downloads under way that ended since the last call, as (visit,
        tag, proxy.Seen): stored while yt-dlp goes on, not all at its end."""
        with self._lock:
            open_now = list(self._open.items())
        return [(visit_id, tag, seen) for visit_id, tag in open_now
                for seen in self.proxy.take_seen(visit_id, refused=False)[0]]

    @property
    def downloading(self) -> bool:
        """Whether yt-dlp is at work on a page (its fetches are stored as they end)."""
        with self._lock:
            return bool(self._open)

    def late(self) -> list[Any]:
        """yt-dlp's requests whose fetch ended after its page was done (each once)."""
        return self.proxy.take_late()

    @property
    def fetching(self) -> int:
        return self.proxy.fetching

    def close(self) -> None:
        with self._lock:
            workers, self._idle = self._idle + self._busy, []
        for worker in workers:
            worker.close()
        self.proxy.close()
        self.fetcher.close()


@contextmanager
def open_media(fetcher: Fetcher, settings: Settings) -> Iterator[MediaCollector]:
    """The media collector a capture with --media uses (capture.run)."""
    folder = scratch.make(PREFIX)  # and those a custody killed outright left, removed
    collector = None
    try:
        collector = MediaCollector(fetcher, CaptureCA(folder), settings,
                                   folder / "files")
        yield collector
    finally:
        if collector is not None:
            collector.close()
        shutil.rmtree(folder, ignore_errors=True)
