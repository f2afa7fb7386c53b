"""yt-dlp, as a library, on one page: every request it makes goes through the recording
proxy, so the page, the playlists and each segment reach the WARC as the wire bytes the
capture's own fetcher received (with the server's address and TLS chain); what yt-dlp
made of them -- the media files and its info JSON -- is handed back to be stored beside.

yt-dlp is told to change nothing it fetched (no fixups, the separate streams kept when it
merges them), to use its own downloaders (an external one would reach the network
outside the proxy), to write only into the folder it is given, and to stop a file at
``max_bytes`` or when ``time_limit`` has passed; what it had by then is kept, as truncated.

The hop between yt-dlp and the proxy is on loopback inside custody, and TLS on it is
ended with the capture's own certificate, which yt-dlp is not asked to check
(``nocheckcertificate``); the server's certificate is checked, and kept, by the fetcher
upstream of the proxy, with the capture's trust settings.
"""

from __future__ import annotations

import json
import mimetypes
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_ENTRIES = 50  # videos taken from one playlist page, at most
MAX_NOTES = 20  # of what yt-dlp warned, per page
# segments of an HLS or DASH stream fetched at once: a stream is bound by latency, and
# the crawler itself asks a host for up to 8 at a time
FRAGMENTS_AT_ONCE = 4
SUBTITLE_EXTS = frozenset({"vtt", "srt", "ass", "ssa", "ttml", "srv1", "srv2", "srv3",
                           "json3", "lrc"})
NOTHING_FOUND = ("Unsupported URL", "No video formats found", "no suitable InfoExtractor")
# with ffmpeg, yt-dlp merges the best video and audio (keeping both as fetched); without
# it, the best single file, or the best video and the best audio, each stored as it came
WITH_FFMPEG = "bv*+ba/b"
WITHOUT_FFMPEG = "b/bv,ba"


@dataclass
class MediaFile:
    path: Path
    name: str  # as yt-dlp named it (less ".part" for a file it did not finish)
    role: str  # media, subtitles
    media_type: str
    truncated: str | None = None  # length, time, disconnect: cut off, kept as it was


@dataclass
class MediaResult:
    """What yt-dlp did on one page."""

    page: str
    visit_id: str = ""
    seen: list[Any] = field(default_factory=list)  # the proxy's exchanges (proxy.Seen)
    refused: list[str] = field(default_factory=list)
    files: list[MediaFile] = field(default_factory=list)
    info: dict[str, Any] | None = None  # yt-dlp's info dict, sanitised as its JSON is
    error: str | None = None  # why it failed; None when it worked or found nothing
    found: bool = False  # whether yt-dlp found media on the page
    notes: list[str] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None
    folder: Path | None = None
    merged: bool = True  # whether ffmpeg was there to merge formats
    tried: list[str] = field(default_factory=list)  # the URLs yt-dlp was given
    tool_version: str = ""

    @property
    def extractor(self) -> str | None:
        info = self.info or {}
        return info.get("extractor_key") or info.get("extractor")

    def info_json(self) -> bytes | None:
        if self.info is None:
            return None
        return json.dumps(self.info, ensure_ascii=False, indent=1,
                          default=str).encode("utf-8")

    def close(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class _Stop(Exception):
    """Raised from yt-dlp's progress hook: a limit was reached."""

    def __init__(self, reason: str) -> None:
        super().__init__("custody stopped the download: " + (
            "the capture was stopped" if reason == "stop" else f"media {reason} limit reached"))
        self.reason = reason


class _Log:
    """yt-dlp's logger: its warnings and errors kept as notes, nothing printed."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.errors: list[str] = []
        self.skipped = 0  # pieces of a stream it gave up on, and left out of the file

    def debug(self, message: str) -> None:
        if "Skipping fragment" in message:  # (said as yt-dlp's screen output, not a warning)
            self.skipped += 1

    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        if len(self.warnings) < MAX_NOTES:
            self.warnings.append(_clean(message))

    def error(self, message: str) -> None:
        if len(self.errors) < MAX_NOTES:
            self.errors.append(_clean(message))


def _clean(message: str) -> str:
    text = message.strip().splitlines()[0] if message.strip() else ""
    for prefix in ("ERROR: ", "WARNING: "):
        text = text.removeprefix(prefix)
    return text


def ffmpeg_present() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def yt_dlp_version() -> str:
    from yt_dlp.version import __version__

    return __version__


def download(url: str, *, proxy_url: str, folder: Path, max_bytes: int | None,
             time_limit: float | None, timeout: float, cookiefile: Path | None,
             user_agent: str | None = None, stop: threading.Event | None = None,
             ) -> MediaResult:
    """Run yt-dlp on ``url`` through the proxy at ``proxy_url`` (its credentials name the
    visit); never raises for the page: a failure is the result's error. Once ``stop`` is
    set (the capture is stopped), the download ends at its next piece, what it had kept
    and said to be incomplete."""
    import yt_dlp

    result = MediaResult(page=url, folder=folder, tried=[url], tool_version=yt_dlp_version())
    result.merged = ffmpeg_present()
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    stopped: dict[str, str] = {}
    known: list[dict[str, Any]] = []  # what yt-dlp knew of the video, as its download began

    finished: set[str] = set()  # the files whose download ended before the capture's stop

    def hook(progress: dict[str, Any]) -> None:
        if progress.get("status") == "finished" and not (stop is not None and stop.is_set()):
            finished.add(Path(str(progress.get("filename") or "")).name)
        if progress.get("status") != "downloading":
            return
        if not known and isinstance(progress.get("info_dict"), dict):
            known.append(progress["info_dict"])
        name = str(progress.get("tmpfilename") or progress.get("filename") or "")
        if stop is not None and stop.is_set():
            stopped[name] = "unspecified"  # (WARC-Truncated: the capture was stopped)
            raise _Stop("stop")
        if max_bytes is not None and (progress.get("downloaded_bytes") or 0) > max_bytes:
            stopped[name] = "length"
            raise _Stop("length")
        if time_limit is not None and time.monotonic() - started > time_limit:
            stopped[name] = "time"
            raise _Stop("time")

    def made(step: dict[str, Any]) -> None:  # a file ffmpeg made of finished downloads
        info = step.get("info_dict") if step.get("status") == "finished" and \
            step.get("postprocessor") == "Merger" else None
        if isinstance(info, dict) and info.get("filepath"):
            finished.add(Path(str(info["filepath"])).name)

    log = _Log()
    options: dict[str, Any] = {
        "proxy": proxy_url, "nocheckcertificate": True, "logger": log, "quiet": True,
        "no_warnings": False, "noprogress": True, "progress_hooks": [hook],
        "postprocessor_hooks": [made],
        "paths": {"home": str(folder), "temp": str(folder)},
        "outtmpl": {"default": "%(id).80B-%(format_id).40B.%(ext)s"},
        "restrictfilenames": True, "windowsfilenames": True, "cachedir": False,
        "fixup": "never", "keepvideo": True, "hls_prefer_native": True,
        "external_downloader": {"default": "native"},
        "format": WITH_FFMPEG if result.merged else WITHOUT_FFMPEG,
        "writesubtitles": True, "subtitleslangs": ["all", "-live_chat"],
        "playlistend": MAX_ENTRIES, "ignoreerrors": True, "socket_timeout": timeout,
        "retries": 2, "fragment_retries": 2, "extractor_retries": 1,
        "overwrites": True, "continuedl": False, "color": "no_color",
        "consoletitle": False, "check_formats": False,
        "concurrent_fragment_downloads": FRAGMENTS_AT_ONCE,
    }
    if user_agent:
        options["http_headers"] = {"User-Agent": user_agent}
    if cookiefile is not None:
        # yt-dlp writes its cookie jar back when it closes: it gets a copy to write to
        copy = folder.parent / f"{folder.name}.cookies.txt"
        shutil.copyfile(cookiefile, copy)
        options["cookiefile"] = str(copy)
    info = None
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=True)
            if info is not None:
                result.info = _without_paths(ydl.sanitize_info(info))
    except _Stop:
        pass
    except Exception as exc:  # yt-dlp's own failure on this page: recorded, never raised
        result.error = _clean(str(exc)) or exc.__class__.__name__
    finally:
        if cookiefile is not None:
            (folder.parent / f"{folder.name}.cookies.txt").unlink(missing_ok=True)
    if result.info is None and known:  # a download cut off (a limit, a stop, a failure)
        result.info = _without_paths(yt_dlp.YoutubeDL.sanitize_info(known[0]))  # its title...
    result.files = media_files(folder, stopped)
    if stop is not None and stop.is_set():
        # once the capture is stopped, the proxy refuses the download's requests: a file
        # whose download had not ended by then was cut off by the stop, whether yt-dlp
        # left its part or skipped the refused pieces and finished it with gaps
        for file in result.files:
            if file.truncated in (None, "disconnect") and file.name not in finished:
                file.truncated = "unspecified"
    result.found = result.info is not None or bool(result.files)
    errors = [e for e in log.errors if "custody stopped the download" not in e]
    if result.error is None and errors and not result.files:
        nothing = all(any(mark in e for mark in NOTHING_FOUND) for e in errors)
        result.error = None if nothing else errors[0]
    result.notes = log.warnings + [e for e in errors if e != result.error]
    if log.skipped:
        result.notes.append(f"yt-dlp skipped {log.skipped} piece(s) of the stream that it "
                            "could not fetch: the file has gaps where they were")
    if stop is not None and stop.is_set():
        if result.error is not None:  # (what yt-dlp said of the refused requests)
            result.notes.append(f"yt-dlp: {result.error}")
        result.error = "stopped with the capture: the download is incomplete"
    for file in result.files:
        if file.truncated == "unspecified":
            result.notes.append(f"{file.name}: cut off when the capture was stopped, kept "
                                "as it was")
        elif file.truncated == "disconnect":
            result.notes.append(f"{file.name}: cut off when its download failed, kept as it "
                                "was")
        elif file.truncated:
            result.notes.append(f"{file.name}: cut off at the media {file.truncated} limit, "
                                "kept as it was")
    result.finished = datetime.now(UTC)
    return result


_LOCAL = {"filepath", "filename", "_filename", "infojson_filename"}  # where yt-dlp wrote


def _without_paths(value: Any) -> Any:
    """yt-dlp's info without where on this machine it wrote (a scratch folder named by
    the process, perhaps under the archivist's home): those keys, and its own ``__``
    bookkeeping, at any depth. The files themselves are named in the manifest."""
    if isinstance(value, dict):
        return {k: _without_paths(v) for k, v in value.items()
                if not (k in _LOCAL or str(k).startswith("__"))}
    if isinstance(value, list):
        return [_without_paths(v) for v in value]
    return value


def media_files(folder: Path, stopped: dict[str, str], cut: str = "disconnect"
                ) -> list[MediaFile]:
    """What yt-dlp wrote: its finished files and, for a download stopped at a limit or cut
    by a failure, the part it had (truncated: why, from ``stopped`` by its name, else
    ``cut``); not its own bookkeeping files."""
    files = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        name = path.name
        if name.endswith((".ytdl", ".temp")) or "-Frag" in name:
            continue
        truncated = None
        if name.endswith(".part"):
            truncated = next((why for tmp, why in stopped.items() if Path(tmp).name == name),
                             cut)
            shown = name.removesuffix(".part")
        else:
            shown = name
        ext = shown.rpartition(".")[2].lower()
        role = "subtitles" if ext in SUBTITLE_EXTS and _is_subtitle(shown) else "media"
        media_type = (mimetypes.guess_type(shown)[0] or "application/octet-stream")
        if ext == "vtt":
            media_type = "text/vtt"
        files.append(MediaFile(path, shown, role, media_type, truncated))
    return files


def _is_subtitle(name: str) -> bool:
    """yt-dlp names subtitles NAME.LANG.EXT."""
    return name.count(".") >= 2
