"""What a capture's page shows, read from its evidence: the report's facts (report/court.py,
without a verification -- the page verifies when asked), every page's screenshot, the
renders and media with their hashes, its pages' titles, the URL's other captures, and
the blocks of its resource records, each checked against its sealed digest before it
is shown.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.archive import Archive
from ..core.capture_ids import check_capture_id
from ..core.errors import NotFound, UsageError
from ..report.court import Report, gather
from ..seal import manifest

SHOWN_INLINE = ("image/png", "image/jpeg", "image/webp", "image/gif")


@dataclass
class Render:
    index: int  # the record's place in the manifest's list: its address on this server
    kind: str  # screenshot, pdf, dom, media, media-info, ...
    page: str  # the page it was made of
    content_type: str
    length: int
    sha256: str
    replay: str | None = None  # a screenshot's page's replay check (browser/replay_check)


@dataclass
class CaptureView:
    report: Report
    pages: list[tuple[str, str | None, str | None]]  # url, title, language
    responses: list[dict[str, Any]]
    renders: list[Render] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def content(self) -> dict[str, Any]:
        return self.report.content

    @property
    def screenshots(self) -> list[Render]:
        return [r for r in self.renders if r.kind == "screenshot"]

    @property
    def title(self) -> tuple[str | None, str | None]:
        """The title of the page the capture's URL led to, else of its first page."""
        final = self.report.content.get("final_url")
        for _, title, language in sorted(self.pages, key=lambda p: p[0] != final):
            if title:
                return title, language
        return None, None


def renders_of(content: dict[str, Any]) -> list[Render]:
    """The resource records a capture made of its pages (urn:KIND:PAGE)."""
    from ..browser.replay_check import said_by_page

    out = []
    replays = said_by_page(content)
    for index, record in enumerate(content.get("records") or []):
        target = str(record.get("target_uri") or "")
        if record.get("type") != "resource" or not target.startswith("urn:"):
            continue
        kind, _, page = target.removeprefix("urn:").partition(":")
        if not page:
            continue
        out.append(Render(index, kind, page, str(record.get("content_type") or ""),
                          int(record.get("length") or 0), str(record.get("block_sha256") or ""),
                          replays.get(page) if kind == "screenshot" else None))
    return out


def view(archive: Archive, conn: sqlite3.Connection | None, capture_id: str) -> CaptureView:
    report = gather(archive, check_capture_id(capture_id), check=False)
    content = report.content
    responses = [r for r in content.get("records") or [] if r.get("type") == "response"]
    pages: dict[str, tuple[str, str | None, str | None]] = {}
    for url, title, language in report.titles:  # a browser capture's page is there twice:
        if url not in pages or (title and not pages[url][1]):  # as served, and as rendered
            pages[url] = (url, title, language)
    shown = CaptureView(report, list(pages.values()), responses, renders_of(content))
    if conn is not None:
        from ..index.versions import history

        seen: set[str] = set()
        for url in dict.fromkeys((content.get("final_urls") or {}).values()
                                 or [content.get("final_url")]):
            for row in history(conn, str(url)):
                if row["capture_id"] != capture_id and row["capture_id"] not in seen:
                    seen.add(row["capture_id"])
                    shown.versions.append({**row, "url": url})
    return shown


def record_of(archive: Archive, capture_id: str, index: int) -> dict[str, Any]:
    _, content = manifest.read_capture(archive.manifests_dir, check_capture_id(capture_id))
    records = content.get("records") or []
    if not 0 <= index < len(records):
        raise NotFound("no such record in the capture", where=f"{capture_id} #{index}")
    record = records[index]
    if record.get("type") != "resource":
        raise UsageError("only a capture's own renders and media are served here; pages "
                         "replay from the replay server")
    return dict(record)


def block_file(archive: Archive, record: dict[str, Any]) -> Path:
    """The record's block in a temporary file, when its sha256 is the sealed one; the
    caller removes the file. UsageError when it is not (verify says more)."""
    from ..warc.payload import copy_block

    handle, name = tempfile.mkstemp(prefix="custody-serve-")
    os.close(handle)
    out = Path(name)
    try:
        digest = copy_block(archive.root / str(record["warc_path"]), int(record["offset"]), out)
    except (OSError, ValueError, StopIteration) as exc:
        out.unlink(missing_ok=True)
        raise UsageError(f"the record cannot be read ({exc}); custody verify says more") \
            from exc
    if digest != record.get("block_sha256"):
        out.unlink(missing_ok=True)
        raise UsageError("the record's bytes are not the sealed ones: not shown "
                         "(custody verify says what changed)")
    return out


def thumbnail(path: Path, width: int = 320) -> bytes:
    """The top of a screenshot, scaled to ``width``, as PNG."""
    import io

    from PIL import Image

    with Image.open(path) as image:
        top = image.crop((0, 0, image.width, min(image.height, image.width * 3 // 4)))
        top.thumbnail((width, width))
        out = io.BytesIO()
        top.convert("RGB").save(out, "PNG", optimize=True)
        return out.getvalue()


def first_screenshot(archive: Archive, capture_id: str) -> dict[str, Any] | None:
    """The screenshot of the page the capture's URL led to, else its first one."""
    _, content = manifest.read_capture(archive.manifests_dir, check_capture_id(capture_id))
    shots = [r for r in renders_of(content)
             if r.kind == "screenshot" and r.content_type in SHOWN_INLINE]
    shots.sort(key=lambda r: r.page != content.get("final_url"))
    return dict((content.get("records") or [])[shots[0].index]) if shots else None
