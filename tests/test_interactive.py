"""Capture while browsing (archive --interactive): a headed Chromium on a virtual display
(Xvfb), with Playwright standing in for the person -- it signs in, loads more, scrolls,
marks with the shortcut and the toolbar, follows a link, closes the window (or presses
Ctrl-C in the terminal) -- and custody, a real process, records and seals it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from conftest import Custody, needs_chromium
from custody.core.errors import ExitCode
from custody.testing import xvfb
from custody.testing.receivers import free_port
from custody.testing.site import Page, SiteServer

pytestmark = [needs_chromium, pytest.mark.skipif(
    not xvfb.available(), reason="no Xvfb: ./scripts/setup --test installs it (as root)")]

CUSTODY = str(Path(sys.executable).with_name("custody"))
PORT = "CUSTODY_TEST_INTERACTIVE_PORT"

LOGIN = """<!doctype html><html><head><title>Sign in</title></head><body>
<form method="post" action="/session"><input name="user" id="user">
<input name="password" id="password" type="password"><button id="go">Sign in</button></form>
</body></html>"""
# the page tries what a hostile one would: find custody's binding, and fake the shortcut
FEED = """<!doctype html><html><head><title>The feed</title></head><body>
<h1>Statements</h1><div id="feed"><p>The first statement of the feed.</p></div>
<button id="more">Load more</button> <a id="newtab" href="/third" target="_blank">A new tab</a>
<a id="dl" href="/file.bin">A file</a>
<div style="height:2400px"></div><a id="next" href="/second">The second page</a>
<script>
document.getElementById('more').onclick = () => fetch('/more.json').then(r => r.json())
  .then(d => { const p = document.createElement('p'); p.textContent = d.text;
               document.getElementById('feed').appendChild(p); });
fetch('/probe?binding=' + typeof window.custodyMark + '&listening='
      + typeof window.__custodyListening);
document.dispatchEvent(new KeyboardEvent('keydown', {key: 'S', code: 'KeyS', ctrlKey: true,
                                                     shiftKey: true, bubbles: true}));
for (const kind of ['keydown', 'keyup']) {  // the shortcut's own key is never the page's
  window.addEventListener(kind, (e) => { if (e.code === 'KeyS') fetch('/keyspy?' + kind); },
                          true);
}
</script></body></html>"""
SECOND = "<!doctype html><title>Second</title><p>The second page, reached by a link.</p>"
# a page that opens three pop-ups as it loads, and one that changes its address 25 times
# a second, forever (a page that would not be photographed if that counted as leaving)
OPENER = """<!doctype html><title>Opener</title><p>It opens three windows.</p><script>
for (const n of [1, 2, 3]) window.open('/pop?n=' + n, '_blank');</script>"""
RESTLESS = """<!doctype html><title>Restless</title><p>Its address never rests.</p><script>
let i = 0; setInterval(() => history.replaceState(null, '', '/restless?t=' + (i++)), 40);
</script>"""


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb.Display() as shown:
        yield shown.name


@pytest.fixture(scope="module")
def social() -> Iterator[SiteServer]:
    pages = {"/login": Page(LOGIN.encode(), "text/html"),
             "/session": Page(b"", "text/html", status=303,
                              headers={"Location": "/feed", "Set-Cookie": "sid=abc; Path=/"}),
             "/feed": Page(FEED.encode(), "text/html"),
             "/more.json": Page(b'{"text": "A later statement, loaded on demand."}',
                                "application/json"),
             "/probe": Page(b"ok", "text/plain"),
             "/second": Page(SECOND.encode(), "text/html"),
             "/third": Page(b"<!doctype html><title>Third</title><p>Opened in a tab.</p>",
                            "text/html"),
             "/file.bin": Page(b"\x00" * 2000, "application/octet-stream",
                               headers={"Content-Disposition": "attachment; filename=f.bin"}),
             "/keyspy": Page(b"seen", "text/plain"),
             "/opener": Page(OPENER.encode(), "text/html"),
             "/pop": Page(b"<!doctype html><title>A pop-up</title><p>Opened on load.</p>",
                          "text/html"),
             "/restless": Page(RESTLESS.encode(), "text/html")}
    with SiteServer(pages) as server:
        yield server


@contextmanager
def browsing(custody: Custody, display: str, *args: str
             ) -> Iterator[tuple[Any, subprocess.Popen[str]]]:
    """``custody archive --json ARGS`` on the display, and its browser as the person sees
    it (its one context), through Playwright; custody is killed if it outlives the block."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key),
               DISPLAY=display, **{PORT: str(port)})
    proc = subprocess.Popen([CUSTODY, "archive", "--json", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with sync_playwright() as playwright:
            yield person(playwright, port, proc), proc
    finally:
        if proc.poll() is None:
            proc.kill()


def person(playwright: Any, port: int, proc: subprocess.Popen[str]) -> Any:
    """The browser custody opened, as the person sees it (its one context)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}").contexts[0]
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no browser to browse in: {proc.communicate()}") from None
            time.sleep(0.2)


def tab(context: Any, part: str) -> Any:
    """The page whose address has ``part``, once there is one (events pumped meanwhile)."""
    for _ in range(300):
        for page in context.pages:
            if part in page.url:
                return page
        context.pages[0].wait_for_timeout(100)
    raise AssertionError(f"no page {part}: {[p.url for p in context.pages]}")


def loaded(page: Any) -> Any:
    """A tab a page opened, once its document has loaded: asked of the document itself,
    since Playwright, attached to a tab it found already open, may have missed its load
    event (and would wait for it for ever)."""
    page.wait_for_function("document.readyState === 'complete'", timeout=30000)
    return page


def sealed(custody: Custody, proc: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    capture_id = json.loads(out)["capture_id"]
    return custody.manifest(capture_id), err


def records(custody: Custody, manifest: dict[str, Any]) -> dict[str, Any]:
    found = {}
    for entry in manifest["warc_files"]:
        with open(custody.root / entry["path"], "rb") as fh:
            for record in ArchiveIterator(fh):
                head = record.http_headers.to_str().encode() if record.http_headers else b""
                found[record.rec_headers.get_header("WARC-Record-ID")] = (
                    record.rec_type, record.rec_headers.get_header("WARC-Target-URI"),
                    record.content_stream().read(), head)
    return found


def test_a_person_signs_in_loads_more_marks_and_closes(custody: Custody, display: str,
                                                      social: SiteServer) -> None:
    with browsing(custody, display, "--interactive", social.url + "/login") as (context, proc):
        page = tab(context, "/login")
        page.wait_for_load_state()
        page.fill("#user", "alice")
        page.fill("#password", "correct horse")
        page.click("#go")
        page.wait_for_url("**/feed")
        page.wait_for_load_state()
        page.click("#more")
        page.wait_for_selector("text=loaded on demand")
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(500)
        page.keyboard.press("Control+Shift+S")  # marked with the shortcut
        page.wait_for_timeout(1500)
        toolbar = next(p for p in context.pages if p.title() == "custody: recording")
        toolbar.click("#mark")  # and with the toolbar's button
        toolbar.wait_for_function("document.querySelectorAll('#marks li').length == 2")
        page.click("#newtab")  # a tab the page opens is a visit of its own
        third = loaded(tab(context, "/third"))
        third.wait_for_timeout(500)
        third.keyboard.press("Control+Shift+S")
        toolbar.wait_for_function("document.querySelectorAll('#marks li').length == 3")
        third.close()
        page.click("#dl")  # a download shows no page: the feed is still the page shown
        page.wait_for_timeout(1000)
        page.keyboard.press("Control+Shift+S")
        toolbar.wait_for_function("document.querySelectorAll('#marks li').length == 4")
        page.click("#next")
        page.wait_for_url("**/second")
        page.wait_for_load_state()
        page.wait_for_timeout(800)
        page.close()  # the last window of pages: the session ends
        manifest, err = sealed(custody, proc)
    assert manifest["status"] == "complete" and manifest["settings"]["interactive"]
    assert "marked " + social.url + "/feed" in err
    visits = {v["final_url"]: v for v in manifest["visits"]}
    assert set(visits) == {social.url + u for u in ("/login", "/feed", "/third", "/second")}
    assert [m["why"] for m in visits[social.url + "/third"]["marks"]] == ["loaded", "marked"]
    feed = visits[social.url + "/feed"]
    assert feed["url"] == social.url + "/session" and feed["response_record"]
    marked = [m for m in feed["marks"] if m["why"] == "marked"]
    assert len(marked) == 3  # the page's own fake shortcut made none
    assert feed["downloads_refused"] == [social.url + "/file.bin"]
    assert marked[0]["scroll"][1] > 0 and marked[-1]["title"] == "The feed"  # (scrolled)
    assert feed["records"] == marked[-1]["records"]  # its screenshot is the last mark's
    held = records(custody, manifest)
    for mark in marked:
        kind, uri, png, _ = held[mark["records"]["screenshot-unmarked"]]
        assert kind == "resource" and uri == "urn:screenshot-unmarked:" + social.url + "/feed"
        assert png.startswith(b"\x89PNG")
        assert b"loaded on demand" in held[mark["records"]["dom"]][2]
    uris = {(kind, uri) for kind, uri, *_ in held.values()}
    assert ("request", social.url + "/session") in uris  # the sign-in's POST
    # the session the sign-in opened is redacted, as an archivist's own cookies are
    raw = b"".join(v[3] + v[2] for v in held.values() if v[0] in ("request", "response"))
    assert b"sid=abc" not in raw and manifest["redactions"]
    assert ("response", social.url + "/more.json") in uris  # what "Load more" fetched
    assert ("response", social.url + "/file.bin") in uris  # the download, as fetched
    assert not any("/keyspy" in (uri or "") for _, uri in uris)
    # the page could neither see the shortcut's binding nor its listener's flag
    assert ("response", social.url + "/probe?binding=undefined&listening=undefined") in uris
    assert custody.verify()[0] == 0
    shown = custody.ok("show", manifest["capture_id"]).output
    assert f"marked at {marked[0]['at']}: {social.url}/feed  The feed" in shown


def test_ctrl_c_in_the_terminal_seals_what_was_browsed(custody: Custody, display: str,
                                                      social: SiteServer) -> None:
    with browsing(custody, display, "--interactive", social.url + "/second") as (context, proc):
        page = tab(context, "/second")
        page.wait_for_load_state()
        page.wait_for_timeout(800)
        proc.send_signal(signal.SIGINT)
        manifest, err = sealed(custody, proc)
    assert manifest["status"] == "complete", err
    (visit,) = manifest["visits"]
    assert [m["why"] for m in visit["marks"]] == ["loaded", "at the end"]
    assert custody.verify()[0] == 0


def test_interactive_needs_a_display_and_no_crawl(custody: Custody, social: SiteServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = custody("archive", "--interactive", social.url + "/login")
    assert result.exit_code == ExitCode.USAGE
    assert "no display" in result.output and "Traceback" not in result.output
    for extra in (("--depth", "1"), ("--media",), ("--queue", "redis://127.0.0.1:1/0")):
        result = custody("archive", "--interactive", *extra, social.url + "/login")
        assert result.exit_code == ExitCode.USAGE and "--interactive" in result.output
    monkeypatch.setenv("DISPLAY", ":5999")  # no X server answers there
    result = custody("archive", "--interactive", social.url + "/login")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "could not be opened: Missing X server" in result.output
    assert "Traceback" not in result.output
    assert not list((custody.root / "manifests").glob("*.json"))
    assert not list((custody.root / ".custody" / "crawls").glob("*"))  # nothing to resume


def test_kill_9_keeps_what_was_fetched_and_marked_and_resume_seals_it(
        custody: Custody, display: str, social: SiteServer) -> None:
    with browsing(custody, display, "--interactive", social.url + "/second") as (context, proc):
        page = tab(context, "/second")
        page.wait_for_load_state()
        page.wait_for_timeout(500)
        page.keyboard.press("Control+Shift+S")
        page.wait_for_timeout(1500)  # written and committed within a quarter second
        proc.kill()
        proc.wait()
    with browsing(custody, display, "--resume") as (context, again):
        page = tab(context, "/second")  # the session opens again where it began
        page.wait_for_load_state()
        page.wait_for_timeout(800)
        page.close()
        manifest, err = sealed(custody, again)
    shots = [r for r in manifest["records"] if r["type"] == "resource" and
             r["target_uri"] == "urn:screenshot-unmarked:" + social.url + "/second"]
    assert len(shots) >= 3, err  # loaded and marked before the kill, loaded again after
    assert manifest["status"] == "complete"
    assert custody.verify()[0] == 0


def test_pop_ups_opened_while_loading_and_a_restless_address(
        custody: Custody, display: str, social: SiteServer) -> None:
    """Each page's visit is tied to its own answer, however its tab was opened; a page
    whose script keeps changing its address is still the same page: photographed and
    marked."""
    with browsing(custody, display, "--interactive", social.url + "/opener") as (context, proc):
        for n in (1, 2, 3):
            loaded(tab(context, f"/pop?n={n}"))
        opener = tab(context, "/opener")
        opener.wait_for_timeout(800)
        opener.goto(social.url + "/restless")
        opener.wait_for_timeout(800)
        opener.keyboard.press("Control+Shift+S")
        opener.wait_for_timeout(1500)
        for page in list(context.pages):
            if page.title() != "custody: recording":
                page.close()
        manifest, err = sealed(custody, proc)
    answers = {r["record_id"]: r["target_uri"] for r in manifest["records"]
               if r["type"] == "response"}
    visits = manifest["visits"]
    assert len(visits) == 5, [v["final_url"] for v in visits]
    for visit in visits:
        assert answers[visit["response_record"]] == visit["url"], visit
    restless = next(v for v in visits if v["url"] == social.url + "/restless")
    assert [m["why"] for m in restless["marks"]] == ["loaded", "marked"], err
    assert manifest["frontier_left"] == 0 and manifest["status"] == "complete"
