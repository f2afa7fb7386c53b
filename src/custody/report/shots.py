"""The capture report's screenshots: every page's, each with a caption that says what it
is, cut into parts as tall as an A4 page is for its width, so that it prints at full width
(the band the browser drew above the page readable) rather than shrunk to fit a page."""

from __future__ import annotations

import base64
import io

from ..browser.replay_check import said_by_page
from .court import Report
from .markup import bidi, text, url

PAGE_RATIO = 1.3  # an A4 page's printed height over its width, its margins and caption off


def screenshots(report: Report) -> str:
    """Every page's screenshot, each cut into parts as tall as an A4 page is for its width,
    so that it prints at full width (its band readable) rather than shrunk to fit."""
    if not report.screenshots:
        return ""
    cid = report.content["capture_id"]
    operator = (report.content.get("collector") or {}).get("operator")
    dates = {r["page"]: r.get("date") for r in report.renders if r["kind"] == "screenshot"}
    digests = {r["page"]: r.get("sha256") for r in report.renders if r["kind"] == "screenshot"}
    replays = said_by_page(report.content)
    figures = []
    for number, (page, png) in enumerate(report.screenshots, 1):
        parts = _slices(png)
        for part, data in enumerate(parts, 1):
            caption = (f"Screenshot {number} of {len(report.screenshots)}"
                       + (f", part {part} of {len(parts)}" if len(parts) > 1 else "")
                       + f": {url(page)}, recorded {text(dates.get(page))} (UTC); capture "
                       f"<code>{text(cid)}</code>, operator {bidi(operator)}; the PNG's "
                       f'SHA-256 <span class="hash">{text(digests.get(page))}</span>'
                       + (f"; checked before sealing, replayed from the WARC: "
                          f"{text(replays[page])}" if page in replays else ""))
            figures.append(f'<figure class="shot"><figcaption>{caption}</figcaption>'
                           f'<img class="screenshot" alt="screenshot of {text(page)}" '
                           f'src="data:image/png;base64,{base64.b64encode(data).decode()}">'
                           "</figure>")
    return '<h2 class="shots">Screenshots</h2>' + "".join(figures)


def _slices(png: bytes) -> list[bytes]:
    """The screenshot as it is, or cut into parts of the page's proportions (the sealed
    PNG is named by its SHA-256; the parts are only how it is printed)."""
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(png))
        width, height = image.size
        step = int(width * PAGE_RATIO)
        if height <= step * 1.15:
            return [png]
        parts = []
        for top in range(0, height, step):
            out = io.BytesIO()
            image.crop((0, top, width, min(height, top + step))).save(out, format="PNG")
            parts.append(out.getvalue())
        return parts
    except (OSError, ValueError):  # not an image Pillow reads: shown as it is
        return [png]
