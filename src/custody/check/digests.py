"""Labelled digests as WARC headers give them (``sha1:BASE32``, ``sha256:hex``, ...).

Tools disagree on the encoding: most write base32 (WARC 1.1's example), warcprox and
others hex, a few base64. A value is read in whichever of these its length and
alphabet allow for the algorithm's digest size, so a correct digest is never failed
for how it is spelled, and a malformed one is failed for being malformed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

# labels as tools write them, to hashlib's names
_ALIASES = {"sha1": "sha1", "sha-1": "sha1", "sha256": "sha256", "sha-256": "sha256",
            "sha512": "sha512", "sha-512": "sha512", "sha384": "sha384", "sha-384": "sha384",
            "sha224": "sha224", "sha-224": "sha224", "md5": "md5"}


class Malformed(ValueError):
    """The field is not ``algorithm:value``, or the value is no encoding of a digest."""


class UnknownAlgorithm(ValueError):
    """A well-formed label for an algorithm custody cannot compute."""


@dataclass(frozen=True)
class Labelled:
    algorithm: str  # hashlib's name
    label: str  # as written
    digest: bytes
    encoding: str  # base32, hex or base64

    def new(self) -> Any:
        return hashlib.new(self.algorithm)


def parse(value: str) -> Labelled:
    label, sep, encoded = value.strip().partition(":")
    label, encoded = label.strip(), encoded.strip()
    if not sep or not label or not encoded:
        raise Malformed(f"{value.strip()!r} is not 'algorithm:value'")
    algorithm = _ALIASES.get(label.lower())
    if algorithm is None:
        raise UnknownAlgorithm(f"algorithm {label!r}")
    size = hashlib.new(algorithm).digest_size
    digest = decode(encoded, size)
    if digest is None:
        raise Malformed(f"{encoded!r} is not a {label} digest in base32, hex or base64")
    return Labelled(algorithm, label, digest[0], digest[1])


def decode(encoded: str, size: int) -> tuple[bytes, str] | None:
    """The digest bytes and the encoding used; None when no encoding fits."""
    if len(encoded) == 2 * size:
        try:
            return bytes.fromhex(encoded), "hex"
        except ValueError:
            pass
    unpadded = encoded.rstrip("=")
    if len(unpadded) == -(-size * 8 // 5):
        try:
            padded = unpadded.upper() + "=" * (-len(unpadded) % 8)
            return base64.b32decode(padded), "base32"
        except (binascii.Error, ValueError):
            pass
    if len(unpadded) == -(-size * 4 // 3):
        padded = unpadded + "=" * (-len(unpadded) % 4)
        for alphabet, name in ((None, "base64"), (b"-_", "base64url")):
            try:
                raw = base64.b64decode(padded, altchars=alphabet, validate=True)
            except (binascii.Error, ValueError):
                continue
            if len(raw) == size:
                return raw, name
    return None


def spell(labelled: Labelled, digest: bytes) -> str:
    """A computed digest written as the record wrote its own."""
    if labelled.encoding == "hex":
        return digest.hex()
    if labelled.encoding == "base64":
        return base64.b64encode(digest).decode()
    if labelled.encoding == "base64url":
        return base64.urlsafe_b64encode(digest).decode()
    return base64.b32encode(digest).decode()
