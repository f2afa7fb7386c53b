"""Ed25519 keys and SSH signatures (OpenSSH PROTOCOL.sshsig).

custody signs the exact bytes of each manifest so that a third party can check
it with ``ssh-keygen -Y verify`` alone. The encoding is small enough to write
here; the tests check it against the real ssh-keygen in both directions.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import KeyProblem

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
_KEY_TYPE = "ssh-ed25519"


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(buf):
        raise ValueError("truncated SSH string")
    (size,) = struct.unpack(">I", buf[pos : pos + 4])
    end = pos + 4 + size
    if end > len(buf):
        raise ValueError("truncated SSH string")
    return buf[pos + 4 : end], end


def public_key_blob(key: Ed25519PublicKey) -> bytes:
    raw = key.public_bytes_raw()
    return _string(_KEY_TYPE.encode()) + _string(raw)


def public_key_line(key: Ed25519PublicKey) -> str:
    """The key as ssh writes it: ``ssh-ed25519 AAAA...``."""
    return f"{_KEY_TYPE} {base64.b64encode(public_key_blob(key)).decode()}"


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA256 fingerprint, as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(public_key_blob(key)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


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
        + _string(_string(_KEY_TYPE.encode()) + _string(signature))
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
    key_blob, pos = _read_string(blob, pos)
    namespace, pos = _read_string(blob, pos)
    _reserved, pos = _read_string(blob, pos)
    hash_algorithm, pos = _read_string(blob, pos)
    sig_blob, pos = _read_string(blob, pos)
    if hash_algorithm not in (b"sha256", b"sha512"):
        raise ValueError(f"unsupported hash {hash_algorithm!r}")
    public_key = _parse_key_blob(key_blob)
    sig_type, spos = _read_string(sig_blob, 0)
    raw, _ = _read_string(sig_blob, spos)
    if sig_type != _KEY_TYPE.encode():
        raise ValueError(f"unsupported signature type {sig_type!r}")
    return Signature(public_key, namespace.decode(), hash_algorithm.decode(), raw)


def _parse_key_blob(blob: bytes) -> Ed25519PublicKey:
    key_type, pos = _read_string(blob, 0)
    if key_type != _KEY_TYPE.encode():
        raise ValueError(f"unsupported key type {key_type.decode(errors='replace')}")
    raw, _ = _read_string(blob, pos)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(raw)


def parse_public_key_line(line: str) -> Ed25519PublicKey:
    parts = line.split()
    if len(parts) < 2 or parts[0] != _KEY_TYPE:
        raise ValueError("not an ssh-ed25519 public key")
    return _parse_key_blob(base64.b64decode(parts[1]))


# -- allowed_signers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowedSigner:
    principals: tuple[str, ...]
    options: dict[str, str]
    public_key: Ed25519PublicKey

    def allows_namespace(self, namespace: str) -> bool:
        allowed = self.options.get("namespaces")
        return allowed is None or namespace in allowed.split(",")


def read_allowed_signers(path: Path) -> list[AllowedSigner]:
    """Parse ssh-keygen's allowed_signers format as ssh-keygen does: principals (a quoted
    field may hold spaces), options, then the key; lines it would reject are skipped."""
    signers = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        principals, rest = _token(line)
        if not principals or not rest:
            continue
        options: dict[str, str] = {}
        if not rest.startswith(_KEY_TYPE + " "):
            option_text, rest = _options_field(rest)
            options = dict(_split_option(o) for o in _option_items(option_text))
        try:
            key = parse_public_key_line(rest)
        except ValueError:
            continue
        signers.append(AllowedSigner(tuple(principals.split(",")), options, key))
    return signers


def _token(text: str) -> tuple[str, str]:
    """The principals field of a line and what follows it, split as OpenSSH's strdelim
    does: white space ends the field, and a double-quoted part (quotes removed) ends it
    where its closing quote is. ("", "") when a quote is not closed: ssh-keygen refuses it."""
    for i, ch in enumerate(text):
        if ch in " \t":
            return text[:i], text[i:].strip()
        if ch == '"':
            close = text.find('"', i + 1)
            if close < 0:
                return "", ""
            return text[:i] + text[i + 1 : close], text[close + 1 :].strip()
    return text, ""


def _options_field(text: str) -> tuple[str, str]:
    """The options field (quoted values may hold commas and spaces) and the key after it."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch in " \t" and not quoted:
            return text[:i], text[i:].strip()
    return text, ""


# What a principal may not hold: ssh-keygen's allowed_signers reads a double quote as the
# end of a quoted field, a comma as the next principal, * ? ! as patterns.
_PRINCIPAL_FORBIDDEN = set('",*?!')


def check_principal(principal: str) -> str:
    """The principal, stripped; ValueError saying why ssh-keygen could not carry it."""
    name = principal.strip()
    if not name:
        raise ValueError("the operator name is empty")
    bad = sorted({ch for ch in name if ch in _PRINCIPAL_FORBIDDEN
                  or ord(ch) < 0x20 or ord(ch) == 0x7F})
    if bad:
        shown = " ".join(repr(ch) for ch in bad)
        raise ValueError(f"the operator name {principal!r} holds {shown}, which ssh-keygen's "
                         "allowed_signers cannot carry in a principal (it reads a double "
                         "quote as the end of the name, a comma as a second name, * ? ! as "
                         "patterns); use a name without them")
    return name


def quote_principals(principals: tuple[str, ...] | list[str]) -> str:
    """The principals field as allowed_signers writes it: comma-separated, the whole field
    quoted unless it is plain words (ssh-keygen ends a field at its closing quote)."""
    names = ",".join(check_principal(p) for p in principals)
    plain = all(ch.isascii() and (ch.isalnum() or ch in "@._+-,") for ch in names)
    return names if plain else f'"{names}"'


def _option_items(text: str) -> list[str]:
    items, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append(current)
            current = ""
            continue
        current += ch
    if current:
        items.append(current)
    return items


def _split_option(item: str) -> tuple[str, str]:
    name, _, value = item.partition("=")
    return name.strip().lower(), value.strip().strip('"')


def allowed_signers_line(principal: str, key: Ed25519PublicKey, namespace: str) -> str:
    return f'{quote_principals([principal])} namespaces="{namespace}" {public_key_line(key)}\n'


# -- the archivist's private key ---------------------------------------------------------------


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
        name, _ = _read_string(raw, len(magic))
        return name.decode("ascii")
    except (ValueError, IndexError):
        return None


def key_is_encrypted(path: Path) -> bool:
    from cryptography.hazmat.primitives import serialization

    try:
        serialization.load_ssh_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        return True
    return False


def parse_ssh_time(text: str) -> datetime:
    """allowed_signers' valid-after/valid-before: YYYYMMDD[HHMM[SS]], Z for UTC (custody's)."""
    value = text.strip().strip('"').removesuffix("Z")
    for fmt in ("%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"not a time: {text!r}")


def format_ssh_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def valid_at(signer: AllowedSigner, moment: datetime) -> bool:
    after, before = signer.options.get("valid-after"), signer.options.get("valid-before")
    if after and moment < parse_ssh_time(after):
        return False
    return not (before and moment >= parse_ssh_time(before))


def format_signer(signer: AllowedSigner) -> str:
    options = ",".join(f'{k}="{v}"' for k, v in signer.options.items())
    principals = quote_principals(signer.principals)
    return f"{principals} {options + ' ' if options else ''}{public_key_line(signer.public_key)}\n"
