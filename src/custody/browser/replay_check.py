"""Every page the browser recorded, replayed from the capture's own WARC files before the
capture is sealed, and compared with what was recorded: the check Browsertrix runs as a
separate QA crawl, done here as part of the capture and sealed with it.

The replay engine is ``custody replay``'s -- pywb, reading the WARC files in place, its
index made from the capture's records, on a Unix socket of a scratch folder -- and the
browser is the capture's own Chromium, in a context of its own that reaches nothing but
pywb: each request it makes is answered from the socket, and one for anywhere else (a
live URL the replay failed to rewrite) is refused and listed. For each page:

- ``pixels``: the share of the screenshot that is the same (watch/pixels.py's measure,
  on the screenshot without its band, at the same viewport);
- ``text``: how alike the visible text is (difflib's ratio over words);
- ``missing``: what the replayed page asked for that the WARC does not hold;
- ``escaped``: requests for anywhere but the replay, refused.

A page under ``PIXELS`` or ``TEXT``, or missing something, is noted: the archivist may
capture it again. Without pywb (``./scripts/setup --replay``) the capture says it was not
checked.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from ..core import scratch

PIXELS = 0.95
TEXT = 0.95
MAX_WORDS = 20_000


@dataclass
class Kept:
    """What was recorded of one page, kept until the check."""

    url: str
    started_at: str
    screenshot: Path
    text: str


class Keeper:
    """The pages' screenshots and texts, in a scratch folder, until the check."""

    def __init__(self) -> None:
        self.folder = scratch.make("custody-check-")
        self.kept: list[Kept] = []

    def keep(self, url: str, started_at: str, png: bytes, text: str) -> None:
        path = self.folder / f"{len(self.kept):06d}.png"
        path.write_bytes(png)
        self.kept.append(Kept(url, started_at, path, text))

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def text_alike(recorded: str, replayed: str) -> float:
    """1.0 for the same words in the same order; both empty is the same."""
    first, second = recorded.split()[:MAX_WORDS], replayed.split()[:MAX_WORDS]
    if not first and not second:
        return 1.0
    return SequenceMatcher(None, first, second, autojunk=False).ratio()


def verdict(result: dict[str, Any]) -> str | None:
    """The note a page's check gives, when it gives one."""
    if result.get("error"):
        return f"not replay-checked: {result['error']}"
    said = []
    if result["pixels"] < PIXELS:
        said.append(f"{result['pixels']:.1%} of its screenshot is the same")
    if result["text"] < TEXT:
        said.append(f"its text is {result['text']:.1%} alike")
    if result["missing"]:
        said.append(f"{len(result['missing'])} resource(s) it asks for are not in the WARC")
    if result["escaped"]:
        said.append(f"{len(result['escaped'])} request(s) left the replay (refused)")
    if not said:
        return None
    failed = result.get("script_errors") or []
    if failed and not result["missing"]:  # the engine's rewriting, more likely than the WARC
        return ("replayed from its WARC, the page differs from what was recorded: " +
                "; ".join(said) + f"; its scripts failed in the replay ({failed[0][:200]}), "
                "as pywb rewrites them: the difference may be the replay's, not the capture's")
    return "replayed from its WARC, the page differs from what was recorded: " + \
        "; ".join(said) + " (capture it again?)"


def said(replay: Any) -> str | None:
    """A page's replay check in one line, as show, the report and the workbench give it:
    "replays as recorded: 99.6% of the pixels, text 100.0% alike, 0 missing"."""
    if not isinstance(replay, dict):
        return None
    if replay.get("error"):
        return f"not replay-checked: {replay['error']}"
    try:
        line = (f"{replay['pixels']:.1%} of the pixels the same, text {replay['text']:.1%} "
                f"alike, {len(replay['missing'])} missing")
        escaped = len(replay.get("escaped") or [])
        good = verdict({**replay, "error": None}) is None
    except (KeyError, TypeError, ValueError):  # not as custody writes it: verify says so
        return None
    line += f", {escaped} left the replay" if escaped else ""
    return ("replays as recorded: " if good else "replays otherwise than recorded: ") + line


def said_by_page(content: dict[str, Any]) -> dict[str, str]:
    """Each visited page's ``said``, by its URL and its final URL (a screenshot is named
    by the one it ended on)."""
    out = {}
    for visit in content.get("visits") or []:
        if isinstance(visit, dict) and (line := said(visit.get("replay"))):
            for key in (visit.get("url"), visit.get("final_url")):
                if isinstance(key, str):
                    out[key] = line
    return out
