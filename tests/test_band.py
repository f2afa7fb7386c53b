"""The band above a screenshot: the URL, the UTC time, and the capture and its operator,
so that a printed page says whose it is; the page's pixels below it untouched."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from PIL import Image

from custody.browser.screenshot import BAND, with_band


def _page() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 300), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _inked(png: bytes, top: int, bottom: int) -> int:
    """How far right the band's text reaches in rows top..bottom."""
    image = Image.open(io.BytesIO(png)).convert("L")
    right = 0
    for y in range(top, bottom):
        for x in range(image.width):
            if image.getpixel((x, y)) < 150:
                right = max(right, x)
    return right


def test_the_band_names_the_capture_and_its_operator() -> None:
    when = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    plain = with_band(_page(), url="https://example.org/", when=when)
    named = with_band(_page(), url="https://example.org/", when=when,
                      who="capture 20261205T140000Z-1a2b3c4d  ·  A. Investigator")
    # the second line reaches further: the capture id and operator follow the time
    assert _inked(named, 30, BAND - 4) > _inked(plain, 30, BAND - 4) + 100
    image = Image.open(io.BytesIO(named)).convert("RGB")
    assert image.size == (800, 300 + BAND)
    assert image.getpixel((400, BAND + 150)) == (10, 120, 200)  # the page, untouched


def _png(width: int, rows: list[bytes], filters: list[int], channels: int = 3) -> bytes:
    """A PNG (8-bit RGB or RGBA) whose rows are filtered as ``filters`` say: 1 Sub,
    2 Up, 3 Average, 4 Paeth; the first row's Up, Average and Paeth read zeros above."""
    import struct
    import zlib

    def paeth(a: int, b: int, c: int) -> int:
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        return a if pa <= pb and pa <= pc else b if pb <= pc else c

    stride = width * channels
    above = bytes(stride)
    out = b""
    for row, kind in zip(rows, filters, strict=True):
        line = bytearray()
        for i, value in enumerate(row):
            left = row[i - channels] if i >= channels else 0
            up = above[i]
            corner = above[i - channels] if i >= channels else 0
            guess = {0: 0, 1: left, 2: up, 3: (left + up) // 2,
                     4: paeth(left, up, corner)}[kind]
            line.append((value - guess) % 256)
        out += bytes([kind]) + bytes(line)
        above = row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    head = struct.pack(">IIBBBBB", width, len(rows), 8, 2 if channels == 3 else 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(out))
            + chunk(b"IEND", b""))


def test_the_page_below_the_band_decodes_as_it_did_whatever_its_filters() -> None:
    """The band is set above the browser's compressed rows without decoding them: rows
    filtered against the row above (Up, Average, Paeth), the first of them included,
    still give the page's own pixels, in RGB and RGBA."""
    import os

    when = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    for channels, mode in ((3, "RGB"), (4, "RGBA")):
        for first in (1, 2, 3, 4):
            width = 700
            rows = [os.urandom(width * channels) for _ in range(40)]
            png = _png(width, rows, [first] + [(first + n) % 5 for n in range(39)], channels)
            page = Image.open(io.BytesIO(png))
            assert page.mode == mode
            banded = Image.open(io.BytesIO(with_band(png, url="https://example.org/",
                                                     when=when)))
            banded.load()
            assert banded.mode == mode and banded.size == (width, 40 + BAND)
            assert banded.crop((0, BAND, width, 40 + BAND)).tobytes() == page.tobytes(), \
                (mode, first)
            assert _inked(with_band(png, url="https://example.org/", when=when), 4, 24) > 50


def test_images_that_cannot_be_joined_are_drawn_again_whole() -> None:
    """A narrow page, a palette image, an interlaced one, a 16-bit one and a grey one
    still get their band, with the page's pixels below it."""
    when = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    colour = Image.effect_noise((300, 120), 80).convert("RGB")
    cases = {"narrow": (colour, {}), "palette": (Image.effect_noise((700, 50), 80).convert(
        "RGB").quantize(64), {}), "interlaced": (Image.effect_noise((700, 50), 80).convert(
        "RGB"), {"interlace": 1}), "grey": (Image.effect_noise((700, 50), 80), {}),
        "16-bit": (Image.effect_noise((700, 50), 80).convert("I;16"), {})}
    for name, (image, options) in cases.items():
        out = io.BytesIO()
        image.save(out, "PNG", **options)
        banded = Image.open(io.BytesIO(with_band(out.getvalue(), url="https://example.org/",
                                                 when=when)))
        assert banded.size == (max(image.width, 640), image.height + BAND), name
        page = Image.open(io.BytesIO(out.getvalue())).convert("RGB")
        below = banded.convert("RGB").crop((0, BAND, image.width, image.height + BAND))
        assert below.tobytes() == page.tobytes(), name


def test_a_stream_that_a_decoder_forgives_is_drawn_again_not_joined() -> None:
    """Bytes after the zlib stream, fewer rows than the header says, or a wrong
    Adler-32: joining would give a broken image, so the band is drawn with the image
    decoded (or decoding fails, as it did before) -- never an unreadable screenshot."""
    import os
    import struct
    import zlib

    when = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    width = 700
    good = _png(width, [os.urandom(width * 3) for _ in range(40)], [0] * 40)
    at = good.index(b"IDAT")
    (length,) = struct.unpack(">I", good[at - 4 : at])
    stream = good[at + 4 : at + 4 + length]
    raw = zlib.decompress(stream)

    def with_stream(data: bytes, height: int = 40) -> bytes:
        head = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

        def chunk(kind: bytes, body: bytes) -> bytes:
            return (struct.pack(">I", len(body)) + kind + body
                    + struct.pack(">I", zlib.crc32(kind + body)))

        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", data)
                + chunk(b"IEND", b""))

    cases = {"trailing bytes": with_stream(stream + b"\0\0\0\0"),
             "rows missing": with_stream(zlib.compress(raw[: len(raw) // 2]), 40),
             "wrong adler": with_stream(stream[:-4] + bytes(4))}
    for name, png in cases.items():
        try:
            out = with_band(png, url="https://example.org/", when=when)
        except OSError:
            continue  # the image does not decode: as before, the caller says so
        banded = Image.open(io.BytesIO(out))
        banded.load()  # readable whole
        assert banded.size == (width, 40 + BAND), name
