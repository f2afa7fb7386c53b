"""Screenshots compared pixel by pixel (watch/pixels.py): the share that differs, the
regions where, what only one covers, and the regions outlined."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from custody.watch.pixels import CELL, difference, marked


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _page(height: int = 1000) -> Image.Image:
    image = Image.new("RGB", (800, height), "white")
    ImageDraw.Draw(image).text((10, 10), "The ministry confirms", fill="black")
    return image


def test_the_same_screenshot_differs_nowhere() -> None:
    found = difference(_png(_page()), _png(_page()))
    assert found.share == 0 and found.regions == []


def test_a_faint_shift_of_colour_is_no_difference() -> None:
    faint = Image.new("RGB", (800, 1000), (240, 240, 240))
    assert difference(_png(_page()), _png(faint)).share < 0.01


def test_a_repainted_block_is_found_where_it_is() -> None:
    after = _page()
    ImageDraw.Draw(after).rectangle((100, 300, 499, 599), fill="red")
    found = difference(_png(_page()), _png(after))
    assert found.share == pytest.approx(400 * 300 / (800 * 1000), rel=0.01)
    ((x, y, w, h),) = found.regions
    assert x <= 100 < x + CELL and y <= 300 < y + CELL
    assert 400 <= w <= 400 + 2 * CELL and 300 <= h <= 300 + 2 * CELL
    assert "1 region:" in found.line()


def test_two_blocks_are_two_regions_largest_first() -> None:
    after = _page()
    draw = ImageDraw.Draw(after)
    draw.rectangle((0, 100, 99, 199), fill="blue")
    draw.rectangle((400, 600, 799, 899), fill="green")
    found = difference(_png(_page()), _png(after))
    assert len(found.regions) == 2
    assert found.regions[0][1] >= 592 and found.regions[1][1] <= 100


def test_what_one_screenshot_covers_alone_differs() -> None:
    found = difference(_png(_page(1000)), _png(_page(1250)))
    assert found.share == pytest.approx(250 / 1250, rel=0.01)
    assert found.size_before == (800, 1000) and found.size_after == (800, 1250)
    assert "800x1000 then 800x1250" in found.line()


def test_the_regions_are_outlined_in_red() -> None:
    after = _page()
    ImageDraw.Draw(after).rectangle((96, 288, 495, 591), fill="black")
    found = difference(_png(_page()), _png(after))
    image = Image.open(io.BytesIO(marked(_png(after), found.regions))).convert("RGB")
    x, y, _, _ = found.regions[0]
    assert image.getpixel((x, y)) == (220, 0, 0)


def test_what_is_no_image_is_said() -> None:
    with pytest.raises(ValueError):
        difference(b"not a png", _png(_page()))
