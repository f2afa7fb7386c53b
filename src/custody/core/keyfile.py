"""The archivist's private key file: Ed25519 in OpenSSH format, mode 0600, optionally
protected by a passphrase (bcrypt KDF, as ssh-keygen writes it)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import KeyProblem
from .sshsig import public_key_line
from .sshwire import Reader

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def create_key(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Write a new key in OpenSSH format (so ssh-keygen can use it too), mode 0600."""
    if path.exists():
        raise KeyProblem("a key already exists here; refusing to overwrite it", where=str(path))
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    path.with_name(path.name + ".pub").write_text(public_key_line(key.public_key()) + "\n")
    return key


def load_key(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    if not path.exists():
        raise KeyProblem("no signing key (run `custody init`, or set CUSTODY_KEY)", where=str(path))
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyProblem(
            f"key file is readable by others (mode {mode:o}); chmod 600 it", where=str(path)
        )
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = path.read_bytes()
    try:
        key = serialization.load_ssh_private_key(data, password=passphrase or None)
    except (ValueError, TypeError) as exc:
        protected = _cipher_of(data) not in (None, "none") or "password" in str(exc).lower() \
            or "encrypted" in str(exc).lower()
        if protected and passphrase:
            raise KeyProblem("wrong passphrase for the key (CUSTODY_KEY_PASSPHRASE or the "
                             "one typed)", where=str(path)) from exc
        if protected:
            raise KeyProblem(
                "key is passphrase-protected: set CUSTODY_KEY_PASSPHRASE or type it when asked",
                where=str(path),
            ) from exc
        raise KeyProblem(f"cannot read key: {exc}", where=str(path)) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem("key is not Ed25519", where=str(path))
    return key


def _cipher_of(data: bytes) -> str | None:
    """The cipher an OpenSSH private key file names ("none" when it is not protected)."""
    try:
        body = b"".join(data.strip().splitlines()[1:-1])
        raw = base64.b64decode(body)
        magic = b"openssh-key-v1\x00"
        if not raw.startswith(magic):
            return None
        fields = Reader(raw, "the key file")
        fields.take(len(magic))
        return fields.text()
    except ValueError:  # not base64, or a WireError: not a key file custody reads
        return None


def key_is_encrypted(path: Path) -> bool:
    from cryptography.hazmat.primitives import serialization

    try:
        serialization.load_ssh_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        return True
    return False


