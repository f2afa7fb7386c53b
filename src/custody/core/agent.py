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
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import KeyProblem
from .sshsig import KEY_TYPES, SK_KEY_TYPE, fingerprint, key_type, public_key_blob
from .sshwire import Reader, WireError, string, uint32

if TYPE_CHECKING:
    import socket

PREFIX = "agent:"
_REQUEST_IDENTITIES, _IDENTITIES_ANSWER = 11, 12
_SIGN_REQUEST, _SIGN_RESPONSE = 13, 14
_FAILURE = 5
_TIMEOUT = 60.0  # a token may wait for a touch
MAX_MESSAGE = 256 * 1024  # OpenSSH's own bound on an agent message (AGENT_MAX_LEN)


def agent_fingerprint() -> str | None:
    """The fingerprint CUSTODY_KEY names when the key is in ssh-agent; None otherwise."""
    value = os.environ.get("CUSTODY_KEY", "")
    return value[len(PREFIX):].strip() if value.startswith(PREFIX) else None


class _Agent:
    def __init__(self) -> None:
        path = os.environ.get("SSH_AUTH_SOCK")
        if not path:
            raise KeyProblem("CUSTODY_KEY names a key in ssh-agent, but SSH_AUTH_SOCK is not "
                             "set (is ssh-agent running?)")
        self.path = path

    def ask(self, kind: int, body: bytes) -> tuple[int, Reader]:
        """The agent's answer: its type, and a reader of its fields."""
        try:
            import socket  # (only when an agent is there to ask)

            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(_TIMEOUT)
                sock.connect(self.path)
                sock.sendall(string(bytes([kind]) + body))
                length = Reader(_read(sock, 4)).uint32()
                if not 0 < length <= MAX_MESSAGE:
                    raise KeyProblem(f"ssh-agent sent a message of {length} bytes (an agent "
                                     f"sends 1 to {MAX_MESSAGE}): not an ssh-agent?",
                                     where=self.path)
                answer = Reader(_read(sock, length), "ssh-agent's answer")
        except OSError as exc:
            raise KeyProblem(f"ssh-agent cannot be reached ({exc.strerror or exc})",
                             where=self.path) from exc
        return answer.byte(), answer

    def identities(self) -> list[tuple[bytes, str]]:
        kind, body = self.ask(_REQUEST_IDENTITIES, b"")
        if kind != _IDENTITIES_ANSWER:
            raise KeyProblem("ssh-agent refused to list its keys", where=self.path)
        found = []
        try:
            for _ in range(body.uint32()):
                blob = body.string()
                found.append((blob, body.string().decode("utf-8", errors="replace")))
        except WireError as exc:
            raise KeyProblem(f"ssh-agent's list of keys cannot be read ({exc})",
                             where=self.path) from None
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
        kind, body = self._agent.ask(_SIGN_REQUEST, string(self._blob) + string(message)
                                     + uint32(0))
        if kind != _SIGN_RESPONSE:
            raise KeyProblem(f"ssh-agent refused to sign with {fingerprint(self._public)} "
                             "(a confirmation declined, or the key was removed?)")
        wanted = key_type(self._public)
        try:
            signature = Reader(body.string(), "ssh-agent's signature")
            sig_type, raw = signature.string(), signature.string()
            if sig_type != wanted.encode() or len(raw) != 64:
                raise KeyProblem(f"ssh-agent answered with a "
                                 f"{sig_type[:60].decode(errors='replace')} signature, not "
                                 f"an {wanted} one")
            if wanted == SK_KEY_TYPE:  # the token's flags and counter follow, and are signed
                raw += signature.take(5)
            signature.end()
        except WireError as exc:
            raise KeyProblem(f"ssh-agent's signature cannot be read ({exc})") from None
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
        try:
            kind = Reader(blob, "a key blob").text()
            if kind not in KEY_TYPES:
                continue
            public = parse_public_key_line(f"{kind} {base64.b64encode(blob).decode()}")
        except ValueError:  # WireError among them: a key custody cannot use
            continue
        if fingerprint(public) == wanted:
            return AgentKey(agent, public)
    names = ", ".join(c or "(no comment)" for _, c in held) or "no keys"
    raise KeyProblem(f"ssh-agent holds no ssh-ed25519 key {wanted} (it holds: {names}); "
                     "`ssh-add` it, or `ssh-add -l` lists the fingerprints")
