"""custody report of a change a watch found: both captures (each verified now, with its
manifest's SHA-256), the diff, the page's two screenshots side by side, the custody log
event that recorded it; logged as a report; a capture that fails makes it exit 1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import Custody
from custody.testing.changing import ChangingSite
from test_watch import changes, log_events, next_interval, run_once

# what these tests do not look at: a watch's runs without page behaviours or replay check
PLAIN = ("--behaviors", "none", "--no-replay-check")


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"),
                    reason="Debian's chromium is not installed (./scripts/setup installs it)")
def test_a_change_is_reported_for_a_court(custody: Custody, tmp_path: Path) -> None:
    with ChangingSite() as site:
        url = site.url + "/scripted"
        custody.ok("watch", "add", url, "--every", "1s", "--browser")
        assert [o["status"] for o in run_once(custody, *PLAIN)] == ["baseline"]
        site.phase = "edited"
        next_interval()
        assert [o["kinds"] for o in run_once(custody, *PLAIN)] == [["text"]]
    (change,) = changes(custody)
    seq = change["seq"]
    out = tmp_path / "change.html"
    said = custody.ok("report", "--change", str(seq), "-o", str(out)).stdout
    assert f"change {seq}" in said
    html = out.read_text(encoding="utf-8")
    before, after = change["before_capture"], change["after_capture"]
    for needed in (before, after, change["before_manifest_sha256"],
                   change["after_manifest_sha256"], f"custody log event {seq}",
                   change["diff_sha256"], f"custody verify {before} {after}"):
        assert needed in html, needed
    assert html.count('class="verdict-passed"') == 2  # each capture verified now
    assert '<span class="removed">' in html and '<span class="added">' in html
    assert "crossing would stay open for three days" in html
    # the page as the browser showed it in each capture, side by side
    assert html.count("data:image/png;base64,") == 3 and 'class="sides"' in html
    assert "Where the screenshots differ" in html  # outlined on the later one
    (reported,) = log_events(custody.root, "reported")
    assert reported["details"]["change_seq"] == seq
    assert reported["details"]["capture_ids"] == [before, after]

    # a capture that fails now, its screenshot's record unreadable (a byte of its gzip
    # member changed): the report is written, says so, and the command exits 1
    (shot,) = [r for r in custody.manifest(after)["records"]
               if str(r.get("target_uri")).startswith("urn:screenshot:")]
    warc = custody.root / shot["warc_path"]
    data = bytearray(warc.read_bytes())
    data[shot["offset"] + 12] ^= 0xFF
    warc.chmod(0o644)
    warc.write_bytes(bytes(data))
    failed = custody("report", "--change", str(seq), "-o", str(tmp_path / "again.html"))
    assert failed.exit_code == 1 and after in failed.stderr
    again = (tmp_path / "again.html").read_text(encoding="utf-8")
    assert 'class="verdict-failed"' in again and "not shown" in again
    assert again.count("data:image/png;base64,") == 1  # only the capture that holds


def test_what_cannot_be_reported(custody: Custody, tmp_path: Path) -> None:
    out = str(tmp_path / "r.html")
    custody.ok("watch", "list")  # the watches' tables exist
    unknown = custody("report", "--change", "99", "-o", out)
    assert unknown.exit_code == 8 and "no such change" in unknown.stderr
    both = custody("report", "20261121T101500Z-1a2b3c4d", "--change", "1", "-o", out)
    assert both.exit_code == 2 and both.stderr.count("\n") == 1
    neither = custody("report", "-o", out)
    assert neither.exit_code == 2 and not Path(out).exists()
    assert json.loads(custody.ok("watch", "changes", "--json").stdout)["changes"] == []


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"),
                    reason="Debian's chromium is not installed (./scripts/setup installs it)")
def test_a_repainted_page_is_a_screenshot_change_with_its_regions(custody: Custody,
                                                                  tmp_path: Path) -> None:
    """The same words, a large panel repainted: a browser watch (asking for 20% rather
    than the default 10%) finds a ``screenshot`` change (the share of pixels and the
    regions in its diff), while a small square, a large ad and a large ticker the watch
    ignores, all repainted on every run, raise nothing; its report outlines where the
    screenshots differ."""
    with ChangingSite() as site:
        custody.ok("watch", "add", site.url + "/painted", "--every", "1s", "--browser",
                   "--ignore", "#ticker", "--screenshot-threshold", "20%")
        assert [o["status"] for o in run_once(custody, *PLAIN)] == ["baseline"]
        next_interval()
        assert [o["status"] for o in run_once(custody, *PLAIN)] == ["same"]  # the square changed
        site.phase = "repainted"
        next_interval()
        assert [o["kinds"] for o in run_once(custody, *PLAIN)] == [["screenshot"]]
    (change,) = changes(custody)
    assert change["counts"]["screenshot_permille"] >= 100
    assert "of its pixels differ" in change["diff"]
    assert "(a change from 20.0%)" in change["diff"]  # the watch's own threshold
    # the panel alone: not the band custody draws on its screenshots (time, capture id)
    assert "; 1 region: 0," in change["diff"], change["diff"]
    out = tmp_path / "change.html"
    custody.ok("report", "--change", str(change["seq"]), "-o", str(out))
    html = out.read_text(encoding="utf-8")
    assert "Where the screenshots differ" in html
    assert html.count("data:image/png;base64,") == 3
