"""A FIDO security key in software, behind an ssh-agent socket, for tests: no hardware
token (nor OpenSSH's sk-dummy provider) can be had on a test machine, and the real
ssh-agent signs with an ``sk-ssh-ed25519`` key only through one.

It answers the two agent requests custody sends (draft-miller-ssh-agent: list the keys,
11 -> 12; sign, 13 -> 14) for one key, and signs as a token does (OpenSSH PROTOCOL.u2f):
over sha256(application) || flags || counter || sha256(data), its counter one higher at
each signature. What it signs is checked by the real ``ssh-keygen -Y verify`` in the
tests, so the format is OpenSSH's, not this file's.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..core.agent import MAX_MESSAGE
from ..core.skkey import SK_KEY_TYPE, USER_PRESENT, SkEd25519PublicKey
from ..core.sshsig import fingerprint, public_key_line
from ..core.sshwire import Reader, WireError, string, uint32


class SoftToken:
    """``with SoftToken(folder) as token``: an agent socket at ``token.socket`` holding
    one security key; ``token.flags`` are the flags it signs with (user presence by
    default), ``token.signatures`` how many it made."""

    def __init__(self, folder: Path, application: bytes = b"ssh:") -> None:
        self._private = Ed25519PrivateKey.generate()
        self.public = SkEd25519PublicKey(self._private.public_key().public_bytes_raw(),
                                         application)
        self.socket = folder / "agent.sock"
        self.flags = USER_PRESENT
        self.signatures = 0
        self._lock = threading.Lock()
        self._server: Any = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    @property
    def line(self) -> str:
        return public_key_line(self.public)

    def sign(self, data: bytes) -> bytes:
        """The signature blob a token gives for ``data``."""
        with self._lock:
            self.signatures += 1
            counter, flags = self.signatures, self.flags
        raw = self._private.sign(self.public.signed_data(data, flags, counter))
        return string(SK_KEY_TYPE.encode()) + string(raw) + bytes([flags]) + uint32(counter)

    def answer(self, kind: int, body: bytes) -> bytes:
        """The reply to one request; a request it cannot read is refused, as an agent
        refuses it (SSH_AGENT_FAILURE)."""
        if kind == 11:  # the identities
            return bytes([12]) + uint32(1) + string(self.public.blob()) + \
                string(b"soft security key")
        if kind == 13:  # sign
            fields = Reader(body, "a sign request")
            try:
                blob, data = fields.string(), fields.string()
                fields.uint32()  # flags
                fields.end()
            except WireError:
                return bytes([5])
            if blob == self.public.blob():
                return bytes([14]) + string(self.sign(data))
        return bytes([5])  # failure

    def __enter__(self) -> SoftToken:
        token = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                while True:
                    head = _receive(conn, 4)
                    if head is None:
                        return
                    length = Reader(head).uint32()
                    if not 0 < length <= MAX_MESSAGE:
                        return  # as ssh-agent does: the connection is dropped
                    message = _receive(conn, length)
                    if not message:
                        return
                    reply = token.answer(message[0], message[1:])
                    conn.sendall(string(reply))

        self._server = socketserver.ThreadingUnixStreamServer(str(self.socket), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.socket.unlink(missing_ok=True)


def _receive(conn: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        piece = conn.recv(count - len(data))
        if not piece:
            return None
        data += piece
    return data
