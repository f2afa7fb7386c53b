"""Signing with a key held by ssh-agent (``CUSTODY_KEY=agent:SHA256:...``): custody never
sees the private key, so an archivist may keep it in an agent, or on a token an agent
speaks for.

The agent protocol (draft-miller-ssh-agent): each message is a uint32 length, a type
byte and its fields; custody asks for the identities (11 -> 12) to find the key by its
fingerprint, and for each signature (13 -> 14) over the exact bytes it would have signed
with a key file. ``ssh-ed25519`` keys, and security keys (``sk-ssh-ed25519``, skkey),
whose token signs each time: one signature for the manifest, one for each custody log
event and two for the checkpoint, so a token that asks to be touched asks for each (a
key made with ``ssh-keygen -O no-touch-required`` does not).
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import KeyProblem
from .sshsig import KEY_TYPES, SK_KEY_TYPE, fingerprint, key_type, public_key_blob, read_string

PREFIX = "agent:"
_REQUEST_IDENTITIES, _IDENTITIES_ANSWER = 11, 12
_SIGN_REQUEST, _SIGN_RESPONSE = 13, 14
_FAILURE = 5
_TIMEOUT = 60.0  # a token may wait for a touch


def agent_fingerprint() -> str | None:
    """The fingerprint CUSTODY_KEY names when the key is in ssh-agent; None otherwise."""
    value = os.environ.get("CUSTODY_KEY", "")
    return value[len(PREFIX):].strip() if value.startswith(PREFIX) else None


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _Agent:
    def __init__(self) -> None:
        path = os.environ.get("SSH_AUTH_SOCK")
        if not path:
            raise KeyProblem("CUSTODY_KEY names a key in ssh-agent, but SSH_AUTH_SOCK is not "
                             "set (is ssh-agent running?)")
        self.path = path

    def ask(self, kind: int, body: bytes) -> tuple[int, bytes]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(_TIMEOUT)
                sock.connect(self.path)
                sock.sendall(_string(bytes([kind]) + body))
                length = struct.unpack(">I", _read(sock, 4))[0]
                answer = _read(sock, length)
        except OSError as exc:
            raise KeyProblem(f"ssh-agent cannot be reached ({exc.strerror or exc})",
                             where=self.path) from exc
        return answer[0], answer[1:]

    def identities(self) -> list[tuple[bytes, str]]:
        kind, body = self.ask(_REQUEST_IDENTITIES, b"")
        if kind != _IDENTITIES_ANSWER:
            raise KeyProblem("ssh-agent refused to list its keys", where=self.path)
        count = struct.unpack(">I", body[:4])[0]
        found, pos = [], 4
        for _ in range(count):
            blob, pos = read_string(body, pos)
            comment, pos = read_string(body, pos)
            found.append((blob, comment.decode("utf-8", errors="replace")))
        return found


def _read(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        piece = sock.recv(count - len(data))
        if not piece:
            raise ConnectionError("ssh-agent closed the connection")
        data += piece
    return data


class AgentKey(Ed25519PrivateKey):
    """An Ed25519 key whose private half stays in ssh-agent: it signs through the agent,
    and gives out its public half; it has no private bytes to give."""

    def __init__(self, agent: _Agent, public: Ed25519PublicKey) -> None:
        self._agent = agent
        self._public = public
        self._blob = public_key_blob(public)

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def sign(self, data: bytes | bytearray | memoryview) -> bytes:
        message = bytes(data)
        kind, body = self._agent.ask(_SIGN_REQUEST, _string(self._blob) + _string(message)
                                     + struct.pack(">I", 0))
        if kind != _SIGN_RESPONSE:
            raise KeyProblem(f"ssh-agent refused to sign with {fingerprint(self._public)} "
                             "(a confirmation declined, or the key was removed?)")
        signature, _ = read_string(body, 0)
        sig_type, pos = read_string(signature, 0)
        raw, pos = read_string(signature, pos)
        wanted = key_type(self._public)
        if sig_type != wanted.encode() or len(raw) != 64:
            raise KeyProblem(f"ssh-agent answered with a {sig_type.decode(errors='replace')} "
                             f"signature, not an {wanted} one")
        if wanted == SK_KEY_TYPE:  # the token's flags and counter follow, and are signed
            raw += signature[pos : pos + 5]
        try:  # an agent that signs wrongly is not trusted
            self._public.verify(raw, message)
        except InvalidSignature:
            raise KeyProblem(f"ssh-agent's signature with {fingerprint(self._public)} does "
                             "not verify") from None
        return raw

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise KeyProblem("the key is held by ssh-agent: custody has no private bytes of it")

    def private_bytes_raw(self) -> bytes:
        raise KeyProblem("the key is held by ssh-agent: custody has no private bytes of it")

    def __copy__(self) -> AgentKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> AgentKey:
        return self


def agent_key(wanted: str) -> AgentKey:
    """The agent's ssh-ed25519 (or sk-ssh-ed25519) key with this fingerprint (SHA256:...)."""
    import base64

    from .sshsig import parse_public_key_line

    agent = _Agent()
    held = agent.identities()
    for blob, _comment in held:
        kind, _ = read_string(blob, 0)
        if kind.decode(errors="replace") not in KEY_TYPES:
            continue
        try:
            public = parse_public_key_line(f"{kind.decode()} {base64.b64encode(blob).decode()}")
        except ValueError:
            continue
        if fingerprint(public) == wanted:
            return AgentKey(agent, public)
    names = ", ".join(c or "(no comment)" for _, c in held) or "no keys"
    raise KeyProblem(f"ssh-agent holds no ssh-ed25519 key {wanted} (it holds: {names}); "
                     "`ssh-add` it, or `ssh-add -l` lists the fingerprints")
