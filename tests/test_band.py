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
