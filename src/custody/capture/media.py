"""What yt-dlp did on a page (--media), into the WARC and the manifest.

Every exchange yt-dlp made through the recording proxy is stored as any fetch is
(request, response, TLS chain); the files it made of them -- the media, its subtitles --
and its info JSON follow as ``resource`` records that refer to the page's response, each
named ``urn:media:<page>#<file>`` (``urn:media-info:<page>`` for the JSON). The
manifest's ``media`` list says, per page, what yt-dlp (which version, which extractor)
found: title, uploader, upload date, duration, and each file's record, size and sha256.

The result object comes from ``custody.media`` (a MediaResult); capture reads it by its
fields alone, as it reads the browser's visits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..extract.content import MEDIA_INFO_TYPE
from ..warc.records import payload_sha256, warc_date
from .fetch import Exchange
from .redact import declared, scrub_info
from .sink import Sink, refers_to
from .state import CrawlState, Target

MEDIA_TYPES = ("video/", "audio/")
MANIFEST_TYPES = frozenset({"application/vnd.apple.mpegurl", "application/x-mpegurl",
                            "audio/mpegurl", "audio/x-mpegurl", "application/dash+xml"})
MEDIA_EXTENSIONS = (".m3u8", ".mpd", ".mp4", ".webm", ".mkv", ".mov", ".m4a", ".mp3",
                    ".ogg", ".oga", ".ogv", ".opus", ".flac", ".wav", ".aac")


def page_then_media(collector: Any, work: Callable[[str], Any], stopping: Callable[[], bool],
                    url: str, *, target: Target | None = None) -> tuple[Any, Any]:
    """The page (fetched or visited by ``work``), then, in the same worker, yt-dlp on it
    when it came back whole (its fetches tagged with the page's ``target``)."""
    result = work(url)
    if isinstance(result, Exchange):
        whole = result.ok and not result.stopped and 200 <= (result.status or 0) < 300
        page = url
    else:
        whole = not result.error
        page = result.final_url or url
    if not whole or stopping():
        return result, None
    return result, collector.collect(page, media_hints(result), target)


# the (status, payload digest) of each response a resumed capture holds for a URL
Held = Callable[[str], set[tuple[int | None, str]]]


def store_ended(sink: Sink, collector: Any, early: dict[str, list[Any]],
                held: Held | None = None) -> None:
    """yt-dlp's fetches that ended while it still works, stored now rather than all
    at its end (a stream's segments, while the next ones download), and kept in
    ``early`` by visit for keep_media to count with the rest."""
    for visit_id, target, seen in collector.ended():
        _store_seen(sink, seen, target, held)
        early.setdefault(visit_id, []).append(seen)


def keep_media(sink: Sink, state: CrawlState, media: Any, target: Target,
               early: list[Any] | None = None, held: Held | None = None,
               ) -> tuple[int, int, list[tuple[str, str, str]]]:
    """Store what yt-dlp did on a page, and list it for the manifest; how many of its
    fetches came back, their bytes, and the failures (URL, kind, reason) to record.
    ``early``: its fetches store_ended stored already."""
    early = early or []
    try:
        page = state.response_record(media.page) or state.response_record(target.url)
        where = Target(media.page, target.seed, target.kind, target.depth)
        summary, fetched, failed = record_media(sink, media, where, page, early, held)
        state.add_media(summary)
        for url, ok in fetched:  # what yt-dlp fetched is not fetched again
            state.push(Target(url, target.seed, "requisite", target.depth,
                              target.requisite_depth + 1), state="done" if ok else "failed")
            if ok:
                state.settle(url)
        failures = [(e.url, e.error_kind or "network", e.error or "") for e in failed]
        if media.error:
            failures.append((media.page, "media", f"yt-dlp: {media.error}"))
        size = sum(seen.exchange.response_size for seen in [*early, *media.seen])
        return sum(1 for _, ok in fetched if ok), size, failures
    finally:
        media.close()


def media_hints(result: Any) -> list[str]:
    """The media URLs a browser visit fetched (its scripts may have made them): playlists
    and manifests first, then direct files; not the segments of a playlist."""
    seen = getattr(result, "seen", None) or []
    manifests, files = [], []
    for item in seen:
        exchange = item.exchange
        ctype = exchange.content_type
        path = exchange.url.split("?")[0].lower()
        if ctype in MANIFEST_TYPES or path.endswith((".m3u8", ".mpd")):
            manifests.append(exchange.url)
        elif (ctype.startswith(MEDIA_TYPES) or path.endswith(MEDIA_EXTENSIONS)) \
                and not path.endswith((".ts", ".m4s")):
            files.append(exchange.url)
    ordered = []
    for url in manifests + files:
        if url not in ordered:
            ordered.append(url)
    return ordered


def record_media(sink: Sink, media: Any, target: Target,
                 page: dict[str, Any] | None, early: list[Any] | None = None,
                 held: Held | None = None,
                 ) -> tuple[dict[str, Any], list[tuple[str, bool]], list[Any]]:
    """Write what yt-dlp fetched (but the ``early`` fetches, stored already) and made;
    the manifest's summary of it, the URLs fetched (and whether each came back), and
    the exchanges that got no response (for the caller to record as failures)."""
    for seen in media.seen:
        _store_seen(sink, seen, target, held)
    every = [*(early or []), *media.seen]
    fetched = [(seen.exchange.url, seen.exchange.ok) for seen in every]
    failed = [seen.exchange for seen in every if not seen.exchange.ok]
    tied = refers_to(page) if page is not None else []
    date = warc_date(media.finished or media.started)
    from .. import __version__ as custody_version

    about = [("Custody-Media-Tool", f"yt-dlp {media.tool_version}"),
             ("Custody-Media-Extractor", media.extractor or "")]
    files = []
    for file in media.files:
        extra = [("WARC-Truncated", file.truncated)] if file.truncated else []
        with open(file.path, "rb") as stream:
            entry = sink.store_resource(
                f"urn:media:{target.url}#{file.name}", file.media_type, stream, date=date,
                headers=[*tied, *about, ("Custody-Media-Role", file.role), *extra])
        files.append({"name": file.name, "role": file.role, "media_type": file.media_type,
                      "record_id": entry["record_id"], "bytes": file.path.stat().st_size,
                      "sha256": entry["block_sha256"], "truncated": file.truncated})
    info_record = None
    redactor = getattr(sink, "redactor", None)
    hidden = scrub_info(redactor, media.info) if redactor is not None and media.info else []
    info_json = media.info_json()
    if info_json is not None:
        entry = sink.store_resource(f"urn:media-info:{target.url}", "application/json",
                                    info_json, date=date,
                                    headers=[*tied, *about, ("Custody-Media-Role", "info"),
                                             *(declared(hidden) if hidden else [])],
                                    payload_type=MEDIA_INFO_TYPE)
        info_record = entry["record_id"]
        sink.redacted(entry, hidden)
    info = media.info or {}
    summary = {
        "page": target.url,
        "started_at": warc_date(media.started),
        "finished_at": date,
        "tool": "yt-dlp", "tool_version": media.tool_version, "custody": custody_version,
        "extractor": media.extractor,
        "tried": media.tried,
        "found": media.found,
        "error": media.error,
        "title": info.get("title"),
        "uploader": info.get("uploader") or info.get("channel"),
        "upload_date": _date(info.get("upload_date")),
        "duration": info.get("duration"),
        "webpage_url": info.get("webpage_url"),
        "id": info.get("id"),
        "merged": media.merged,
        "info_record": info_record,
        "files": files,
        "notes": media.notes,
        "page_record": page["record_id"] if page is not None else None,
    }
    return summary, fetched, failed


def _store_seen(sink: Sink, seen: Any, page: Target, held: Held | None) -> None:
    """One of yt-dlp's fetches, stored (not extracted: the page as yt-dlp fetched it is
    kept, not extracted again), and its spool let go. A capture resumed after it was
    killed in a download runs yt-dlp again, which fetches the whole stream again: what
    an earlier run stored already (the same URL, status and payload) is not stored
    twice; a response that differs is new evidence, and stored."""
    exchange = seen.exchange
    try:
        if held is not None and exchange.ok and exchange.response is not None:
            answers = held(exchange.url)
            if answers and (exchange.status, payload_sha256(exchange.response)) in answers:
                return
        sink.store(exchange, Target(exchange.url, page.seed, "requisite", page.depth),
                   extract=False)
    finally:
        exchange.close()


def _date(value: Any) -> str | None:
    """yt-dlp's YYYYMMDD as YYYY-MM-DD."""
    text = str(value or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else None
