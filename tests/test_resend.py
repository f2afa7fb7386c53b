"""A request that a kept-alive connection dropped unanswered: sent again once, on a new
connection, within the same time, and only where its method lets it be (RFC 9110 9.2.2)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from custody.capture.fetch import Fetcher
from custody.testing.raw import Loopback, read_request

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class Dropping(Loopback):
    """Answers the first request on each connection (after ``first_wait`` seconds); reads
    the next, waits ``drop_wait`` seconds, and closes without answering it."""

    def __init__(self, first_wait: float = 0.0, drop_wait: float = 0.0) -> None:
        super().__init__()
        self.first_wait, self.drop_wait = first_wait, drop_wait
        self.seen: list[str] = []  # "METHOD /path" of each request read
        self.url = self.base
        self.start()

    def _read(self, conn: socket.socket) -> bool:
        request = read_request(conn)
        if request is not None:
            self.seen.append(b" ".join(request.split(b" ")[:2]).decode())
        return request is not None

    def answer(self, conn: socket.socket) -> None:
        if not self._read(conn):
            return
        time.sleep(self.first_wait)
        conn.sendall(ANSWER)
        if self._read(conn):
            time.sleep(self.drop_wait)


@pytest.fixture
def dropping() -> Iterator[Dropping]:
    server = Dropping()
    yield server
    server.close()


def test_a_get_is_sent_again_and_a_post_is_not(dropping: Dropping) -> None:
    with Fetcher(user_agent="test", timeout=5) as fetcher:
        assert fetcher.fetch(dropping.url + "/a").status == 200
        again = fetcher.fetch(dropping.url + "/b")  # on the kept-alive connection: dropped
        assert again.ok and again.status == 200 and again.request_bytes.startswith(b"GET /b")
        assert fetcher.fetch(dropping.url + "/c").status == 200  # a connection to drop it
        posted = fetcher.fetch(dropping.url + "/d", method="POST", body=b"x=1",
                               headers=[("Content-Type", "application/x-www-form-urlencoded")])
        assert not posted.ok and posted.error_kind in ("protocol", "network"), posted.error
    assert dropping.seen.count("GET /b") == 2 and dropping.seen.count("POST /d") == 1
    assert dropping.seen.count("GET /a") == 1


def test_the_request_is_sent_again_within_its_time() -> None:
    """Dropped after 1.2 s, answered on the new connection after 1.2 s more: past the
    fetch's 2 s, which holds for both sends together."""
    server = Dropping(first_wait=1.2, drop_wait=1.2)
    try:
        with Fetcher(user_agent="test", timeout=2) as fetcher:
            assert fetcher.fetch(server.url + "/a").status == 200
            began = time.monotonic()
            late = fetcher.fetch(server.url + "/b")
            took = time.monotonic() - began
    finally:
        server.close()
    assert not late.ok and late.error_kind == "timeout", (late.status, late.error)
    assert took < 2.6, took
    assert server.seen.count("GET /b") == 2
