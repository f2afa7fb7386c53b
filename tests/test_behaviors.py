"""Page behaviours (browsertrix-behaviors, as ./scripts/setup fetches it) in custody's
browser capture, on loopback pages that imitate what social media do: a feed that grows
as it is scrolled and ends in a "Show more" button, images with srcset candidates, a
video that loads nothing until it plays, and a feed that never ends. Every request the
behaviours cause is in the WARC; what they did is in the manifest's visit."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from conftest import Custody, needs_chromium
from custody.browser import behaviors
from custody.capture.validation import check_settings
from custody.core.errors import UsageError
from custody.testing.site import PNG, Page, SiteServer

pytestmark = needs_chromium

FEED = """<!doctype html><html><head><title>A feed</title></head><body>
<div id="feed"><p style="height:1200px">post 0</p></div>
<button id="more" style="display:none">Show more</button>
<img src="/small.png" srcset="/small.png 1x, /large.png 2x" alt="">
<video preload="none" src="/clip.webm" width="160" height="90"></video>
<script>
const feed = document.getElementById('feed'), more = document.getElementById('more');
let batch = 0, busy = false;
function add(text) { const p = document.createElement('p'); p.style.height = '900px';
                     p.textContent = text; feed.appendChild(p); }
window.addEventListener('scroll', () => {
  if (busy || innerHeight + scrollY < document.body.scrollHeight - 50) return;
  if (batch >= 2) { more.style.display = 'block'; return; }
  busy = true; batch++;
  fetch('/batch' + batch + '.json').then(r => r.json()).then(d => { add(d.text); busy = false; });
});
more.addEventListener('click', () => {
  fetch('/more.json').then(r => r.json()).then(d => { add(d.text); more.remove(); });
});
</script></body></html>"""

ENDLESS = """<!doctype html><html><head><title>Endless</title></head><body>
<div id="feed"><p style="height:1500px">post 0</p></div>
<script>
// a post is added at once for every scroll near the end, and its text fetched: the
// behaviours' autoscroll gives up on a page that has not grown 500 ms after its first
// scroll, which a fetch answered late on a loaded machine would make it do
let n = 0;
window.addEventListener('scroll', () => {
  if (innerHeight + scrollY < document.body.scrollHeight - 3000) return;
  n++;
  const p = document.createElement('p'); p.style.height = '1500px';
  p.textContent = 'post ' + n; document.getElementById('feed').appendChild(p);
  fetch('/next.json?n=' + n).then(r => r.json()).then(d => { p.textContent = d.text; });
});
</script></body></html>"""


# a short page that does not grow as it is scrolled, under a "Load more" button that
# fetches three batches; a thread whose replies are behind a button and a <details>;
# and a link that says "Show more" but leads to another page, and a form's button
BUTTONS = """<!doctype html><html><head><title>Statements</title></head><body>
<h1>Statements</h1><div id="list"><p>The first statement.</p></div>
<button id="more" type="button">Load more</button>
<div class="thread"><p>A post about the arrests.</p>
  <button class="replies">نمایش پاسخ‌ها</button><div id="replies"></div>
  <details><summary>3 earlier replies</summary><p>A reply kept folded.</p></details></div>
<a href="/elsewhere.html">Show more elsewhere</a>
<form action="/post" method="post"><button>Show all comments</button></form>
<script>
let batch = 0;
document.getElementById('more').addEventListener('click', () => {
  fetch('/batch' + batch + '.json').then(r => r.json()).then(d => {
    const p = document.createElement('p'); p.textContent = d.text;
    document.getElementById('list').appendChild(p);
    if (++batch === 3) document.getElementById('more').remove();
  });
});
document.querySelector('.replies').addEventListener('click', (e) => {
  fetch('/replies.json').then(r => r.json()).then(d => {
    const p = document.createElement('p'); p.textContent = d.text;
    document.getElementById('replies').appendChild(p); e.target.remove(); });
});
</script></body></html>"""


# controls whose words ask for more, that would change the site or leave the page; one
# whose words name an act; and one whose click never comes back
HARM = """<!doctype html><html><head><title>Harm</title></head><body><p>the page</p>
<form action="/submitted" method="post"><input name="x" value="1">
  <button type="button" onclick="this.form.submit()">Show more</button></form>
<div role="button" onclick="fetch('/api/delete', {method: 'POST'})">Show all comments</div>
<button onclick="location.href = '/elsewhere.html'">Load more replies</button>
<button onclick="fetch('/api/charge')">Expand my plan to Premium ($99)</button>
<button onclick="navigator.sendBeacon('/api/beacon', 'x')">See more</button>
</body></html>"""
HANG = """<!doctype html><html><head><title>Hang</title></head><body><p>Hang on.</p>
<button onclick="const t = Date.now(); while (Date.now() - t < 120000) {}">Show more</button>
</body></html>"""


def _json(text: str) -> Page:
    return Page(json.dumps({"text": text}).encode(), "application/json")


def site() -> dict[str, Page]:
    return {"/feed.html": Page(FEED.encode(), "text/html; charset=utf-8"),
            "/batch1.json": _json("first batch"), "/batch2.json": _json("second batch"),
            "/more.json": _json("shown after Show more"),
            "/small.png": Page(PNG, "image/png"), "/large.png": Page(PNG, "image/png"),
            "/clip.webm": Page(b"\x1aE\xdf\xa3" + bytes(64), "video/webm"),
            "/endless.html": Page(ENDLESS.encode(), "text/html; charset=utf-8"),
            "/next.json": _json("more of the endless feed"),
            "/buttons.html": Page(BUTTONS.encode(), "text/html; charset=utf-8"),
            "/batch0.json": _json("loaded batch zero"),
            "/replies.json": _json("A witness replied that she saw the arrests at the bridge."),
            "/elsewhere.html": Page(b"<p>another page</p>", "text/html"),
            "/post": _json("posted"),
            "/harm.html": Page(HARM.encode(), "text/html; charset=utf-8"),
            "/hang.html": Page(HANG.encode(), "text/html; charset=utf-8")}


def recorded(runner: Custody, capture_id: str) -> set[str]:
    """The URLs of the capture's response records."""
    found = set()
    for entry in runner.manifest(capture_id)["warc_files"]:
        with open(runner.root / entry["path"], "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "response":
                    found.add(record.rec_headers.get_header("WARC-Target-URI"))
    return found


def visit_of(runner: Custody, capture_id: str) -> dict[str, Any]:
    visits = runner.manifest(capture_id)["visits"]
    assert len(visits) == 1, visits
    return dict(visits[0])


def test_load_more_and_folded_replies_are_opened_and_replay_as_recorded(
        custody: Custody) -> None:
    """custody's expand, after the behaviours: the buttons that ask for more are clicked
    until they are gone, the folded parts opened; a link to another page and a form's
    button are not; the replay check does the same and finds the page as recorded."""
    with SiteServer(site()) as server:
        done = custody.archive(server.url + "/buttons.html",
                               extra=("--browser", "--no-requisites", "--page-timeout", "15",
                                      "--behavior-timeout", "6"))
    got = recorded(custody, done["capture_id"])
    assert {server.url + p for p in ("/batch0.json", "/batch1.json", "/batch2.json",
                                     "/replies.json")} <= got, got
    assert not {server.url + "/elsewhere.html", server.url + "/post"} & got
    visit = visit_of(custody, done["capture_id"])
    said = [m for m in visit["behaviors"]["messages"] if m.startswith("expand: ")]
    assert said.count('expand: clicked "Load more"') == 3, said
    assert 'expand: opened "3 earlier replies"' in said
    (text,) = [r["text"] for r in custody.query(
        "SELECT text FROM documents WHERE source = 'rendered'")]
    for shown in ("loaded batch zero", "second batch", "saw the arrests at the bridge",
                  "A reply kept folded."):
        assert shown in text, text
    assert visit["replay"]["text"] == 1.0 and visit["replay"]["pixels"] >= 0.99, visit
    assert custody.verify()[0] == 0


def test_expand_changes_nothing_on_the_site_and_ends_in_its_time(custody: Custody) -> None:
    """While expand clicks, the page may send nothing but GET, HEAD and OPTIONS and may
    not leave; a control that names an act is not clicked; a click that never comes back
    ends expand within --behavior-timeout, and the page is still recorded."""
    with SiteServer(site()) as server:
        started = time.monotonic()
        done = custody.archive(server.url + "/harm.html", server.url + "/hang.html",
                               extra=("--browser", "--no-requisites", "--page-timeout", "20",
                                      "--behavior-timeout", "4", "--no-replay-check"))
        took = time.monotonic() - started
    assert took < 60, took
    asked = {r["url"].removeprefix(server.url) for r in custody.query("SELECT url FROM resources")}
    assert not asked & {"/submitted", "/api/delete", "/elsewhere.html", "/api/charge",
                        "/api/beacon"}, asked
    visits = {v["url"].removeprefix(server.url): v
              for v in custody.manifest(done["capture_id"])["visits"]}
    harm = visits["/harm.html"]
    said = harm["behaviors"]["messages"]
    assert harm["final_url"] == server.url + "/harm.html"
    for refused in ("refused a form", "refused POST", "refused leaving for",
                    "refused a beacon"):
        assert any(refused in line for line in said), said
    assert not any("Premium" in line for line in said)
    hang = visits["/hang.html"]
    assert any("did not come back" in note for note in hang["notes"]), hang["notes"]
    assert hang["records"].get("screenshot") and hang["records"].get("dom")
    assert custody.verify()[0] == 0


def test_behaviours_show_more_fetch_srcsets_and_play_video(custody: Custody) -> None:
    with SiteServer(site()) as server:
        url = server.url + "/feed.html"
        # the browser's own requests only: custody's crawler would fetch every srcset
        # candidate and the video from the HTML itself
        done = custody.archive(url, extra=("--browser", "--no-requisites", "--page-timeout",
                                           "15", "--behavior-timeout", "8",
                                           "--no-replay-check"))
        plain = custody.archive(url, extra=("--browser", "--no-requisites", "--page-timeout",
                                            "15", "--behaviors", "none", "--no-replay-check"))
    caused = {server.url + p for p in ("/more.json", "/large.png", "/clip.webm")}
    with_them = recorded(custody, done["capture_id"])
    assert caused <= with_them, with_them
    assert {server.url + "/batch1.json", server.url + "/batch2.json"} <= with_them
    assert not caused & recorded(custody, plain["capture_id"])
    behaved = visit_of(custody, done["capture_id"])["behaviors"]
    assert behaved["script"] == f"browsertrix-behaviors {behaviors.VERSION}"
    assert behaved["ran"] == ["autoscroll", "autoplay", "autofetch", "site", "expand"]
    assert any("Show More" in m for m in behaved["messages"]), behaved["messages"]
    assert "behaviors" not in visit_of(custody, plain["capture_id"])
    # what "Show more" brought is in the page as it was recorded
    rows = custody.query("SELECT text FROM documents WHERE source = 'rendered'")
    assert any("shown after Show more" in row["text"] for row in rows)
    assert custody.verify()[0] == 0


def test_an_endless_feed_ends_at_the_behaviour_timeout(custody: Custody) -> None:
    with SiteServer(site()) as server:
        started = time.monotonic()
        done = custody.archive(server.url + "/endless.html",
                               extra=("--browser", "--page-timeout", "10",
                                      "--behaviors", "autoscroll", "--behavior-timeout", "4",
                                      "--no-replay-check"))
        seconds = time.monotonic() - started
    visit = visit_of(custody, done["capture_id"])
    assert visit["behaviors"]["ran"] == ["autoscroll"]
    assert visit["behaviors"]["finished"] is False
    assert 3.5 <= visit["behaviors"]["seconds"] < 20, visit["behaviors"]
    assert any("--behavior-timeout (4 s)" in n for n in visit["notes"]), visit["notes"]
    assert seconds < 10 + 4 + 30 + 30, seconds  # page, behaviours, recording, start and seal
    grown = [u for u in recorded(custody, done["capture_id"]) if "/next.json" in u]
    assert len(grown) >= 2, grown


def test_behaviour_settings_are_checked(custody: Custody, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    result = custody("archive", "--browser", "--behaviors", "autoscroll,dance",
                     "http://127.0.0.1:9/")
    assert result.exit_code == 2 and "'dance'" in result.output, result.output
    result = custody("archive", "--browser", "--behavior-timeout", "0", "http://127.0.0.1:9/")
    assert result.exit_code == 2, result.output
    for empty in ("", ","):  # nothing named is no choice: none is said as none
        result = custody("archive", "--browser", "--behaviors", empty, "http://127.0.0.1:9/")
        assert result.exit_code == 2 and "--behaviors" in result.output, result.output
    good = check_settings_json()
    for bad in ("autoscroll", ["autoscroll", 3], ["dance"]):
        with pytest.raises(UsageError, match="behaviors"):
            check_settings({**good, "behaviors": bad})
    assert check_settings({**good, "behaviors": ["site", "autoscroll"]}).behaviors == \
        ["autoscroll", "site"]
    # not installed: the capture says how to install it, or to capture without them
    monkeypatch.setenv("CUSTODY_BEHAVIORS", str(tmp_path / "absent.js"))
    behaviors.script.cache_clear()
    try:
        with SiteServer(site()) as server:
            result = custody("archive", "--browser", server.url + "/feed.html")
            assert result.exit_code == 2, result.output
            assert "./scripts/setup --browser" in result.output
            assert "Traceback" not in result.output
            custody.archive(server.url + "/feed.html",
                            extra=("--browser", "--behaviors", "none"))
    finally:
        behaviors.script.cache_clear()


def check_settings_json() -> dict[str, Any]:
    from custody.capture.settings import Settings

    return Settings().to_json()


def test_ctrl_c_keeps_what_the_behaviours_did(custody: Custody) -> None:
    """Interrupted while its behaviours scroll an endless feed, the page is recorded as
    it is and sealed; its visit says how long they ran and what they said, and that it
    was not replay-checked."""
    import signal
    import subprocess
    import sys

    server = SiteServer(site())
    with server:
        env = {**os.environ, "CUSTODY_ROOT": str(custody.root), "CUSTODY_KEY": str(custody.key)}
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("custody")), "archive", "--browser",
             "--behaviors", "autoscroll", "--behavior-timeout", "600",
             server.url + "/endless.html"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while sum("/next.json" in p for p in server.requests) < 3 and \
                    time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, err  # the page cut short: --resume loads it again
    (path,) = (custody.root / "manifests").glob("*.json")
    visit = json.loads(path.read_text())["visits"][0]
    behaved = visit["behaviors"]
    assert behaved["seconds"] > 0.2 and behaved["error"] == "stopped: the capture was interrupted"
    assert behaved["messages"], behaved
    assert visit["replay"] == {"error": "the capture was interrupted"}
    assert "not replay-checked: the capture was interrupted" in visit["notes"]
    assert custody.verify()[0] == 0
