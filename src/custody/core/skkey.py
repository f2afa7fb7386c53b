"""Security-key Ed25519 keys (``sk-ssh-ed25519@openssh.com``, OpenSSH PROTOCOL.u2f): the
private half never leaves a FIDO token, which an ssh-agent speaks for.

Such a key signs not the data itself but ``sha256(application) || flags || counter ||
sha256(data)``, where the flags tell whether a person touched the token (user presence,
0x01) or proved who they are to it (user verification, 0x04), and the counter counts
the token's signatures. custody keeps such a signature as its 64 Ed25519 bytes followed
by the flags byte and the four counter bytes: that is the raw signature in the custody
log and the checkpoints' notes, and the SSHSIG blob (which ssh-keygen -Y verify checks)
holds the same three fields. Like ssh-keygen -Y verify, a signature is good whatever its
flags say; the flags are signed, and verify reports them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .sshwire import Reader, string, uint32

SK_KEY_TYPE = "sk-ssh-ed25519@openssh.com"
USER_PRESENT = 0x01
USER_VERIFIED = 0x04
SIGNATURE_SIZE = 64 + 1 + 4  # Ed25519 signature, flags, counter


class SkEd25519PublicKey(Ed25519PublicKey):
    """The public half of a security-key Ed25519 key: its 32 bytes and the FIDO
    application it was made for (``ssh:`` unless chosen otherwise). It stands wherever
    an Ed25519 public key does; its signatures are the token's (``verify``)."""

    def __init__(self, raw: bytes, application: bytes) -> None:
        if len(raw) != 32:
            raise ValueError("not an Ed25519 key (32 bytes)")
        self._raw = bytes(raw)
        self.application = bytes(application)

    def public_bytes_raw(self) -> bytes:
        return self._raw

    def public_bytes(self, encoding: serialization.Encoding,
                     format: serialization.PublicFormat) -> bytes:
        if encoding is serialization.Encoding.OpenSSH and \
                format is serialization.PublicFormat.OpenSSH:
            import base64

            return f"{SK_KEY_TYPE} {base64.b64encode(self.blob()).decode()}".encode()
        if encoding is serialization.Encoding.Raw and format is serialization.PublicFormat.Raw:
            return self._raw
        raise ValueError("a security key is written only as an OpenSSH key line")

    def blob(self) -> bytes:
        """The key in SSH wire format, as its line's base64 holds it."""
        return string(SK_KEY_TYPE.encode()) + string(self._raw) + string(self.application)

    def signed_data(self, data: bytes, flags: int, counter: int) -> bytes:
        """What the token signs for ``data``."""
        return (hashlib.sha256(self.application).digest() + bytes([flags])
                + uint32(counter) + hashlib.sha256(data).digest())

    def verify(self, signature: bytes | bytearray | memoryview,
               data: bytes | bytearray | memoryview) -> None:
        """As Ed25519PublicKey.verify: None, or cryptography's InvalidSignature."""
        signature, data = bytes(signature), bytes(data)
        if len(signature) != SIGNATURE_SIZE:
            raise InvalidSignature
        ed25519, flags, counter = split(signature)
        Ed25519PublicKey.from_public_bytes(self._raw).verify(
            ed25519, self.signed_data(data, flags, counter))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SkEd25519PublicKey) and \
            (other._raw, other.application) == (self._raw, self.application)

    def __hash__(self) -> int:
        return hash((self._raw, self.application))

    def __copy__(self) -> SkEd25519PublicKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SkEd25519PublicKey:
        return self


def split(signature: bytes) -> tuple[bytes, int, int]:
    """A security key's signature as custody keeps it: its Ed25519 bytes, flags, counter
    (a WireError when it is not 69 bytes)."""
    fields = Reader(signature, "a security key's signature")
    ed25519, flags, counter = fields.take(64), fields.byte(), fields.uint32()
    fields.end()
    return ed25519, flags, counter


def describe_flags(flags: int) -> str:
    """What a signature's flags say, in words."""
    said = ["touched" if flags & USER_PRESENT else "not touched"]
    if flags & USER_VERIFIED:
        said.append("user verified")
    return ", ".join(said)
