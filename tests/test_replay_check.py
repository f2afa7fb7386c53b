"""Every browser capture is replayed from its own WARC files before it is sealed, in pywb
and the capture's Chromium, and compared with what was recorded: a page that replays as
it was says so in figures; one that replays otherwise (its script draws at random, so
the replay's seeded random draws something else), or that asks in replay for what the
WARC lacks (a URL its script makes of the time), is noted for the archivist."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest

from conftest import Custody, needs_chromium
from custody.testing.site import PNG, Page, SiteServer

pytestmark = needs_chromium

STEADY = """<!doctype html><html><head><title>A statement</title></head><body>
<h1>A statement</h1><p id="p">Loading</p><img src="/seal.png" width="80" height="80" alt="">
<script>fetch('/statement.json').then(r => r.json())
  .then(d => { document.getElementById('p').textContent = d.text; });</script>
</body></html>"""

RANDOM = """<!doctype html><html><head><title>Drawn</title></head><body>
<div id="x" style="height:700px"></div>
<script>const n = Math.floor(Math.random() * 1e9), x = document.getElementById('x');
x.textContent = 'Drawn ' + n + ' ' + 'word '.repeat(n % 9) + n.toString(36);
x.style.background = 'hsl(' + (n % 360) + ', 90%, 45%)';</script></body></html>"""

LACKING = """<!doctype html><html><head><title>Lacking</title></head><body>
<p>A page whose script asks for a URL made of the time: another one in replay.</p>
<script>fetch('/stamp/' + Date.now() + '.json');</script></body></html>"""


SPIN = """<!doctype html><html><head><title>Spin</title></head><body><p>A page whose
script never yields once it has loaded.</p>
<script>setTimeout(() => { for (;;) {} }, 300);</script></body></html>"""


TURN = """<!doctype html><html><head><title>Turn</title></head><body><p>A page that
reaches out only when it sees it is replayed.</p><script>
if (location.href.indexOf('mp_/') >= 0 || self._WB_wombat_location || self.WB_wombat_location) {
  try { const pc = new RTCPeerConnection({iceServers: [{urls: 'turn:127.0.0.1:PORT?transport=tcp',
    username: 'u', credential: 'p'}]}); pc.createDataChannel('x');
    pc.createOffer().then(o => pc.setLocalDescription(o)); } catch (e) {}
}</script></body></html>"""

# a feed of five batches, each fetched when the end of the page comes into view: its
# replay must be scrolled as the recording was, each batch waited for
FEED = """<!doctype html><html><head><title>Feed</title><style>.post{height:300px}</style>
</head><body><h1>A feed of statements</h1><div id="feed"></div><p id="end">loading</p>
<script>let n = 0, busy = false; const end = document.getElementById('end');
async function more() { if (busy) return; busy = true;
  const items = await (await fetch('/feed/' + n + '.json')).json(); n++;
  if (!items.length) { end.textContent = 'end of the feed'; return; }
  for (const t of items) { const d = document.createElement('div'); d.className = 'post';
    d.textContent = t; document.getElementById('feed').appendChild(d); }
  busy = false; }
new IntersectionObserver(e => { if (e[0].isIntersecting) more(); }).observe(end);
</script></body></html>"""

# a button whose handler calls a page-wide async function: pywb wraps each script in a
# block, where an async function is the block's own, and the replayed click fails
ASYNC = """<!doctype html><html><head><title>Async</title></head><body><div id="list"></div>
<button id="more" onclick="more()">Load more</button>
<script>async function more() { const d = await (await fetch('/async.json')).json();
  for (const t of d) { const p = document.createElement('p'); p.textContent = t;
    document.getElementById('list').appendChild(p); }
  document.getElementById('more').remove(); }</script></body></html>"""


def feed_batches() -> dict[str, Page]:
    return {f"/feed/{n}.json": Page(json.dumps(
        [f"Statement {n}.{i}: the ministry said so on day {n * 6 + i}." for i in range(6)]
        if n < 5 else []).encode(), "application/json") for n in range(6)}


def site(port: int = 9) -> dict[str, Page]:
    return {"/steady.html": Page(STEADY.encode(), "text/html; charset=utf-8"),
            "/statement.json": Page(b'{"text": "The statement as it was published."}',
                                    "application/json"),
            "/seal.png": Page(PNG, "image/png"),
            "/random.html": Page(RANDOM.encode(), "text/html; charset=utf-8"),
            "/lacking.html": Page(LACKING.encode(), "text/html; charset=utf-8"),
            "/spin.html": Page(SPIN.encode(), "text/html; charset=utf-8"),
            "/turn.html": Page(TURN.replace("PORT", str(port)).encode(),
                               "text/html; charset=utf-8"),
            "/feed.html": Page(FEED.encode(), "text/html; charset=utf-8"),
            "/async.html": Page(ASYNC.encode(), "text/html; charset=utf-8"),
            "/async.json": Page(b'["A statement loaded by the button."]', "application/json"),
            **feed_batches()}


def visits(runner: Custody, capture_id: str) -> dict[str, dict[str, Any]]:
    return {v["url"].rsplit("/", 1)[1]: v for v in runner.manifest(capture_id)["visits"]}


def test_each_page_is_replayed_and_compared_before_sealing(custody: Custody) -> None:
    listener = socket.socket()  # what a replayed page must never reach
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    with SiteServer(site(listener.getsockname()[1])) as server:
        started = time.monotonic()
        done = custody.archive(*(server.url + p for p in ("/steady.html", "/random.html",
                                                          "/lacking.html", "/spin.html",
                                                          "/turn.html", "/feed.html")),
                               extra=("--browser", "--page-timeout", "8",
                                      "--behaviors", "none"))
        took = time.monotonic() - started
    # four pages at once: the page's 8 s and recording, then the check's 8 s and 20 s
    assert took < 90, took
    seen = visits(custody, done["capture_id"])
    steady = seen["steady.html"]
    assert steady["replay"]["engine"] == "pywb"
    assert steady["replay"]["pixels"] >= 0.99 and steady["replay"]["text"] == 1.0, steady
    assert steady["replay"]["missing"] == [] and steady["replay"]["escaped"] == []
    assert not any("replayed" in n for n in steady["notes"])
    feed = seen["feed.html"]  # every batch loaded, in the recording and in its replay
    assert feed["replay"]["pixels"] >= 0.99 and feed["replay"]["text"] == 1.0, feed
    assert len(custody.query("SELECT url FROM resources WHERE url LIKE '%/feed/%'")) == 6
    drawn = seen["random.html"]
    assert drawn["replay"]["pixels"] < 0.95 or drawn["replay"]["text"] < 0.95, drawn
    assert any("differs from what was recorded" in n for n in drawn["notes"])
    lacking = seen["lacking.html"]
    missing = lacking["replay"]["missing"]
    assert len(missing) == 1 and missing[0].startswith(server.url + "/stamp/"), lacking
    recorded = custody.query("SELECT url FROM resources WHERE url LIKE '%/stamp/%'")
    assert [row["url"] for row in recorded] != missing  # the capture asked for another
    turn = seen["turn.html"]["replay"]  # WebRTC refused in the replay, and listed
    assert any(e.startswith("webrtc: RTCPeerConnection") for e in turn["escaped"]), turn
    with pytest.raises(TimeoutError):
        listener.accept()[0].close()
    listener.close()
    spin = seen["spin.html"]["replay"]  # checked, or said why not, within its time
    assert spin.get("error") or "pixels" in spin, spin
    assert spin["seconds"] < 8 + 20 + 5, spin
    assert any("not in the WARC" in n for n in lacking["notes"])
    # sealed with the capture: verify passes, and the figures cannot be changed unseen
    assert custody.verify()[0] == 0
    shown = custody.ok("show", done["capture_id"]).output
    assert "replays as recorded: 100.0% of the pixels the same, text 100.0% alike, " \
        "0 missing" in shown or "replays as recorded: 99." in shown, shown
    assert "replays otherwise than recorded" in shown
    page = custody.root.parent / "report.html"
    custody.ok("report", done["capture_id"], "-o", str(page))
    assert "checked before sealing, replayed from the WARC: replays" in page.read_text()


def test_a_replay_whose_scripts_fail_says_the_difference_may_be_the_replay_s(
        custody: Custody) -> None:
    with SiteServer(site()) as server:
        done = custody.archive(server.url + "/async.html",
                               extra=("--browser", "--page-timeout", "8", "--behaviors",
                                      "expand", "--behavior-timeout", "4"))
    rewritten = visits(custody, done["capture_id"])["async.html"]
    assert any('clicked "Load more"' in m for m in rewritten["behaviors"]["messages"])
    assert rewritten["replay"]["script_errors"], rewritten["replay"]
    assert any("scripts failed in the replay" in n for n in rewritten["notes"]), rewritten


def test_no_replay_check_and_no_pywb(custody: Custody,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with SiteServer(site()) as server:
        url = server.url + "/steady.html"
        off = custody.archive(url, extra=("--browser", "--behaviors", "none",
                                          "--no-replay-check"))
        assert "replay" not in visits(custody, off["capture_id"])["steady.html"]
        monkeypatch.setenv("CUSTODY_PYWB", str(custody.root / "no-pywb-here"))
        without = custody.archive(url, extra=("--browser", "--behaviors", "none"))
    visit = visits(custody, without["capture_id"])["steady.html"]
    assert "pywb is not installed" in visit["replay"]["error"]
    assert any("not replay-checked" in n for n in visit["notes"])


def test_the_line_of_a_replay_check_reads_whatever_a_manifest_holds() -> None:
    from custody.browser.replay_check import said

    assert said(None) is None and said([1]) is None
    assert said({"pixels": "all", "text": 1.0, "missing": [], "escaped": []}) is None
    assert said({"pixels": 1.0, "text": 1.0}) is None
    assert said({"error": "pywb is not installed"}) == \
        "not replay-checked: pywb is not installed"
    assert said({"pixels": 0.999, "text": 1.0, "missing": [], "escaped": []}) == \
        "replays as recorded: 99.9% of the pixels the same, text 100.0% alike, 0 missing"
    assert said({"pixels": 1.0, "text": 1.0, "missing": ["http://a/"],
                 "escaped": ["http://b/"]}).startswith("replays otherwise than recorded")
