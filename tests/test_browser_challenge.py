"""A site's challenge to log in, met by headless Chromium: the page is shown at once as a
person who cancels the prompt sees it, and the challenge is recorded as the site sent it;
a person at the browser (--interactive) is still asked."""

from __future__ import annotations

import io
import time

from warcio.archiveiterator import ArchiveIterator

from conftest import Custody, needs_chromium
from custody.browser.relay import Relay
from custody.testing.site import Page, SiteServer

REALM = 'Basic realm="members"'
CHALLENGE = {"WWW-Authenticate": REALM}


@needs_chromium
def test_a_page_whose_parts_ask_for_a_login_is_not_held(custody: Custody) -> None:
    page = (b"<html><body><p>The statement.</p><img src='/photo.png'>"
            b"<iframe src='/frame.html'></iframe><script>fetch('/api.json').then(r => r.text())"
            b".then(t => document.body.insertAdjacentHTML('beforeend', '<p>' + t + '</p>'))"
            b"</script></body></html>")
    pages = {"/": Page(page, "text/html"),
             "/photo.png": Page(b"no photo for you", "text/plain", 401, headers=CHALLENGE),
             "/frame.html": Page(b"<p>members only</p>", "text/html", 401, headers=CHALLENGE),
             "/api.json": Page(b"api says no", "text/plain", 401, headers=CHALLENGE)}
    with SiteServer(pages) as server:
        began = time.monotonic()
        result = custody.archive(server.url + "/", extra=("--browser", "--page-timeout", "30"))
        took = time.monotonic() - began
    assert took < 20, took  # held until the page's time ran out, it took over 30 s
    assert result["status"] == "success", result
    texts = " ".join(row["text"] for row in custody.query("select text from documents"))
    assert "api says no" in texts and "members only" in texts, texts
    statuses = {row["url"].rsplit("/", 1)[1]: row["status_code"]
                for row in custody.query("select url, status_code from resources")}
    assert statuses["photo.png"] == statuses["frame.html"] == statuses["api.json"] == 401
    manifest = custody.manifest(result["capture_id"])
    challenged = []
    for entry in manifest["warc_files"]:
        with open(custody.root / entry["path"], "rb") as fh:
            challenged += [r.rec_headers.get_header("WARC-Target-URI")
                           for r in ArchiveIterator(fh) if r.rec_type == "response"
                           and r.http_headers.get_header("WWW-Authenticate") == REALM]
    assert len(challenged) == 3, challenged  # recorded as the site sent it
    (visit,) = manifest["visits"]
    assert visit["replay"]["text"] > 0.95, visit["replay"]
    assert custody.verify()[0] == 0


def test_a_person_at_the_browser_is_still_asked() -> None:
    head = (b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"m\"\r\n"
            b"Connection: keep-alive\r\nContent-Length: 2\r\n\r\nno")
    passed = {}
    for person in (False, True):
        out = io.BytesIO()
        Relay(out, head_only=False, most=None, challenges=person)(head)
        passed[person] = out.getvalue()
    assert b"WWW-Authenticate" not in passed[False]
    assert b"WWW-Authenticate: Basic realm=\"m\"\r\n" in passed[True]
    for sent in passed.values():
        assert sent.startswith(b"HTTP/1.1 401 Unauthorized\r\n") and sent.endswith(b"\r\n\r\nno")
        assert b"Content-Length: 2\r\n" in sent
