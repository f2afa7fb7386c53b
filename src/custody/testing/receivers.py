"""Where the watch's notifications land in the tests: a local SMTP server (aiosmtpd) and a
local webhook receiver that keeps each POST's headers and exact body."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpReceiver:
    """An SMTP server on 127.0.0.1 keeping every message; ``url`` is Apprise's for it."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    @property
    def url(self) -> str:
        return (f"mailto://127.0.0.1:{self.port}?to=desk@example.org"
                "&from=custody@example.org&secure=no")

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts.append(Post(self.path, dict(self.headers.items()), body))
        status = self.server.status
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    posts: list[Post]
    status: int


class WebhookReceiver:
    """Takes POSTs on 127.0.0.1 (answering ``status``, 200 unless a test says otherwise)."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.posts = []
        self._server.status = 200
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def posts(self) -> list[Post]:
        return self._server.posts

    @property
    def status(self) -> int:
        return self._server.status

    @status.setter
    def status(self, value: int) -> None:
        self._server.status = value

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
