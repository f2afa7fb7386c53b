"""--media: yt-dlp on each page, through the recording proxy, on a local video site."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from conftest import DATA, PYWB, Custody, chain_ids
from custody.testing.mediasite import SUBTITLE_WORDS, TITLE, media_site, stream_site
from custody.testing.site import Page, SiteServer
from test_replay import replaying

MEDIA = DATA / "media"
CLIP = (MEDIA / "clip.mp4").read_bytes()
CUSTODY = str(Path(sys.executable).with_name("custody"))
CHROMIUM = os.environ.get("CUSTODY_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def videos() -> Iterator[SiteServer]:
    with SiteServer(media_site(MEDIA)) as server:
        yield server


def records(custody: Custody) -> list[dict[str, Any]]:
    """Every record of the archive's WARC files, with its payload, as warcio reads them."""
    out = []
    for path in sorted((custody.root / "archive").rglob("*.warc.gz")):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                out.append({"type": record.rec_type,
                            "uri": record.rec_headers.get_header("WARC-Target-URI"),
                            "headers": dict(record.rec_headers.headers),
                            "ip": record.rec_headers.get_header("WARC-IP-Address"),
                            "status": int(record.http_headers.get_statuscode())
                            if record.http_headers and record.rec_type == "response" else None,
                            "http": dict(record.http_headers.headers)
                            if record.http_headers else {},
                            "payload": record.content_stream().read()})
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_video_is_stored_as_fetched_and_as_the_file_yt_dlp_made(
        custody: Custody, videos: SiteServer) -> None:
    out = custody.archive(videos.url + "/video", extra=("--media",))
    manifest = custody.manifest(out["capture_id"])
    [media] = manifest["media"]
    assert media["tool"] == "yt-dlp" and media["tool_version"]
    assert media["extractor"] and media["found"] and media["error"] is None
    assert TITLE in media["title"]
    by_role = {f["role"]: f for f in media["files"]}
    video = by_role["media"]
    assert video["sha256"] == sha256(CLIP) and video["bytes"] == len(CLIP)
    assert by_role["subtitles"]["media_type"] == "text/vtt"
    stored = records(custody)
    # the bytes yt-dlp fetched, as the server sent them, with the server's address
    fetched = [r for r in stored if r["type"] == "response" and r["uri"].endswith("/clip.mp4")]
    assert fetched and fetched[0]["payload"] == CLIP and fetched[0]["ip"] == "127.0.0.1"
    # the file yt-dlp made, tied to the page's response, with its digest and the tool
    [resource] = [r for r in stored if r["type"] == "resource"
                  and r["uri"].startswith("urn:media:") and r["uri"].endswith(".mp4")]
    assert resource["payload"] == CLIP
    assert resource["headers"]["WARC-Refers-To-Target-URI"] == videos.url + "/video"
    assert resource["headers"]["Custody-Media-Tool"] == f"yt-dlp {media['tool_version']}"
    listed = {r["record_id"]: r for r in manifest["records"]}
    assert listed[video["record_id"]]["block_sha256"] == sha256(CLIP)
    info = [r for r in stored if r["uri"] == "urn:media-info:" + videos.url + "/video"]
    assert info and b'"extractor_key"' in info[0]["payload"]
    assert not re.search(rb'"(_?filename|filepath|__\w+)"|custody-media-', info[0]["payload"])
    # each fetched once: yt-dlp's fetch of the video is not repeated by the crawl
    assert len(fetched) == 1
    # yt-dlp's requests carry the capture's one agent, as the crawler's do
    agent = manifest["settings"]["user_agent"]
    asked = [r for r in stored if r["type"] == "request"]
    assert any(r["uri"].endswith("/clip.mp4") for r in asked)
    assert {r["http"].get("User-Agent") for r in asked} == {agent}
    code, report = custody.verify()
    assert code == 0, report
    # the capture report lists the video with its hash
    custody.ok("report", out["capture_id"], "-o", str(custody.root.parent / "report.html"))
    shown = (custody.root.parent / "report.html").read_text()
    assert sha256(CLIP) in shown and "yt-dlp" in shown
    # the title and the words of the subtitles are searchable
    found = custody.ok("search", "testimony", "--json").stdout
    assert "urn:media-info" in found or "/video" in found
    assert "/video" in custody.ok("search", "hospital", "--json").stdout
    rows = custody.query("SELECT url, title, source FROM documents WHERE source = 'media'")
    assert any(TITLE in (row["title"] or "") for row in rows)
    assert SUBTITLE_WORDS.split()[1] in custody.ok("search", "soldiers").stdout or rows
    # rebuilt, the database holds the documents the capture made, not one per record that
    # could be extracted (yt-dlp's own fetch of the page, the subtitles as fetched)
    custody.ok("reindex")
    code, report = custody.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]


def test_an_hls_stream_keeps_every_segment_and_the_joined_file(
        custody: Custody, videos: SiteServer) -> None:
    out = custody.archive(videos.url + "/stream", extra=("--media",))
    [media] = custody.manifest(out["capture_id"])["media"]
    segments = sorted((MEDIA / "hls").glob("*.ts"))
    joined = b"".join(p.read_bytes() for p in segments)
    [video] = [f for f in media["files"] if f["role"] == "media"]
    assert video["sha256"] == sha256(joined)
    stored = {r["uri"]: r for r in records(custody) if r["type"] == "response"}
    for segment in segments:
        assert stored[f"{videos.url}/hls/{segment.name}"]["payload"] == segment.read_bytes()
    assert videos.url + "/hls/stream.m3u8" in stored
    assert custody.verify()[0] == 0


def _stored_segments(custody: Custody) -> set[str]:
    """The segment responses a capture under way has written to its WARC file."""
    found: set[str] = set()
    for state in (custody.root / ".custody" / "crawls").glob("*/state.db"):
        try:
            with sqlite3.connect(state) as conn:
                rows = conn.execute("SELECT target_uri FROM records "
                                    "WHERE type = 'response'").fetchall()
        except sqlite3.OperationalError:  # being made
            continue
        found |= {uri for (uri,) in rows if uri.endswith(".ts")}
    return found


def _stream(count: int) -> dict[str, Page]:
    """A page with an HLS stream of ``count`` small segments."""
    return stream_site(count, 16 * 1024)


def _archive_until_stored(custody: Custody, url: str, segments: int) -> subprocess.Popen:
    """`custody archive --media URL` under way, once it has stored ``segments``."""
    env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key))
    proc = subprocess.Popen([CUSTODY, "archive", "--json", "--media", url], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_stored_segments(custody)) < segments:
        assert proc.poll() is None and time.monotonic() < deadline, "no segment stored"
        time.sleep(0.05)
    return proc


def test_a_long_download_is_stored_as_it_goes_and_survives_kill_9(custody: Custody) -> None:
    """The segments yt-dlp has fetched are written to the WARC while it fetches the rest,
    not all at its end: a capture killed outright mid-download keeps them; resumed, it
    runs yt-dlp again, and what it had is not stored a second time."""
    count = 40
    pages = _stream(count)
    with SiteServer(pages, latency=0.15) as site:
        proc = _archive_until_stored(custody, site.url + "/watch", 8)
        try:
            stored = _stored_segments(custody)
            assert f"/hls/seg{count - 1:05d}.ts" not in site.requests  # still at work
        finally:
            proc.kill()
            proc.wait()
        code, report = custody.verify()
        assert code in (0, 6) and report["summary"]["failed"] == 0, report
        result = custody("archive", "--resume", "--json")
        assert result.exit_code == 0, result.output
    responses = [r for r in records(custody) if r["type"] == "response"]
    segments = [r["uri"] for r in responses if r["uri"].endswith(".ts")]
    assert sorted(segments) == sorted(set(segments)) and len(segments) == count
    kept = {r["uri"]: r["payload"] for r in responses}
    for uri in stored:
        assert kept[uri] == pages[uri.removeprefix(site.url)].body
    [manifest] = [custody.manifest(c) for c in chain_ids(custody)]
    [media] = manifest["media"]
    assert media["found"] and media["error"] is None
    assert [f["role"] for f in media["files"]] == ["media"]
    # yt-dlp's own fetch of the page is kept, not extracted: one document of the page, as
    # a capture never killed has, though catching up after the kill went over the records
    pages = [d["url"] for d in manifest["documents"] if d["url"] == site.url + "/watch"]
    assert len(pages) == len([d for d in manifest["documents"]
                              if d.get("metadata", {}).get("source") == "media"]) + 1
    assert custody.verify()[0] == 0


def test_a_resumed_download_keeps_what_answers_otherwise_now(custody: Custody) -> None:
    """What a resumed capture fetches again is left out only when it is the same answer:
    a segment the server now refuses (same body, another status) is new evidence."""
    pages = _stream(30)
    with SiteServer(pages, latency=0.15) as site:
        proc = _archive_until_stored(custody, site.url + "/watch", 8)
        proc.kill()
        proc.wait()
        gone = sorted(u.removeprefix(site.url) for u in _stored_segments(custody))
        for path in gone:
            pages[path] = Page(pages[path].body, "video/mp2t", status=410)
        assert custody("archive", "--resume").exit_code in (0, 5)
    answers = [(r["uri"].removeprefix(site.url), r["status"])
               for r in records(custody) if r["type"] == "response"]
    for path in gone:
        assert (path, 410) in answers and (path, 200) in answers, path
    assert custody.verify()[0] == 0


def test_ctrl_c_while_yt_dlp_reads_the_playlist_fetches_nothing_more(
        custody: Custody) -> None:
    """Stopped before its first segment (the playlist slow to come), yt-dlp is refused
    every request after Ctrl-C: nothing is fetched off the record; the page's media entry
    says the download is incomplete, or, when the page outlives the stop's grace (a busy
    machine), the page is left for --resume."""
    pages = _stream(20)
    playlist = pages["/hls/stream.m3u8"]
    pages["/hls/stream.m3u8"] = Page(playlist.body, playlist.content_type, delay=2.0)
    with SiteServer(pages) as site:
        env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key))
        proc = subprocess.Popen([CUSTODY, "archive", "--json", "--media",
                                 site.url + "/watch"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while "/hls/stream.m3u8" not in site.requests:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert not [r for r in site.requests if r.endswith(".ts")]
    manifest = custody.manifest(json.loads(out)["capture_id"])
    if proc.returncode == 5:  # yt-dlp gave up at once: the page is done, its download not
        [media] = manifest["media"]
        assert media["error"] == "stopped with the capture: the download is incomplete"
    else:  # a busy machine: the page outlived the stop's grace, and is left for --resume
        assert proc.returncode == 130, err
        assert manifest["status"] == "interrupted" and not manifest["media"]
    assert custody.verify()[0] == 0


def test_ctrl_c_in_a_download_ends_it_and_says_it_is_incomplete(custody: Custody) -> None:
    """Ctrl-C stops yt-dlp at its next segment, rather than waiting for the whole stream:
    what it fetched is sealed with the capture, and the manifest says the download is
    incomplete."""
    with SiteServer(_stream(200), latency=0.15) as site:
        proc = _archive_until_stored(custody, site.url + "/watch", 8)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        asked = len(site.requests)
    # the page is done but for its download, which failed: a partial capture (exit 5)
    assert proc.returncode == 5, err
    assert asked < 120, asked  # four segments at once, 0.15 s each: 200 take 7.5 s
    result = json.loads(out)
    assert result["stopped"] == "interrupted"
    assert "cut off when the capture was stopped" in err
    manifest = custody.manifest(result["capture_id"])
    [media] = manifest["media"]
    assert media["error"] == "stopped with the capture: the download is incomplete"
    [video] = media["files"]
    assert video["truncated"] == "unspecified"
    # what yt-dlp knew of the video when it was cut off is kept: its title, its record
    assert media["title"] and media["info_record"], media
    assert [f["kind"] for f in manifest["failures"]] == ["media"]
    listed = {r["target_uri"] for r in manifest["records"] if r["type"] == "response"}
    assert len([u for u in listed if u.endswith(".ts")]) >= 8
    assert custody.verify()[0] == 0


def test_a_stream_piece_yt_dlp_skips_is_said_to_leave_a_gap(custody: Custody) -> None:
    """yt-dlp leaves out a segment it cannot fetch and finishes the file without it; the
    capture says the file has a gap, where before nothing did."""
    pages = _stream(6)
    del pages["/hls/seg00003.ts"]
    with SiteServer(pages) as site:
        out = custody.archive(site.url + "/watch", extra=("--media",))
    [media] = custody.manifest(out["capture_id"])["media"]
    [video] = [f for f in media["files"] if f["role"] == "media"]
    assert video["bytes"] == 5 * 16 * 1024  # five of the six segments
    assert any("skipped 1 piece(s)" in note and "gaps" in note for note in media["notes"]), \
        media["notes"]
    assert custody.verify()[0] == 0


def _yt_dlp_processes(parent: int | None = None) -> list[int]:
    """The pids of yt-dlp's worker processes (custody.media.apart), of ``parent`` only
    when one is given."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"custody.media.apart" in command and parent in (None, ppid):
            found.append(int(entry.name))
    return found


def test_yt_dlp_works_in_a_process_of_its_own_that_ends_with_the_capture(
        custody: Custody) -> None:
    """yt-dlp downloads in a worker process beside the capture (two cores, not one),
    and the worker does not outlive a capture killed outright."""
    with SiteServer(_stream(60), latency=0.15) as site:
        proc = _archive_until_stored(custody, site.url + "/watch", 4)
        try:
            workers = _yt_dlp_processes(proc.pid)
            assert len(workers) == 1, workers
        finally:
            proc.kill()
            proc.wait()
        deadline = time.monotonic() + 5
        while any(Path(f"/proc/{pid}").exists() and
                  "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
                  for pid in workers):
            assert time.monotonic() < deadline, "yt-dlp's worker outlived the capture"
            time.sleep(0.05)


def test_a_yt_dlp_worker_that_dies_leaves_a_sealed_partial_capture(custody: Custody) -> None:
    """The worker killed mid-download: the segments it had fetched are sealed with the
    capture, whose media entry says the download did not end (exit 5, not a crash)."""
    with SiteServer(_stream(60), latency=0.15) as site:
        proc = _archive_until_stored(custody, site.url + "/watch", 6)
        [worker] = _yt_dlp_processes(proc.pid)
        os.kill(worker, signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 5, err
    assert "Traceback" not in err
    manifest = custody.manifest(json.loads(out)["capture_id"])
    [media] = manifest["media"]
    assert media["error"].startswith("yt-dlp's process ended before its download did "
                                     "(killed by signal 9"), media["error"]
    listed = {r["target_uri"] for r in manifest["records"] if r["type"] == "response"}
    assert len([u for u in listed if u.endswith(".ts")]) >= 6
    assert custody.verify()[0] == 0


def test_the_worker_imports_nothing_from_the_folder_custody_runs_in(
        custody: Custody, videos: SiteServer, tmp_path: Path) -> None:
    """A yt_dlp.py (or queue.py, pickle.py) lying in the folder the archivist runs
    custody from is not what the worker imports."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    marker = tmp_path / "ran"
    for name in ("yt_dlp", "queue", "pickle"):
        (folder / f"{name}.py").write_text(
            f"open({str(marker)!r}, 'a').write({name!r})\nraise ImportError('not this')\n")
    env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key))
    done = subprocess.run([CUSTODY, "archive", "--json", "--media", videos.url + "/video"],
                          env=env, cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), marker.read_text()
    [media] = custody.manifest(json.loads(done.stdout)["capture_id"])["media"]
    assert media["found"] and media["error"] is None


def test_a_worker_that_cannot_start_says_why(custody: Custody, videos: SiteServer,
                                            tmp_path: Path) -> None:
    """yt-dlp broken where the worker looks for it: the page is kept, and its media
    failure gives the worker's own last word, not a crash's."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "yt_dlp.py").write_text("raise ImportError('yt-dlp is not installed whole')\n")
    env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key),
               PYTHONPATH=str(broken))
    done = subprocess.run([CUSTODY, "archive", "--json", "--media", videos.url + "/video"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 5, done.stderr
    assert "Traceback" not in done.stderr
    [media] = custody.manifest(json.loads(done.stdout)["capture_id"])["media"]
    assert media["error"] == ("yt-dlp's process ended before its download did (exit code 1: "
                              "ImportError: yt-dlp is not installed whole)"), media["error"]
    assert custody.verify()[0] == 0


def test_ctrl_c_at_the_terminal_reaches_the_worker_only_through_the_capture(
        custody: Custody) -> None:
    """A terminal's Ctrl-C goes to every process of the foreground group: yt-dlp's worker
    ignores it, and the capture stops the download as it stops everything else."""
    env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key))
    with SiteServer(_stream(200), latency=0.15) as site:
        proc = subprocess.Popen([CUSTODY, "archive", "--json", "--media", site.url + "/watch"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        deadline = time.monotonic() + 60
        while len(_stored_segments(custody)) < 6:
            assert proc.poll() is None and time.monotonic() < deadline, "no segment stored"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 5, err
    manifest = custody.manifest(json.loads(out)["capture_id"])
    [media] = manifest["media"]
    assert media["error"] == "stopped with the capture: the download is incomplete"
    assert [f["truncated"] for f in media["files"]] == ["unspecified"]
    assert custody.verify()[0] == 0


def test_pages_without_media_and_with_a_broken_video_are_still_captured(
        custody: Custody, videos: SiteServer) -> None:
    out = custody.archive(videos.url + "/text", videos.url + "/gone", extra=("--media",))
    manifest = custody.manifest(out["capture_id"])
    media = {m["page"]: m for m in manifest["media"]}
    assert media[videos.url + "/text"]["found"] is False
    assert media[videos.url + "/text"]["error"] is None
    gone = media[videos.url + "/gone"]
    assert gone["error"] and not gone["files"]
    # the page is evidence all the same; the reason is a failure of its own kind
    assert any(r["target_uri"] == videos.url + "/gone" and r["type"] == "response"
               for r in manifest["records"])
    assert [f["kind"] for f in manifest["failures"]
            if f["url"] == videos.url + "/gone"] == ["media"]
    assert custody.verify()[0] == 0


def test_a_video_past_the_limit_is_kept_truncated(custody: Custody, videos: SiteServer) -> None:
    limit = 400 * 1024
    out = custody.archive(videos.url + "/large",
                          extra=("--media", "--max-media-bytes", str(limit)))
    manifest = custody.manifest(out["capture_id"])
    [media] = manifest["media"]
    [video] = [f for f in media["files"] if f["role"] == "media"]
    assert video["truncated"] == "length"
    assert 0 < video["bytes"] <= limit + 2 * 1024 * 1024
    assert media["info_record"] and media["extractor"], media  # what yt-dlp knew, kept
    [info] = [r for r in records(custody) if (r["uri"] or "").startswith("urn:media-info:")]
    assert not re.search(rb'"(_?filename|filepath|__\w+)"|custody-media-', info["payload"])
    resource = next(r for r in records(custody) if (r["uri"] or "").startswith("urn:media:")
                    and r["uri"].endswith(".mp4"))
    assert resource["headers"]["WARC-Truncated"] == "length"
    assert resource["payload"].startswith(CLIP[:1024])
    assert any("cut off" in note for note in custody.archive(
        videos.url + "/large", extra=("--media", "--max-media-bytes", str(limit)))["notes"])
    assert custody.verify()[0] == 0


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason=f"no Chromium at {CHROMIUM}: ./scripts/setup --browser installs it")
def test_a_video_that_only_a_script_names_is_found_through_the_browser(
        custody: Custody, videos: SiteServer) -> None:
    out = custody.archive(videos.url + "/scripted", extra=("--media", "--browser"))
    [media] = custody.manifest(out["capture_id"])["media"]
    assert videos.url + "/media/clip.mp4" in media["tried"]
    [video] = [f for f in media["files"] if f["role"] == "media"]
    assert video["sha256"] == sha256(CLIP)
    assert custody.verify()[0] == 0


@pytest.mark.skipif(not (PYWB / "wayback").exists() or not Path(CHROMIUM).exists(),
                    reason="replay needs pywb and Chromium: ./scripts/setup --test")
def test_the_archived_video_plays_in_replay(custody: Custody) -> None:
    with SiteServer(media_site(MEDIA)) as server:
        url = server.url + "/video"
        custody.archive(url, extra=("--media",))
    # the site is gone: what plays comes from the archive
    with replaying(custody, url) as (_, lines):
        address = lines[1].split()[1]
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox"] if os.geteuid() == 0 else [])
            try:
                page = browser.new_page()
                page.goto(address, wait_until="networkidle", timeout=30_000)
                frame = next(f for f in page.frames if "/mp_/" in f.url)
                frame.wait_for_function("document.querySelector('video').readyState >= 1",
                                        timeout=20_000)
                duration = frame.evaluate("document.querySelector('video').duration")
                size = frame.evaluate("[document.querySelector('video').videoWidth,"
                                      " document.querySelector('video').videoHeight]")
            finally:
                browser.close()
    assert abs(duration - 3.0) < 0.5 and size == [96, 64]
