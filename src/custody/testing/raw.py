"""A loopback server that answers every request with the same bytes, exactly as given:
heads a well-behaved server would never send, kept as sent."""

from __future__ import annotations

import socket
import threading


class RawServer:
    """Answers every connection with ``wire``, then closes it."""

    def __init__(self, wire: bytes) -> None:
        self.wire = wire
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                try:
                    conn.sendall(self.wire)
                except OSError:
                    continue  # the client went away first

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/raw"

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
