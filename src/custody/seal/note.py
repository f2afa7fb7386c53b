"""C2SP signed notes: the format of the ledger's checkpoints and the custody log's head.

A note is a body, a blank line, and signature lines: an em dash, the key's name, and
base64 of a 4-byte key ID followed by the signature over the body.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..core import sshsig

SIGNATURE_DASH = "\u2014"  # a signed note's signature lines start with an em dash


def key_name(principal: str) -> str:
    """A signed note's key name: no spaces, no '+'."""
    cleaned = "".join(ch if ch.isprintable() and not ch.isspace() and ch != "+" else "_"
                      for ch in principal)
    return cleaned or "custody"


def key_id(name: str, public: Ed25519PublicKey) -> bytes:
    """The note key ID (C2SP signed-note): an Ed25519 key's is of type 0x01; a security
    key's, whose signatures are not plain Ed25519 ones, of type 0xff (signed-note's type
    for others), over its SSH key blob."""
    if sshsig.key_type(public) == sshsig.SK_KEY_TYPE:
        kind, raw = b"\xff", sshsig.public_key_blob(public)
    else:
        kind, raw = b"\x01", public.public_bytes_raw()
    return hashlib.sha256(name.encode() + b"\n" + kind + raw).digest()[:4]


def sign_note(body: str, name: str, key: Ed25519PrivateKey) -> str:
    signature = key_id(name, key.public_key()) + key.sign(body.encode())
    return f"{body}\n{SIGNATURE_DASH} {name} {base64.b64encode(signature).decode()}\n"


def well_formed(text: str) -> bool:
    """Whether a signed note is exactly as C2SP (and custody) writes one: its body, a blank
    line, and signature lines of an em dash, a name and base64, each ending in a newline;
    a byte changed around the signatures, where they do not reach, is not."""
    body, sep, signatures = text.partition("\n\n")
    if not sep or not body or not signatures.endswith("\n"):
        return False
    for line in signatures[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != SIGNATURE_DASH or not parts[1]:
            return False
        try:
            base64.b64decode(parts[2], validate=True)
        except ValueError:
            return False
    return True


def note_signers(text: str, keys: Iterable[tuple[str, Ed25519PublicKey]]) -> list[str]:
    """The names of the given keys that validly signed the note."""
    body, sep, signatures = text.partition("\n\n")
    if not sep:
        return []
    message = (body + "\n").encode()
    good = []
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != SIGNATURE_DASH:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        for name, public in keys:
            if name == parts[1] and blob[:4] == key_id(name, public):
                try:
                    public.verify(blob[4:], message)
                except InvalidSignature:
                    continue
                good.append(name)
    return good


def signed_before(path: Path, head: list[str], name: str,
                  key: Ed25519PrivateKey) -> str | None:
    """The note at ``path`` when its first lines are ``head`` and ``key`` (as ``name``)
    signed it: a checkpoint an interrupted seal wrote into the history, kept as it is
    (the custody log and RFC 3161 tokens may vouch for its bytes); None otherwise."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    if text.split("\n")[:len(head)] != head:
        return None
    return text if note_signers(text, [(name, key.public_key())]) else None
