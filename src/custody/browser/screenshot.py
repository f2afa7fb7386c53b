"""A screenshot that says what it shows: a band above the page's pixels with the URL and
the UTC time of the capture, the page itself untouched below it.

Courts expect a capture showing the date and time (Berkeley Protocol, para. 155). The
band is added beside the pixels, never drawn over them, and the screenshot without it
is kept too, so that nothing of what the browser rendered is hidden or altered.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
         "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf")
BAND = 56  # pixels


def with_band(png: bytes, *, url: str, when: datetime, note: str = "", who: str = "") -> bytes:
    """The screenshot with a band on top: the URL, when it was captured (UTC), and
    ``who``: the capture and its operator, so that a printed page says whose it is."""
    from PIL import Image, ImageDraw

    page = Image.open(io.BytesIO(png))
    page.load()
    out = Image.new("RGB", (max(page.width, 640), page.height + BAND), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    draw.rectangle([0, 0, out.width, BAND - 1], fill=(242, 242, 242))
    draw.line([0, BAND - 1, out.width, BAND - 1], fill=(120, 120, 120), width=1)
    font = _font(16)
    small = _font(13)
    stamp = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    draw.text((10, 6), _fit(draw, url, font, out.width - 20), fill=(0, 0, 0), font=font)
    line = f"captured {stamp} by custody" + "".join(f"  ·  {part}" for part in (who, note) if part)
    draw.text((10, 32), _fit(draw, line, small, out.width - 20), fill=(60, 60, 60), font=small)
    out.paste(page.convert("RGB"), (0, BAND))
    buffer = io.BytesIO()
    out.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def _font(size: int):
    from PIL import ImageFont

    for path in FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _fit(draw, text: str, font, width: int) -> str:
    """The text, cut with an ellipsis where it would run past ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
