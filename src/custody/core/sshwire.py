"""The SSH wire format (RFC 4251, section 5): bytes, uint32s, strings and mpints, as the
SSHSIG envelope, key blobs, ssh-agent messages, a security key's signature and OpenSSH
key files hold them.

Everything custody reads in this format comes from outside -- a signature file anyone
can edit, an agent's answer, a token's -- so one reader checks every length against the
bytes that are there: a field cut short, a length that runs past the end, or bytes left
over where the format says nothing follows is a ``WireError``, never an IndexError or a
``struct.error``. ``WireError`` is a ``ValueError``, so a caller that refuses unreadable
signatures with ``except ValueError`` refuses these too.
"""

from __future__ import annotations

MAX_STRING = 16 * 1024 * 1024  # no field custody reads is near this; a larger claim is junk


class WireError(ValueError):
    """The bytes are not what the SSH wire format says they should be."""


def uint32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def string(data: bytes) -> bytes:
    """``data`` as an SSH string: its length, then its bytes."""
    return uint32(len(data)) + data


class Reader:
    """Fields read in order from ``data``; ``what`` names it in errors."""

    def __init__(self, data: bytes | bytearray | memoryview, what: str = "SSH data") -> None:
        self._data = bytes(data)
        self._at = 0
        self.what = what

    @property
    def left(self) -> int:
        """Bytes not read yet."""
        return len(self._data) - self._at

    def take(self, count: int) -> bytes:
        """The next ``count`` bytes: a fixed-size field."""
        if count < 0 or count > self.left:
            raise WireError(f"{self.what} is truncated: {count} bytes wanted at offset "
                            f"{self._at}, {self.left} there")
        piece = self._data[self._at : self._at + count]
        self._at += count
        return piece

    def byte(self) -> int:
        return self.take(1)[0]

    def uint32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def string(self, limit: int = MAX_STRING) -> bytes:
        at = self._at
        size = self.uint32()
        if size > limit:
            raise WireError(f"{self.what}: the string at offset {at} claims {size} bytes, "
                            f"more than {limit}")
        if size > self.left:
            raise WireError(f"{self.what} is truncated: the string at offset {at} claims "
                            f"{size} bytes, {self.left} are there")
        return self.take(size)

    def text(self, limit: int = MAX_STRING) -> str:
        """A string holding UTF-8 text (a namespace, a key type, a comment)."""
        raw = self.string(limit)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError(f"{self.what}: a text field is not UTF-8 ({raw[:40]!r})") from None

    def mpint(self) -> int:
        """A multiple-precision integer: two's complement, big-endian, minimal."""
        raw = self.string()
        if len(raw) > 1 and ((raw[0] == 0 and raw[1] < 0x80) or
                             (raw[0] == 0xFF and raw[1] >= 0x80)):
            raise WireError(f"{self.what}: an mpint with a needless leading byte")
        return int.from_bytes(raw, "big", signed=True)

    def rest(self) -> bytes:
        return self.take(self.left)

    def end(self) -> None:
        """Nothing may follow: bytes left over are an error."""
        if self.left:
            raise WireError(f"{self.what}: {self.left} unexpected bytes after its last field")
