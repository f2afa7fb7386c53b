"""Cryptocurrency addresses, held to their own checksums: Bitcoin's base58check (BIP-13)
and bech32/bech32m (BIP-173, BIP-350), Ethereum's mixed-case checksum (EIP-55).

A string that merely looks like an address -- a hash, an id, a word of base58 letters --
fails its checksum, so the selectors found in a page are addresses someone wrote down,
not noise: a 32-bit checksum leaves one chance in four billion. EIP-55 needs Keccak-256
(not the standard's SHA3-256, which pads differently), which hashlib lacks: it is written
here, small, and the tests hold it to hashlib's SHA3 (the same permutation) and to the
published vectors.
"""

from __future__ import annotations

import hashlib

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_VALUES = {ch: i for i, ch in enumerate(_B58)}
BTC_VERSIONS = {0x00: "p2pkh", 0x05: "p2sh"}  # mainnet; testnet addresses are not selectors


def base58check(address: str) -> bytes | None:
    """The payload (version byte and hash) of a base58check string whose checksum holds."""
    number = 0
    for ch in address:
        value = _B58_VALUES.get(ch)
        if value is None:
            return None
        number = number * 58 + value
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    raw = b"\x00" * (len(address) - len(address.lstrip("1"))) + raw  # leading '1' = 0x00
    if len(raw) < 5:
        return None
    payload, checksum = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        return None
    return payload


def btc_base58(address: str) -> bool:
    payload = base58check(address)
    return payload is not None and len(payload) == 21 and payload[0] in BTC_VERSIONS


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST, _BECH32M_CONST = 1, 0x2BC830A3


def _polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            checksum ^= generator[i] if (top >> i) & 1 else 0
    return checksum


def _convert_bits(data: list[int], source: int, target: int) -> list[int] | None:
    """Regroup ``source``-bit values into ``target``-bit ones, as a segwit program is;
    None when the padding left over is not zero bits, as BIP-173 requires."""
    accumulator, bits, out = 0, 0, []
    mask = (1 << target) - 1
    for value in data:
        accumulator = (accumulator << source) | value
        bits += source
        while bits >= target:
            bits -= target
            out.append((accumulator >> bits) & mask)
    if bits >= source or (accumulator << (target - bits)) & mask:
        return None
    return out


def btc_bech32(address: str) -> bool:
    """A mainnet segwit address (``bc1...``): bech32 for version 0, bech32m for 1 to 16,
    a program of the length its version allows, in one case throughout."""
    if address.lower() != address and address.upper() != address:
        return False
    text = address.lower()
    hrp, sep, data_part = text.rpartition("1")
    if hrp != "bc" or not sep or len(text) > 90 or len(data_part) < 6:
        return False
    if any(ch not in _BECH32 for ch in data_part):
        return False
    data = [_BECH32.index(ch) for ch in data_part]
    expanded = [ord(ch) >> 5 for ch in hrp] + [0] + [ord(ch) & 31 for ch in hrp]
    constant = _polymod(expanded + data)
    if not data[:-6]:
        return False
    version = data[0]
    if version > 16 or constant != (_BECH32_CONST if version == 0 else _BECH32M_CONST):
        return False
    program = _convert_bits(data[1:-6], 5, 8)
    if program is None or not 2 <= len(program) <= 40:
        return False
    return version != 0 or len(program) in (20, 32)


# -- Keccak-256 ---------------------------------------------------------------------------------

_ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)
_ROTATIONS = ((0, 36, 3, 41, 18), (1, 44, 10, 45, 2), (62, 6, 43, 15, 61),
              (28, 55, 25, 21, 56), (27, 20, 39, 8, 14))  # [x][y]
_MASK = (1 << 64) - 1


def _rotate(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK if shift else value


def _permute(lanes: list[int]) -> None:
    """Keccak-f[1600] on 25 lanes, lane (x, y) at x + 5y."""
    for constant in _ROUND_CONSTANTS:
        columns = [lanes[x] ^ lanes[x + 5] ^ lanes[x + 10] ^ lanes[x + 15] ^ lanes[x + 20]
                   for x in range(5)]
        for x in range(5):
            mix = columns[(x - 1) % 5] ^ _rotate(columns[(x + 1) % 5], 1)
            for y in range(0, 25, 5):
                lanes[x + y] ^= mix
        moved = [0] * 25
        for x in range(5):
            for y in range(5):
                moved[y + 5 * ((2 * x + 3 * y) % 5)] = _rotate(lanes[x + 5 * y], _ROTATIONS[x][y])
        for y in range(0, 25, 5):
            row = moved[y:y + 5]
            for x in range(5):
                lanes[x + y] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5])
        lanes[0] ^= constant


def keccak256(data: bytes, *, padding: int = 0x01) -> bytes:
    """Keccak-256 as Ethereum uses it; ``padding=0x06`` gives SHA3-256 (the tests' check)."""
    rate = 136
    padded = bytearray(data)
    padded.append(padding)
    padded.extend(b"\x00" * (-len(padded) % rate))
    padded[-1] |= 0x80
    lanes = [0] * 25
    for start in range(0, len(padded), rate):
        block = padded[start:start + rate]
        for i in range(rate // 8):
            lanes[i] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        _permute(lanes)
    return b"".join(lane.to_bytes(8, "little") for lane in lanes[:4])


def eip55(address: str) -> str:
    """The address (``0x`` and 40 hex digits) in EIP-55's checksummed case."""
    digits = address[2:].lower()
    hashed = keccak256(digits.encode()).hex()
    return "0x" + "".join(ch.upper() if ch.isalpha() and int(hashed[i], 16) >= 8 else ch
                          for i, ch in enumerate(digits))


def eth_checksum(address: str) -> bool | None:
    """True: its mixed case is EIP-55's; False: mixed case that is not; None: all one case,
    which carries no checksum to hold it to."""
    digits = address[2:]
    if digits.lower() == digits or digits.upper() == digits:
        return None
    return eip55(address) == address
