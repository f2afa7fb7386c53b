"""How much a page's screenshot changed between two captures, and where.

Two screenshots (PNG, as sealed) are compared pixel by pixel over the area both cover; a
pixel differs when one of its channels differs by more than CHANNEL_STEP (antialiasing
and colour rounding stay under it), and what only one screenshot covers (the page grew
or shrank) differs too. The differing pixels are gathered into regions: the page is cut
into CELL-pixel squares, the squares holding a differing pixel are joined to their
neighbours, and each group is one rectangle. A watch raises a ``screenshot`` change when
the differing share reaches THRESHOLD: a rotating banner or a clock moves a few percent
of a page; a page rewritten, defaced or replaced moves far more. The parts a watch
leaves out (its ignored selectors and the ads volatile.py names) are blanked in both
screenshots first, where each capture's browser found them (``volatile_boxes``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

CHANNEL_STEP = 32  # of 255: a channel difference at most this is no difference
CELL = 16  # pixels: the grain of the regions
THRESHOLD = 0.10  # share of the pixels: a screenshot change from here on
MAX_REGIONS = 20  # listed; more are counted
MAX_PIXELS = 40_000_000  # a screenshot larger than this is compared at a smaller scale


@dataclass
class Difference:
    share: float  # of the pixels of the larger screenshot's area
    size_before: tuple[int, int]
    size_after: tuple[int, int]
    regions: list[tuple[int, int, int, int]] = field(default_factory=list)  # x, y, w, h
    more_regions: int = 0

    def line(self) -> str:
        """One line for a change's diff."""
        listed = "; ".join(f"{x},{y} {w}x{h}" for x, y, w, h in self.regions)
        more = f" and {self.more_regions} more" if self.more_regions else ""
        sizes = "" if self.size_before == self.size_after else \
            (f", {self.size_before[0]}x{self.size_before[1]} then "
             f"{self.size_after[0]}x{self.size_after[1]}")
        count = len(self.regions) + self.more_regions
        return (f"~ screenshot: {self.share:.1%} of its pixels differ{sizes}; "
                f"{count} region{'' if count == 1 else 's'}: {listed}{more}")


Box = tuple[int, int, int, int]  # x, y, width, height, in the screenshot's pixels


def difference(before: bytes, after: bytes, leave_out: list[Box] | None = None) -> Difference:
    """Compare two screenshots (ValueError: not images Pillow reads), the boxes
    ``leave_out`` blanked in both."""
    from PIL import Image, ImageChops, ImageDraw

    try:
        first: Image.Image = Image.open(io.BytesIO(before))
        second: Image.Image = Image.open(io.BytesIO(after))
        first.load()
        second.load()
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not an image ({exc})") from exc
    sizes = first.size, second.size
    scale = 1
    while (max(first.width, second.width) // scale) * \
            (max(first.height, second.height) // scale) > MAX_PIXELS:
        scale *= 2
    if scale > 1:
        first = first.resize((max(1, first.width // scale), max(1, first.height // scale)))
        second = second.resize((max(1, second.width // scale), max(1, second.height // scale)))
    width, height = max(first.width, second.width), max(first.height, second.height)
    canvas = []
    for image in (first, second):  # on one canvas: what one lacks is black in it, and
        pad = Image.new("RGB", (width, height), (0, 0, 0))  # marked as differing below
        pad.paste(image.convert("RGB"), (0, 0))
        draw = ImageDraw.Draw(pad)
        for x, y, w, h in leave_out or []:
            draw.rectangle((x // scale, y // scale, (x + w) // scale, (y + h) // scale),
                           fill=(0, 0, 0))
        canvas.append(pad)
    channels = ImageChops.difference(canvas[0], canvas[1]).split()
    strongest = channels[0]
    for channel in channels[1:]:
        strongest = ImageChops.lighter(strongest, channel)
    mask = strongest.point(lambda v: 255 if v > CHANNEL_STEP else 0)
    common = (min(first.width, second.width), min(first.height, second.height))
    outside = Image.new("L", (width, height), 255)
    outside.paste(0, (0, 0, *common))
    mask = ImageChops.lighter(mask, outside)
    changed = mask.histogram()[255]
    regions = _regions(mask)
    listed = [(x * scale, y * scale, w * scale, h * scale) for x, y, w, h in regions]
    return Difference(changed / (width * height), sizes[0], sizes[1],
                      listed[:MAX_REGIONS], max(0, len(listed) - MAX_REGIONS))


def _regions(mask: Any) -> list[tuple[int, int, int, int]]:
    """Rectangles around the groups of CELL squares holding a differing pixel (``mask``: a
    Pillow "L" image, 255 where they differ), largest first."""
    from PIL import Image

    columns, rows = -(-mask.width // CELL), -(-mask.height // CELL)
    # a square holds a differing pixel when its mean, shrunk to one pixel, is not 0
    cells = mask.resize((columns, rows), Image.Resampling.BOX)
    held = {(c, r) for r in range(rows) for c in range(columns) if cells.getpixel((c, r))}
    found = []
    while held:
        start = held.pop()
        group, todo = [start], [start]
        while todo:
            c, r = todo.pop()
            for near in ((c + 1, r), (c - 1, r), (c, r + 1), (c, r - 1)):
                if near in held:
                    held.remove(near)
                    group.append(near)
                    todo.append(near)
        left = min(c for c, _ in group) * CELL
        top = min(r for _, r in group) * CELL
        right = min((max(c for c, _ in group) + 1) * CELL, mask.width)
        bottom = min((max(r for _, r in group) + 1) * CELL, mask.height)
        found.append((left, top, right - left, bottom - top))
    found.sort(key=lambda b: (-b[2] * b[3], b[1], b[0]))
    return found


def marked(png: bytes, regions: list[tuple[int, int, int, int]]) -> bytes:
    """The screenshot with each region outlined in red (lined with white), as PNG."""
    from PIL import Image, ImageDraw

    with Image.open(io.BytesIO(png)) as image:
        shown = image.convert("RGB")
    draw = ImageDraw.Draw(shown)
    for x, y, w, h in regions:  # red, lined with white: seen on a red page too
        for inset in range(5):
            draw.rectangle((x + inset, y + inset, x + w - 1 - inset, y + h - 1 - inset),
                           outline=(220, 0, 0) if inset < 3 else (255, 255, 255))
    out = io.BytesIO()
    shown.save(out, "PNG", optimize=True)
    return out.getvalue()


def volatile_boxes(root: Any, capture_id: str, page: str) -> list[Box]:
    """Where the capture's browser found the parts its watch leaves out on ``page`` (its
    visit's ``volatile_boxes``; none for a capture that recorded none)."""
    from ..core.urls import normalise
    from ..seal import manifest

    try:
        _, content = manifest.read_capture(root / "manifests", capture_id)
    except Exception:  # a capture that cannot be read: nothing to leave out
        return []
    for visit in content.get("visits") or []:
        if not isinstance(visit, dict) or normalise(str(visit.get("final_url") or "")) != \
                normalise(page):
            continue
        return [(int(b[0]), int(b[1]), int(b[2]), int(b[3]))
                for b in visit.get("volatile_boxes") or []
                if isinstance(b, list) and len(b) == 4
                and all(isinstance(v, int) and 0 <= v < 1_000_000 for v in b)]
    return []


def screenshot(root: Any, capture_id: str, page: str) -> bytes | None:
    """The capture's sealed screenshot of ``page`` (its final URL), else of the page it
    shot first: the unmarked one (the page alone, without the band custody draws over
    it with the capture's time and id, which differs in every capture), else the marked
    one; None without one, or when its bytes are not the sealed ones (verify says
    more)."""
    from ..core.urls import normalise
    from ..seal import manifest
    from ..warc.payload import sealed_block

    try:
        _, content = manifest.read_capture(root / "manifests", capture_id)
    except Exception:  # a capture that cannot be read: no screenshot to compare
        return None
    def kind_and_page(record: dict[str, Any]) -> tuple[str, str]:
        kind, _, shot = str(record.get("target_uri") or "").removeprefix("urn:").partition(":")
        return kind, shot

    shots = [r for r in content.get("records") or [] if r.get("type") == "resource"
             and kind_and_page(r)[0] in ("screenshot", "screenshot-unmarked")]
    shots.sort(key=lambda r: (kind_and_page(r)[0] != "screenshot-unmarked",
                              normalise(kind_and_page(r)[1]) != normalise(page)))
    return sealed_block(root, shots[0])[0] if shots else None
