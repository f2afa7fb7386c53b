"""Rows of pixels set above a PNG without decoding it.

A PNG's rows are filtered, then compressed as one zlib stream across its IDAT chunks.
New rows above the image need neither undone: the new rows are compressed alone, their
stream flushed to a byte boundary without ending it (Z_SYNC_FLUSH), and the image's
own deflate data follows unchanged -- it never refers back past its own start -- under
an Adler-32 combined from the two (as zlib's adler32_combine does). The one dependence
across the join is the filters of the image's first row (Up, Average, Paeth), which
read the row above it as zeros: so the last new row must be all zero bytes (black, or
transparent black), and then every pixel of the image decodes as it did.

Only what can be joined so is: 8-bit RGB or RGBA, not interlaced, a zlib stream that
inflates to exactly the image's rows and ends with its IDAT data (checked, by inflating
it once); anything else gives None, for the caller to draw the whole image again.
"""

from __future__ import annotations

import struct
import zlib

# (interlace, PIL mode) of an image whose rows can be joined, to the mode of the new rows
ROW_MODES = {(0, "RGB"): "RGB", (0, "RGBA"): "RGBA"}
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {2: 3, 6: 4}  # PNG colour type (at 8 bits): RGB, RGBA
_ADLER_BASE = 65521
_IDAT_SIZE = 1 << 20  # bytes per IDAT chunk written
_INFLATE_PIECE = 4 << 20  # bytes inflated at a time, in checking a stream
_IHDR = struct.Struct(">IIBBBBB")


def stack_rows(png: bytes, rows: bytes, count: int) -> bytes | None:
    """``png`` with ``count`` rows of raw pixels (``rows``: as wide, in the same
    format, the last row all zero bytes) above it; None where that cannot be done
    without decoding the image."""
    chunks = _chunks(png)
    if chunks is None or not chunks or chunks[0][0] != b"IHDR":
        return None
    width, height, depth, colour, method, filtering, interlace = _IHDR.unpack(chunks[0][1])
    channels = _CHANNELS.get(colour)
    if depth != 8 or channels is None or (method, filtering, interlace) != (0, 0, 0):
        return None
    stride = width * channels
    if count < 1 or len(rows) != stride * count or any(rows[-stride:]):
        return None
    kinds = [kind for kind, _ in chunks]
    first = kinds.index(b"IDAT") if b"IDAT" in kinds else -1
    last = len(kinds) - 1 - kinds[::-1].index(b"IDAT") if first >= 0 else -1
    if first < 0 or any(kind != b"IDAT" for kind in kinds[first : last + 1]):
        return None
    stream = b"".join(data for _, data in chunks[first : last + 1])
    if len(stream) < 7 or stream[0] & 0x0F != 8 or stream[0] >> 4 > 7 \
            or (stream[0] << 8 | stream[1]) % 31 or stream[1] & 0x20:
        return None  # not deflate in a zlib wrapper, or with a preset dictionary
    if not _whole(stream, height * (stride + 1)):
        return None
    filtered = b"".join(b"\x00" + rows[at : at + stride] for at in range(0, len(rows), stride))
    packer = zlib.compressobj(6, zlib.DEFLATED, 15)
    joined = packer.compress(filtered) + packer.flush(zlib.Z_SYNC_FLUSH) + stream[2:-4]
    adler = _combine(zlib.adler32(filtered), int.from_bytes(stream[-4:], "big"),
                     height * (stride + 1))
    joined += adler.to_bytes(4, "big")
    head = _IHDR.pack(width, height + count, depth, colour, method, filtering, interlace)
    out = [_SIGNATURE, _chunk(b"IHDR", head)]
    out += [_chunk(kind, data) for kind, data in chunks[1:first]]
    out += [_chunk(b"IDAT", joined[at : at + _IDAT_SIZE])
            for at in range(0, len(joined), _IDAT_SIZE)]
    out += [_chunk(kind, data) for kind, data in chunks[last + 1 :]]
    return b"".join(out)


def _whole(stream: bytes, length: int) -> bool:
    """Whether the zlib stream inflates to exactly ``length`` bytes, its Adler-32 right,
    nothing after its end: what joining relies on (a decoder may forgive the rest).
    Inflating is a fraction of what decoding the image and encoding it again took."""
    inflater = zlib.decompressobj()
    total = 0
    try:
        pending = stream
        while pending and not inflater.eof:
            total += len(inflater.decompress(pending, _INFLATE_PIECE))
            if total > length:
                return False
            pending = inflater.unconsumed_tail
    except zlib.error:
        return False
    return inflater.eof and not inflater.unused_data and total == length


def _chunks(png: bytes) -> list[tuple[bytes, bytes]] | None:
    """The PNG's chunks (type, data), each CRC checked; None if it is not well formed."""
    if not png.startswith(_SIGNATURE):
        return None
    chunks = []
    at = len(_SIGNATURE)
    view = memoryview(png)
    while at + 12 <= len(png):
        (length,) = struct.unpack_from(">I", png, at)
        end = at + 12 + length
        if end > len(png):
            return None
        kind = png[at + 4 : at + 8]
        if zlib.crc32(view[at + 4 : end - 4]) != int.from_bytes(png[end - 4 : end], "big"):
            return None
        chunks.append((kind, png[at + 8 : end - 4]))
        at = end
        if kind == b"IEND":
            return chunks
    return None


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (len(data).to_bytes(4, "big") + kind + data
            + zlib.crc32(data, zlib.crc32(kind)).to_bytes(4, "big"))


def _combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings one after the other, from each one's."""
    rem = second_length % _ADLER_BASE
    low = ((first & 0xFFFF) + (second & 0xFFFF) - 1) % _ADLER_BASE
    high = ((first >> 16) + (second >> 16) + rem * ((first & 0xFFFF) - 1)) % _ADLER_BASE
    return low | high << 16
