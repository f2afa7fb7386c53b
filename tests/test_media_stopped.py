"""A download the capture's stop cuts off is said to be cut off, however yt-dlp ends it.

Once a capture is stopped, custody's proxy refuses the download's requests. yt-dlp may
then give up on the refused pieces of a stream and finish the file without them, no
progress report coming after the stop: the file must still be marked truncated, not
sealed as a whole video."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from custody.media.ytdlp import download
from custody.testing.mediasite import stream_site

SEGMENT = 16 * 1024


class _Stream(BaseHTTPRequestHandler):
    """An HLS stream of six segments; the fourth answers after a second, as the capture
    is stopped, and it and the two after it are refused (as custody's proxy refuses)."""

    protocol_version = "HTTP/1.1"
    pages: ClassVar[dict[str, tuple[bytes, str]]] = {}
    stop: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        if self.path in ("/hls/seg00003.ts", "/hls/seg00004.ts", "/hls/seg00005.ts"):
            time.sleep(1.0)
            self.stop.set()
            self._answer(403, b"stopped", "text/plain")
            return
        body, kind = self.pages.get(self.path, (b"", ""))
        self._answer(200 if kind else 404, body, kind or "text/plain")

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # yt-dlp closing a connection it gave up on


@pytest.fixture
def stream() -> Iterator[str]:
    _Stream.pages = {path: (page.body, page.content_type)
                     for path, page in stream_site(6, SEGMENT).items()}
    _Stream.stop = threading.Event()
    server = _Server(("127.0.0.1", 0), _Stream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_stream_finished_with_gaps_after_the_stop_is_marked_cut_off(
        stream: str, tmp_path: Path) -> None:
    result = download(stream + "/watch", proxy_url="", folder=tmp_path / "media",
                      max_bytes=None, time_limit=None, timeout=10, cookiefile=None,
                      stop=_Stream.stop)
    [video] = [f for f in result.files if f.role == "media"]
    assert video.path.stat().st_size == 3 * SEGMENT  # the three before the stop
    assert video.truncated == "unspecified"
    assert result.error == "stopped with the capture: the download is incomplete"
    assert any("cut off when the capture was stopped" in note for note in result.notes)
