"""SSH signatures (OpenSSH PROTOCOL.sshsig) with Ed25519 keys, held in a file, in
ssh-agent, or on a security key (``sk-ssh-ed25519``, see skkey).

custody signs the exact bytes of each manifest, and of each checkpoint, so that a third
party can check them with ``ssh-keygen -Y verify`` alone. cryptography reads and writes
OpenSSH key lines and computes fingerprints; the SSHSIG envelope, which it lacks, is
small enough to write here, and the tests check it against the real ssh-keygen in both
directions.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .sshwire import Reader, WireError, string, uint32

if TYPE_CHECKING:  # cryptography is imported where keys are made, loaded or checked: it is
    # slow to import, and verify starts reading WARC files before it needs it
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

MANIFEST_NAMESPACE = "custody-manifest"
CHECKPOINT_NAMESPACE = "custody-checkpoint"
# a job put on the shared queue (custody.queue.envelope): its own namespace, so that no
# job signature can ever pass for a manifest's or a checkpoint's, nor one of theirs for it
JOB_NAMESPACE = "custody-job"
# what an archivist's line in allowed_signers lets the key sign
ARCHIVIST_NAMESPACES = f"{MANIFEST_NAMESPACE},{CHECKPOINT_NAMESPACE},{JOB_NAMESPACE}"
_MAGIC = b"SSHSIG"
_VERSION = 1
_HASH = "sha512"
KEY_TYPE = "ssh-ed25519"
SK_KEY_TYPE = "sk-ssh-ed25519@openssh.com"  # as skkey names it, which needs cryptography
KEY_TYPES = (KEY_TYPE, SK_KEY_TYPE)


def public_key_blob(key: Ed25519PublicKey) -> bytes:
    """The key in SSH wire format (RFC 8709), as the line's base64 holds it. Written
    here, as the others below, rather than with cryptography's serialization module,
    whose import costs a small verify a tenth of its time; the tests hold them to
    ssh-keygen."""
    skkey = sys.modules.get(f"{__package__}.skkey")  # imported wherever such a key is
    if skkey is not None and isinstance(key, skkey.SkEd25519PublicKey):
        return bytes(key.blob())
    return string(KEY_TYPE.encode()) + string(key.public_bytes_raw())


def key_type(key: Ed25519PublicKey) -> str:
    """``ssh-ed25519``, or ``sk-ssh-ed25519@openssh.com`` for a security key."""
    return Reader(public_key_blob(key), "a key blob").text()


def public_key_line(key: Ed25519PublicKey) -> str:
    """The key as ssh writes it: ``ssh-ed25519 AAAA...``."""
    return f"{key_type(key)} {base64.b64encode(public_key_blob(key)).decode('ascii')}"


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA256 fingerprint, as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(public_key_blob(key)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_public_key_line(line: str) -> Ed25519PublicKey:
    """An ``ssh-ed25519 AAAA... [comment]`` line (or ``sk-ssh-ed25519@openssh.com``, a
    security key's); ValueError for anything else."""
    parts = line.split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise ValueError("not an ssh-ed25519 public key")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError as exc:
        raise ValueError(f"not a readable ssh-ed25519 public key ({exc})") from exc
    key = _parse_key_blob(blob)
    if key_type(key) != parts[0]:
        raise ValueError("not a readable ssh-ed25519 public key (its type differs)")
    return key


def _parse_key_blob(blob: bytes) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    fields = Reader(blob, "the public key")
    try:
        kind = fields.string().decode(errors="replace")
        if kind not in KEY_TYPES:
            raise WireError(f"unsupported key type {kind[:60]!r}")
        raw = fields.string()
        application = fields.string() if kind == SK_KEY_TYPE else b""
        fields.end()
    except WireError as exc:
        raise WireError(f"not a readable ssh-ed25519 public key ({exc})") from None
    if len(raw) != 32:
        raise WireError("not a readable ssh-ed25519 public key (not an Ed25519 key blob)")
    if kind == SK_KEY_TYPE:
        from .skkey import SkEd25519PublicKey

        return SkEd25519PublicKey(raw, application)
    return Ed25519PublicKey.from_public_bytes(raw)


def _signed_data(sha512_digest: bytes, namespace: str) -> bytes:
    return (
        _MAGIC
        + string(namespace.encode())
        + string(b"")
        + string(_HASH.encode())
        + string(sha512_digest)
    )


def sign(private_key: Ed25519PrivateKey, message: bytes, namespace: str) -> str:
    """An armored SSH signature over ``message``."""
    return sign_digest(private_key, hashlib.sha512(message).digest(), namespace)


def sign_digest(private_key: Ed25519PrivateKey, sha512_digest: bytes, namespace: str) -> str:
    """The same signature, from the sha512 of a message too large to hold."""
    signature = private_key.sign(_signed_data(sha512_digest, namespace))
    public = private_key.public_key()
    blob = (
        _MAGIC
        + uint32(_VERSION)
        + string(public_key_blob(public))
        + string(namespace.encode())
        + string(b"")
        + string(_HASH.encode())
        + string(signature_blob(key_type(public), signature))
    )
    b64 = base64.b64encode(blob).decode()
    lines = [b64[i : i + 70] for i in range(0, len(b64), 70)]
    return "-----BEGIN SSH SIGNATURE-----\n" + "\n".join(lines) + "\n-----END SSH SIGNATURE-----\n"


def signature_blob(kind: str, signature: bytes) -> bytes:
    """A raw signature as SSH writes it: a security key's with its flags and counter
    after the Ed25519 bytes (PROTOCOL.u2f), as custody keeps them (skkey)."""
    if kind == SK_KEY_TYPE:
        return string(kind.encode()) + string(signature[:64]) + signature[64:]
    return string(kind.encode()) + string(signature)


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
            + string(self.namespace.encode())
            + string(b"")
            + string(self.hash_algorithm.encode())
            + string(digest)
        )
        from cryptography.exceptions import InvalidSignature

        try:
            self.public_key.verify(self.raw, signed)
        except InvalidSignature:
            return False
        return True


def parse_signature(armored: str) -> Signature:
    """Parse an armored SSHSIG; raise ValueError (a WireError for bytes that are not
    the SSHSIG layout: cut short, overlong, or with bytes left over) when it is not one
    we can check."""
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
    fields = Reader(blob, "the SSHSIG blob")
    fields.take(len(_MAGIC))
    version = fields.uint32()
    if version != _VERSION:
        raise WireError(f"unsupported SSHSIG version {version}")
    key_blob = fields.string()
    namespace = fields.text()
    fields.string()  # reserved
    hash_algorithm = fields.string()
    sig_blob = fields.string()
    fields.end()
    if hash_algorithm not in (b"sha256", b"sha512"):
        raise WireError(f"unsupported hash {hash_algorithm[:40]!r}")
    public_key = _parse_key_blob(key_blob)
    inner = Reader(sig_blob, "the SSHSIG signature")
    sig_type = inner.string()
    raw = inner.string()
    if sig_type.decode(errors="replace") != key_type(public_key):
        raise WireError(f"unsupported signature type {sig_type[:60]!r}")
    if len(raw) != 64:
        raise WireError(f"an Ed25519 signature of {len(raw)} bytes, not 64")
    if sig_type == SK_KEY_TYPE.encode():  # its flags and counter follow
        raw += inner.take(5)
    inner.end()
    return Signature(public_key, namespace, hash_algorithm.decode(), raw)
