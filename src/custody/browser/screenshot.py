"""A screenshot that says what it shows: a band above the page's pixels with the URL and
the UTC time of the capture, the page itself untouched below it.

Courts expect a capture showing the date and time (Berkeley Protocol, para. 155). The
band is added beside the pixels, never drawn over them, and the screenshot without it
is kept too, so that nothing of what the browser rendered is hidden or altered.

The band is drawn alone and set above the browser's PNG as it is (png_stack): the
page's compressed rows are not decoded and encoded again, which for a full page took a
tenth of a second or more each. A PNG that cannot be joined so (a narrow page, a palette
or interlaced image) is drawn again whole.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

from .png_stack import ROW_MODES, stack_rows

FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
         "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf")
BAND = 56  # pixels, the last of them a black rule (png_stack needs a row of zeros there)
MIN_WIDTH = 640  # a band narrower could not hold its lines


def with_band(png: bytes, *, url: str, when: datetime, note: str = "", who: str = "") -> bytes:
    """The screenshot with a band on top: the URL, when it was captured (UTC), and
    ``who``: the capture and its operator, so that a printed page says whose it is."""
    from PIL import Image

    page = Image.open(io.BytesIO(png))
    mode = ROW_MODES.get((page.info.get("interlace", 0), page.mode))
    if mode is not None and page.width >= MIN_WIDTH:
        band = _band(page.width, mode, url, when, note, who)
        stacked = stack_rows(png, band.tobytes(), BAND)
        if stacked is not None:
            return stacked
    page.load()
    out = _band(max(page.width, MIN_WIDTH), "RGB", url, when, note, who, page.height)
    out.paste(page.convert("RGB"), (0, BAND))
    buffer = io.BytesIO()
    out.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def _band(width: int, mode: str, url: str, when: datetime, note: str, who: str,
          below: int = 0) -> Any:
    """The band, ``width`` wide, in ``mode`` (RGB or RGBA; and ``below`` rows of white
    under it). Its last row, the rule, is all zero bytes: black, transparent in RGBA."""
    from PIL import Image, ImageDraw

    def colour(grey: int, alpha: int = 255) -> tuple[int, ...]:
        return (grey, grey, grey, alpha)[: len(mode)]

    out = Image.new(mode, (width, BAND + below), colour(255))
    draw = ImageDraw.Draw(out)
    draw.rectangle([0, 0, width, BAND - 2], fill=colour(242))
    draw.line([0, BAND - 1, width, BAND - 1], fill=colour(0, 0), width=1)
    font = _font(16)
    small = _font(13)
    stamp = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    draw.text((10, 6), _fit(draw, url, font, width - 20), fill=colour(0), font=font)
    line = f"captured {stamp} by custody" + "".join(f"  ·  {part}" for part in (who, note) if part)
    draw.text((10, 32), _fit(draw, line, small, width - 20), fill=colour(60), font=small)
    return out


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
