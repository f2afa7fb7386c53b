"""Loopback servers that answer with bytes exactly as a test gives them: heads a
well-behaved server would never send, connections dropped where a test wants them."""

from __future__ import annotations

import contextlib
import socket
import threading


def read_request(conn: socket.socket) -> bytes | None:
    """A request's head, read up to its end; None when the client closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data


class Loopback:
    """Accepts connections on 127.0.0.1, each answered by ``answer`` in a thread of its
    own, until closed."""

    def __init__(self, backlog: int = 16) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def start(self) -> None:
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # OSError: the client went away first
            self.answer(conn)

    def answer(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()


class RawServer(Loopback):
    """Answers every connection with ``wire``, then closes it."""

    def __init__(self, wire: bytes) -> None:
        super().__init__()
        self.wire = wire

    def answer(self, conn: socket.socket) -> None:
        if read_request(conn) is not None:
            conn.sendall(self.wire)

    def __enter__(self) -> str:
        self.start()
        return self.base + "/raw"

    def __exit__(self, *exc: object) -> None:
        self.close()
