"""SSH signatures (OpenSSH PROTOCOL.sshsig) with Ed25519 keys.

custody signs the exact bytes of each manifest, and of each checkpoint, so that a third
party can check them with ``ssh-keygen -Y verify`` alone. cryptography reads and writes
OpenSSH key lines and computes fingerprints; the SSHSIG envelope, which it lacks, is
small enough to write here, and the tests check it against the real ssh-keygen in both
directions.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography is imported where keys are made, loaded or checked: it is
    # slow to import, and verify starts reading WARC files before it needs it
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

MANIFEST_NAMESPACE = "custody-manifest"
CHECKPOINT_NAMESPACE = "custody-checkpoint"
# what an archivist's line in allowed_signers lets the key sign
ARCHIVIST_NAMESPACES = f"{MANIFEST_NAMESPACE},{CHECKPOINT_NAMESPACE}"
_MAGIC = b"SSHSIG"
_HASH = "sha512"
KEY_TYPE = "ssh-ed25519"


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    """An SSH wire-format string at ``pos``, and where the next field starts."""
    if pos + 4 > len(buf):
        raise ValueError("truncated SSH string")
    (size,) = struct.unpack(">I", buf[pos : pos + 4])
    end = pos + 4 + size
    if end > len(buf):
        raise ValueError("truncated SSH string")
    return buf[pos + 4 : end], end


def public_key_blob(key: Ed25519PublicKey) -> bytes:
    """The key in SSH wire format (RFC 8709), as the line's base64 holds it. Written
    here, as the others below, rather than with cryptography's serialization module,
    whose import costs a small verify a tenth of its time; the tests hold them to
    ssh-keygen."""
    return _string(KEY_TYPE.encode()) + _string(key.public_bytes_raw())


def public_key_line(key: Ed25519PublicKey) -> str:
    """The key as ssh writes it: ``ssh-ed25519 AAAA...``."""
    return f"{KEY_TYPE} {base64.b64encode(public_key_blob(key)).decode('ascii')}"


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA256 fingerprint, as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(public_key_blob(key)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_public_key_line(line: str) -> Ed25519PublicKey:
    """An ``ssh-ed25519 AAAA... [comment]`` line; ValueError for anything else."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    parts = line.split()
    if len(parts) < 2 or parts[0] != KEY_TYPE:
        raise ValueError("not an ssh-ed25519 public key")
    try:
        blob = base64.b64decode(parts[1], validate=True)
        key_type, pos = read_string(blob, 0)
        raw, end = read_string(blob, pos)
    except ValueError as exc:
        raise ValueError(f"not a readable ssh-ed25519 public key ({exc})") from exc
    if key_type != KEY_TYPE.encode() or len(raw) != 32 or end != len(blob):
        raise ValueError("not a readable ssh-ed25519 public key (not an Ed25519 key blob)")
    return Ed25519PublicKey.from_public_bytes(raw)


def _parse_key_blob(blob: bytes) -> Ed25519PublicKey:
    key_type, _ = read_string(blob, 0)
    if key_type != KEY_TYPE.encode():
        raise ValueError(f"unsupported key type {key_type.decode(errors='replace')}")
    return parse_public_key_line(f"{KEY_TYPE} {base64.b64encode(blob).decode()}")


def _signed_data(sha512_digest: bytes, namespace: str) -> bytes:
    return (
        _MAGIC
        + _string(namespace.encode())
        + _string(b"")
        + _string(_HASH.encode())
        + _string(sha512_digest)
    )


def sign(private_key: Ed25519PrivateKey, message: bytes, namespace: str) -> str:
    """An armored SSH signature over ``message``."""
    return sign_digest(private_key, hashlib.sha512(message).digest(), namespace)


def sign_digest(private_key: Ed25519PrivateKey, sha512_digest: bytes, namespace: str) -> str:
    """The same signature, from the sha512 of a message too large to hold."""
    signature = private_key.sign(_signed_data(sha512_digest, namespace))
    blob = (
        _MAGIC
        + struct.pack(">I", 1)
        + _string(public_key_blob(private_key.public_key()))
        + _string(namespace.encode())
        + _string(b"")
        + _string(_HASH.encode())
        + _string(_string(KEY_TYPE.encode()) + _string(signature))
    )
    b64 = base64.b64encode(blob).decode()
    lines = [b64[i : i + 70] for i in range(0, len(b64), 70)]
    return "-----BEGIN SSH SIGNATURE-----\n" + "\n".join(lines) + "\n-----END SSH SIGNATURE-----\n"


@dataclass(frozen=True)
class Signature:
    public_key: Ed25519PublicKey
    namespace: str
    hash_algorithm: str
    raw: bytes

    def verifies(self, message: bytes) -> bool:
        digest = hashlib.new(self.hash_algorithm, message).digest()
        signed = (
            _MAGIC
            + _string(self.namespace.encode())
            + _string(b"")
            + _string(self.hash_algorithm.encode())
            + _string(digest)
        )
        from cryptography.exceptions import InvalidSignature

        try:
            self.public_key.verify(self.raw, signed)
        except InvalidSignature:
            return False
        return True


def parse_signature(armored: str) -> Signature:
    """Parse an armored SSHSIG; raise ValueError when it is not one we can check."""
    text = armored.strip()
    head, tail = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
    if not text.startswith(head) or not text.endswith(tail):
        raise ValueError("not an armored SSH signature")
    body = "".join(text[len(head) : -len(tail)].split())
    try:
        blob = base64.b64decode(body, validate=True)
    except ValueError as exc:
        raise ValueError("signature is not valid base64") from exc
    if not blob.startswith(_MAGIC):
        raise ValueError("signature lacks the SSHSIG preamble")
    pos = len(_MAGIC)
    (version,) = struct.unpack(">I", blob[pos : pos + 4])
    if version != 1:
        raise ValueError(f"unsupported SSHSIG version {version}")
    pos += 4
    key_blob, pos = read_string(blob, pos)
    namespace, pos = read_string(blob, pos)
    _reserved, pos = read_string(blob, pos)
    hash_algorithm, pos = read_string(blob, pos)
    sig_blob, pos = read_string(blob, pos)
    if hash_algorithm not in (b"sha256", b"sha512"):
        raise ValueError(f"unsupported hash {hash_algorithm!r}")
    public_key = _parse_key_blob(key_blob)
    sig_type, spos = read_string(sig_blob, 0)
    raw, _ = read_string(sig_blob, spos)
    if sig_type != KEY_TYPE.encode():
        raise ValueError(f"unsupported signature type {sig_type!r}")
    return Signature(public_key, namespace.decode(), hash_algorithm.decode(), raw)


