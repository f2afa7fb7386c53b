"""A local video site for the --media tests and benchmark: a page with an MP4 (and its
subtitles), an HLS stream of several segments, a page whose video URL only its script
makes, a page without media, one whose video is gone, and a large video."""

from __future__ import annotations

import os
from pathlib import Path

from .site import Page

TITLE = "Testimony recorded in the square"
SUBTITLE_WORDS = "the soldiers arrived before dawn"
VTT = f"""WEBVTT

1
00:00:00.000 --> 00:00:01.500
<v Witness>{SUBTITLE_WORDS}</v>

2
00:00:01.500 --> 00:00:03.000
and closed the road to the hospital
""".encode()


def _html(title: str, body: str) -> bytes:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
            f"</head><body><h1>{title}</h1>{body}</body></html>").encode()


def media_site(media: Path, *, big_bytes: int = 3 * 1024 * 1024) -> dict[str, Page]:
    """The site's pages; ``media`` is tests/data/media (clip.mp4, hls/)."""
    clip = (media / "clip.mp4").read_bytes()
    pages = {
        "/video": Page(_html(TITLE, '<video controls src="/clip.mp4"><track kind="subtitles" '
                                    'srclang="en" label="English" src="/clip.en.vtt">'
                                    "</video><p>Filmed by a witness.</p>"), "text/html"),
        "/clip.mp4": Page(clip, "video/mp4"),
        "/clip.en.vtt": Page(VTT, "text/vtt"),
        "/stream": Page(_html("Live stream from the checkpoint",
                              '<video controls><source src="/hls/stream.m3u8" '
                              'type="application/x-mpegURL"></video>'), "text/html"),
        "/hls/stream.m3u8": Page((media / "hls" / "stream.m3u8").read_bytes(),
                                 "application/vnd.apple.mpegurl"),
        "/scripted": Page(_html("A player built by script", """<div id=player></div>
<script>
  const v = document.createElement('video');
  v.muted = true; v.autoplay = true; v.preload = 'auto';
  v.src = ['', 'media', 'cl' + 'ip', 'mp4'].join('/').replace('/mp4', '.mp4');
  document.getElementById('player').appendChild(v);
</script>"""), "text/html"),
        "/media/clip.mp4": Page(clip, "video/mp4"),
        "/text": Page(_html("A statement", "<p>No video here, only words.</p>"), "text/html"),
        "/gone": Page(_html("The video was taken down", '<video src="/removed.mp4"></video>'),
                      "text/html"),
        "/large": Page(_html("A long recording", '<video src="/large.mp4"></video>'),
                       "text/html"),
        "/large.mp4": Page(clip + os.urandom(max(0, big_bytes - len(clip))), "video/mp4"),
    }
    for segment in sorted((media / "hls").glob("*.ts")):
        pages[f"/hls/{segment.name}"] = Page(segment.read_bytes(), "video/mp2t")
    return pages


def stream_site(count: int, segment_bytes: int) -> dict[str, Page]:
    """A page (/watch) whose <video> plays an HLS playlist (/hls/stream.m3u8) of ``count``
    segments of ``segment_bytes`` incompressible bytes each: what yt-dlp's HLS downloader
    fetches and joins is the same work whatever the segments encode."""
    playlist = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2",
                "#EXT-X-MEDIA-SEQUENCE:0"]
    pages = {"/watch": Page(b"<!doctype html><title>A long stream</title><video controls>"
                            b'<source src="/hls/stream.m3u8" type="application/x-mpegURL">'
                            b"</video>", "text/html")}
    for number in range(count):
        playlist += ["#EXTINF:2.000,", f"seg{number:05d}.ts"]
        pages[f"/hls/seg{number:05d}.ts"] = Page(os.urandom(segment_bytes), "video/mp2t")
    playlist.append("#EXT-X-ENDLIST")
    pages["/hls/stream.m3u8"] = Page(("\n".join(playlist) + "\n").encode(),
                                     "application/vnd.apple.mpegurl")
    return pages

