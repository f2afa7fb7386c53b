"""custody archive --browser, with Debian's Chromium: what a person saw, every request
recorded by custody itself, nothing reached behind custody's back, and pages that fight.

The pages are custody.testing.jssite's: text that arrives by fetch(), lives in a closed
shadow root or a frame's script, or loads only when scrolled to -- none of it in any
response as shown -- and a canary server on 127.0.0.2 that the page tries to reach in
every way a page can, which must see no connection at all.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from PIL import Image
from warcio.archiveiterator import ArchiveIterator

from conftest import SEEDS, Custody
from custody.browser.screenshot import BAND
from custody.seal.bundle import SEALED_RENDERS
from custody.testing.jssite import hostile_site, js_site, js_texts
from custody.testing.site import Page, SiteServer

CHROMIUM = os.environ.get("CUSTODY_CHROMIUM", "/usr/bin/chromium")
CUSTODY = str(Path(sys.executable).with_name("custody"))
WARCIO = str(Path(sys.executable).with_name("warcio"))

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM}: ./scripts/setup --test installs it (as root)")


class Canary:
    """A listener on another loopback address that counts every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.2", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.hits: list[Any] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.2:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, address = self.sock.accept()
            except OSError:
                return
            self.hits.append(address)
            conn.close()


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    listener = Canary()
    yield listener
    listener.sock.close()


@pytest.fixture
def js_server(canary: Canary) -> Iterator[SiteServer]:
    with SiteServer(js_site(SEEDS, canary=canary.url)) as server:
        yield server


@pytest.fixture
def js_tls_server(canary: Canary, ca: trustme.CA) -> Iterator[SiteServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    with SiteServer(js_site(SEEDS, canary=canary.url), tls=context) as server:
        yield server


def records(runner: Custody, capture_id: str) -> list[dict[str, Any]]:
    """Every record of the capture: its headers, and its payload (the HTTP body, for a
    response) as bytes."""
    out = []
    for entry in runner.manifest(capture_id)["warc_files"]:
        with open(runner.root / entry["path"], "rb") as fh:
            for record in ArchiveIterator(fh):
                headers = dict(record.rec_headers.headers)
                http = record.http_headers
                out.append({"type": record.rec_type, "headers": headers,
                            "uri": headers.get("WARC-Target-URI", ""),
                            "status": http.get_statuscode() if http else None,
                            "http": dict(http.headers) if http else {},
                            "body": record.content_stream().read()})
    return out


def rendered_text(runner: Custody, url: str) -> str:
    rows = runner.query(f"SELECT text FROM documents WHERE source = 'rendered' "
                        f"AND url = '{url}'")
    return "\n".join(row["text"] for row in rows)


def browser_archive(runner: Custody, *urls: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    return runner.archive(*urls, extra=("--browser", "--page-timeout", "10", *extra))


def test_a_script_built_page_is_captured_as_a_person_saw_it(
        custody: Custody, js_server: SiteServer, canary: Canary) -> None:
    url = js_server.url + "/app.html"
    result = browser_archive(custody, url)
    cid = result["capture_id"]
    texts = js_texts(SEEDS)
    shown = rendered_text(custody, url)
    for part in ("first", "last", "widget", "more"):  # fetched JSON, shadow root, scrolled
        assert texts[part] in shown, part
    assert texts["frame"] in rendered_text(custody, js_server.url + "/frame.html")
    # the note says which copy has no text: the server's, whose script writes it
    assert (f"{js_server.url}/frame.html (as the server sent it): no text extracted; the "
            "rendered page's text is kept") in result["notes"]
    title = custody.query(f"SELECT title FROM documents WHERE source = 'rendered' "
                          f"AND url = '{url}'")[0]["title"]
    assert title == texts["title"]
    assert "/img/lazy.png" in js_server.requests  # loaded by scrolling
    for path in ("/sw.js", "/api/sw.json", "/fonts/witness.woff2", "/media/clip.webm"):
        assert path in js_server.requests, path  # a service worker's fetch, a font, media
    assert ("/api/seen", json.dumps({"page": "app", "note": "سلام"},
                                    separators=(",", ":"), ensure_ascii=False).encode()) \
        in js_server.posts

    # searchable in the page's own language, as any page is
    hits = json.loads(custody.ok("search", "--json", "shadow root").stdout)
    assert any(hit["url"] == url for hit in hits)

    # every request the server answered is in the WARC, byte for byte, once
    all_records = records(custody, cid)
    responses = [r for r in all_records if r["type"] == "response"]
    served = Counter(path.split("?")[0] for path in js_server.requests)
    stored = Counter(r["uri"].removeprefix(js_server.url) for r in responses
                     if r["uri"].startswith(js_server.url))
    assert stored == served
    pages = js_site(SEEDS, canary=canary.url)
    for r in responses:
        path = r["uri"].removeprefix(js_server.url)
        if path in pages:
            assert r["body"] == pages[path].body, path
    post = next(r for r in all_records if r["type"] == "request"
                and r["uri"].endswith("/api/seen"))
    assert post["body"] == js_server.posts[0][1]  # what the browser sent, as it sent it

    # the canary saw nothing: not the image, fetch, beacon, WebSocket or preconnect
    assert canary.hits == []
    failures = {f["url"]: f["kind"] for f in result["failures"]}
    for path in ("/pixel.png", "/beacon"):
        assert failures.get(canary.url + path) == "blocked"
    visit = custody.manifest(cid)["visits"][0]
    assert any("/socket" in why and "WebSocket" in why for why in visit["not_fetched"])

    # what the browser made of it, tied to the page's response
    response_id = next(r["headers"]["WARC-Record-ID"] for r in responses if r["uri"] == url)
    renders = {r["uri"].split(":")[1]: r for r in all_records
               if r["type"] == "resource" and r["uri"].endswith(":" + url.split(":", 1)[1])}
    assert set(renders) >= {"screenshot", "screenshot-unmarked", "pdf", "dom"}
    for name, record in renders.items():
        assert record["headers"]["WARC-Refers-To"] == response_id, name
        assert record["headers"]["WARC-Record-ID"] == visit["records"][name]
    assert renders["pdf"]["body"].startswith(b"%PDF-")
    unmarked = Image.open(io.BytesIO(renders["screenshot-unmarked"]["body"]))
    banded = Image.open(io.BytesIO(renders["screenshot"]["body"]))
    assert banded.width == unmarked.width == 1280
    assert banded.height == unmarked.height + BAND
    assert unmarked.height > 3000  # the whole page, not the viewport
    assert len(set(unmarked.convert("RGB").resize((64, 64)).tobytes())) > 20  # not blank
    band = banded.convert("L").crop((0, 0, banded.width, BAND))
    assert band.getextrema()[0] < 100 < band.getextrema()[1]  # writing on it
    assert banded.convert("RGB").crop((0, BAND, 1280, BAND + 200)).tobytes() == \
        unmarked.convert("RGB").crop((0, 0, 1280, 200)).tobytes()

    # sealed like any capture, and readable by the standard tools
    code, report = custody.verify(cid)
    assert code == 0, report
    files = [str(custody.root / f["path"]) for f in custody.manifest(cid)["warc_files"]]
    check = subprocess.run([WARCIO, "check", *files], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    # shown, and bundled as files a person opens, each the record the manifest seals
    shown_lines = custody.ok("show", cid).stdout.splitlines()
    assert any(line.startswith(f"render    screenshot  {url}") for line in shown_lines)
    assert any(line.startswith(f"browser   {url}") for line in shown_lines)
    bundle = custody.root.parent / "bundle"
    custody.ok("bundle", cid, "-o", str(bundle))
    told = (bundle / "VERIFY.md").read_text()
    assert SEALED_RENDERS in told
    sums = subprocess.run(SEALED_RENDERS, shell=True, cwd=bundle,
                          capture_output=True, text=True)
    assert sums.returncode == 0 and ": OK" in sums.stdout, sums.stdout + sums.stderr
    index = json.loads((bundle / "renders" / "index.json").read_text())
    by_record = {entry["record_id"]: entry["file"] for entry in index}
    shot = bundle / by_record[visit["records"]["screenshot"]]
    assert shot.read_bytes() == renders["screenshot"]["body"]
    shot.write_bytes(renders["screenshot-unmarked"]["body"])  # another screenshot, swapped in
    swapped = subprocess.run(SEALED_RENDERS, shell=True, cwd=bundle,
                             capture_output=True, text=True)
    assert swapped.returncode != 0 and "FAILED" in swapped.stdout
    # and its entry taken out of the (unsigned) index too: the manifest still names it
    listed = bundle / "renders" / "index.json"
    listed.write_text(json.dumps([e for e in index if e["file"] != shot.relative_to(
        bundle).as_posix()]))
    unlisted = subprocess.run(SEALED_RENDERS, shell=True, cwd=bundle,
                              capture_output=True, text=True)
    assert unlisted.returncode != 0, unlisted.stdout
    listed.write_text("not json")  # the list cannot be made: the step fails
    assert subprocess.run(SEALED_RENDERS, shell=True, cwd=bundle,
                          capture_output=True).returncode != 0


FORM = b"""<html><head><title>Contact</title></head><body><h1>Write to us</h1>
<form action="/send" method="post"><input name="name" autocomplete="name">
<input name="email" type="email"><textarea name="message"></textarea>
<button>Send</button></form></body></html>"""


def test_a_page_with_a_form_asks_nothing_of_the_browser_s_vendor(custody: Custody) -> None:
    """Chromium asked Google's autofill servers about every page with a form: requests of
    the browser's own, recorded as the capture's failures (online, as its responses)."""
    with SiteServer({"/form.html": Page(FORM, "text/html; charset=utf-8")}) as server:
        done = custody.archive(server.url + "/form.html",
                               extra=("--browser", "--no-requisites", "--behaviors", "none",
                                      "--no-replay-check"))
    assert done["status"] == "success" and custody.query("select url from failures") == []
    assert {r["url"] for r in custody.query("select url from resources")} <= \
        {server.url + "/form.html", server.url + "/favicon.ico"}


def test_a_plain_crawl_does_not_see_what_the_browser_shows(
        custody: Custody, js_server: SiteServer) -> None:
    """The page's text is made by its scripts: without the browser, it is not there."""
    url = js_server.url + "/app.html"
    custody.archive(url)
    texts = custody.query("SELECT group_concat(text, ' ') AS t FROM documents")[0]["t"] or ""
    assert js_texts(SEEDS)["widget"] not in texts
    assert js_texts(SEEDS)["more"] not in texts


def test_https_pages_through_the_capture_certificate(
        custody: Custody, js_tls_server: SiteServer, ca_file: str) -> None:
    """HTTPS is fetched by custody (checking the site's certificate with --ca-bundle) and
    passed to the browser under the capture's own certificate."""
    url = js_tls_server.url + "/app.html"
    result = browser_archive(custody, url, extra=("--ca-bundle", ca_file))
    shown = rendered_text(custody, url)
    assert js_texts(SEEDS)["widget"] in shown and js_texts(SEEDS)["first"] in shown
    responses = [r for r in records(custody, result["capture_id"]) if r["type"] == "response"]
    assert {r["uri"] for r in responses} >= {url, js_tls_server.url + "/app.js",
                                             js_tls_server.url + "/api/statement.json"}
    assert all(r["headers"].get("WARC-IP-Address") == "127.0.0.1" for r in responses)
    # one agent for the capture: the browser's requests and custody's own say the same,
    # the installed Chromium's, without "Headless"
    agent = custody.manifest(result["capture_id"])["settings"]["user_agent"]
    requests = [r for r in records(custody, result["capture_id"]) if r["type"] == "request"]
    assert len(requests) >= 3 and "Headless" not in agent
    assert {r["http"].get("User-Agent") for r in requests} == {agent}
    code, report = custody.verify(result["capture_id"])
    assert code == 0, report


def test_an_untrusted_site_certificate_is_not_hidden_by_the_browser(
        custody: Custody, js_tls_server: SiteServer) -> None:
    """Without --ca-bundle the site's certificate is not trusted: custody records a TLS
    failure; the browser's trust in the capture certificate must not paper over it."""
    url = js_tls_server.url + "/app.html"
    result = browser_archive(custody, url)
    kinds = {f["url"]: f["kind"] for f in result["failures"]}
    assert kinds.get(url) == "tls"
    assert list(kinds.values()).count("tls") == len(kinds)  # once each, nothing else
    assert rendered_text(custody, url) == ""  # the browser's error page is not evidence
    visit = custody.manifest(result["capture_id"])["visits"][0]
    assert visit["records"] == {} and "certificate" in visit["error"]


def test_the_recording_proxy_serves_only_its_own_browser() -> None:
    import tempfile

    from custody.browser.ca import CaptureCA
    from custody.browser.proxy import RecordingProxy
    from custody.capture.fetch import Fetcher
    from custody.capture.guard import AddressGuard

    with tempfile.TemporaryDirectory() as folder, \
            SiteServer(js_site(SEEDS)) as server:
        fetcher = Fetcher(user_agent="custody-test", guard=AddressGuard({"127.0.0.1"}))
        proxy = RecordingProxy(fetcher, CaptureCA(Path(folder))).start()
        visit = proxy.open_visit()
        try:
            def ask(head: str) -> bytes:
                with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as conn:
                    conn.sendall(head.encode())
                    return conn.recv(4096)

            import base64

            def auth(user: str, password: str) -> str:
                token = base64.b64encode(f"{user}:{password}".encode()).decode()
                return f"Proxy-Authorization: Basic {token}\r\n"

            target = server.url + "/app.html"
            for extra in ("", auth(visit, "wrong"), auth("no-such-visit", proxy.secret)):
                for head in (f"GET {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n",
                             f"CONNECT 127.0.0.1:{server.port} HTTP/1.1\r\n{extra}\r\n"):
                    assert ask(head).startswith(b"HTTP/1.1 407 "), head
            assert server.requests == []  # nothing was fetched for them
            # a request body whose length is no length: refused with a 400, and noted
            for length in ("\u00b2", "9" * 5000, "-5", "+5", "1_0"):
                answer = ask(f"POST {target} HTTP/1.1\r\nHost: x\r\n"
                             f"{auth(visit, proxy.secret)}Content-Length: {length}\r\n"
                             "Connection: close\r\n\r\nhello")
                assert answer.startswith(b"HTTP/1.1 400 "), (length, answer)
            assert server.requests == []
            assert len(proxy.close_visit(visit).refused) == 5
            visit = proxy.open_visit()
            answer = ask(f"GET {target} HTTP/1.1\r\nHost: x\r\n{auth(visit, proxy.secret)}"
                         "Connection: close\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert server.requests == ["/app.html"]
        finally:
            proxy.close_visit(visit)
            proxy.close()
            fetcher.close()


def test_the_recording_proxy_passes_an_answer_on_as_it_comes() -> None:
    """A slow body reaches the browser piece by piece while the fetch records it; the
    bytes passed on are the server's, framing and all; --max-bytes bounds both."""
    import base64
    import tempfile

    from custody.browser.ca import CaptureCA
    from custody.browser.proxy import RecordingProxy
    from custody.capture.fetch import Fetcher
    from custody.capture.guard import AddressGuard

    body = bytes(range(256)) * 400  # 102,400 bytes, in ten slices 0.3 s apart
    pages = {"/slow.bin": Page(body, "application/octet-stream", dribble=0.3)}
    with tempfile.TemporaryDirectory() as folder, SiteServer(pages) as server:
        for most in (None, 5000):
            fetcher = Fetcher(user_agent="custody-test", guard=AddressGuard({"127.0.0.1"}),
                              max_body=most)
            proxy = RecordingProxy(fetcher, CaptureCA(Path(folder))).start()
            visit = proxy.open_visit()
            token = base64.b64encode(f"{visit}:{proxy.secret}".encode()).decode()
            try:
                with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as conn:
                    started = time.monotonic()
                    conn.sendall(f"GET {server.url}/slow.bin HTTP/1.1\r\nHost: x\r\n"
                                 f"Proxy-Authorization: Basic {token}\r\n"
                                 "Connection: close\r\n\r\n".encode())
                    got, first = b"", None
                    expected = len(body if most is None else body[:most])
                    while len(got.partition(b"\r\n\r\n")[2]) < expected and \
                            (chunk := conn.recv(65536)):
                        got += chunk
                        if first is None and got.partition(b"\r\n\r\n")[2]:
                            first = time.monotonic() - started
                    total = time.monotonic() - started
                seen = proxy.close_visit(visit).seen
            finally:
                proxy.close()
                fetcher.close()
            head, _, sent = got.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            if most is None:  # the first slice came at once, the last 2.7 s later
                assert first is not None and first < 1.0 < total, (first, total)
            assert sent == (body if most is None else body[:most])
            (one,) = seen
            one.exchange.response.seek(0)
            recorded = one.exchange.response.read()
            assert recorded.partition(b"\r\n\r\n")[2] == sent  # what the WARC gets


def test_without_chromium_archive_says_how_to_install_it(
        custody: Custody, js_server: SiteServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTODY_CHROMIUM", "/nonexistent/chromium")
    result = custody("archive", "--browser", js_server.url + "/app.html")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "apt-get install chromium" in result.output
    assert js_server.requests == []
    assert not list((custody.root / "manifests").glob("*.json"))


def test_pages_that_fight_the_browser_end_within_their_time(custody: Custody) -> None:
    """An endless feed, a request that never answers, pop-ups and dialogs, a script that
    never yields, a canvas of 200 MB, a page that navigates itself, a download: each
    ends within --page-timeout (and the bounded steps after it), and is sealed."""
    with SiteServer(hostile_site()) as server:
        urls = [server.url + path for path in hostile_site() if path.endswith(".html")]
        started = time.monotonic()
        # the page's own bounds: behaviours and the replay check are bounded in
        # test_behaviors.py and test_replay_check.py
        result = custody.archive(*urls, extra=("--browser", "--page-timeout", "6",
                                               "--depth", "0", "--timeout", "5",
                                               "--behaviors", "none", "--no-replay-check"))
        took = time.monotonic() - started
    assert took < 90, took  # seven pages, four at a time: two rounds of 6 s and a margin
    cid = result["capture_id"]
    visits = {v["url"].removeprefix(server.url): v for v in custody.manifest(cid)["visits"]}
    assert set(visits) == {u.removeprefix(server.url) for u in urls}
    assert visits["/hostile/popups.html"]["dialogs"], visits["/hostile/popups.html"]
    assert len(visits["/hostile/popups.html"]["popups_blocked"]) >= 500
    assert visits["/hostile/download.html"]["downloads_refused"]
    feed = visits["/hostile/feed.html"]
    assert feed["records"].get("screenshot")  # photographed, though it never ends
    assert any("stopped scrolling" in note for note in feed["notes"]), feed["notes"]
    canvas = visits["/hostile/canvas.html"]
    shots = {r["headers"]["WARC-Record-ID"]: r for r in records(custody, cid)
             if r["type"] == "resource"}
    if canvas["records"].get("screenshot-unmarked"):
        tall = Image.open(io.BytesIO(shots[canvas["records"]["screenshot-unmarked"]]["body"]))
        assert tall.height <= 20_000
        assert any("taller" in note or "top" in note for note in canvas["notes"])
    busy = visits["/hostile/busy.html"]
    assert busy["notes"] or busy["error"]  # it says what was cut short
    code, report = custody.verify(cid)
    assert code == 0, report


def chromium_processes() -> dict[int, str]:
    """Chromium processes on this machine: pid, command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ("chromium" in cmdline and "--type=" not in cmdline) or "custody-capture-pid" in cmdline:
            found[int(entry.name)] = cmdline
    return found


def browsers_of(pid: int) -> list[int]:
    return [p for p, cmdline in chromium_processes().items()
            if f"--custody-capture-pid={pid}" in cmdline]


def start_capture(custody: Custody, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CUSTODY_ROOT": str(custody.root), "CUSTODY_KEY": str(custody.key)}
    # (behaviours and the replay check, whose bounds have tests of their own, left out)
    return subprocess.Popen([CUSTODY, "archive", "--browser", "--page-timeout", "60",
                             "--timeout", "8", "--behaviors", "none", "--no-replay-check",
                             url],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def test_killed_outright_leaves_no_browser_behind(custody: Custody) -> None:
    with SiteServer(hostile_site()) as server:
        proc = start_capture(custody, server.url + "/hostile/feed.html")
        try:
            assert wait_for(lambda: browsers_of(proc.pid), 30), "Chromium never started"
            assert wait_for(lambda: any(p.startswith("/hostile/item") for p in server.requests),
                            20)
            family = descendants(proc.pid)
            assert set(browsers_of(proc.pid)) <= family  # the browser is custody's own
            proc.kill()
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in family), 20), \
            [chromium_processes().get(p) for p in family]
        # and the capture is finished by --resume, as any killed capture is
        resumed = custody("archive", "--resume", "--json")
        assert resumed.exit_code in (0, 5), resumed.output
        code, report = custody.verify()
        assert code == 0, report


def test_a_browser_that_crashes_fails_its_page_and_the_capture_goes_on(
        custody: Custody) -> None:
    """Chromium killed while a page loads: that page is marked failed with the reason,
    the browser is started again for the next page, and the capture is sealed."""
    site = {**hostile_site(), "/after.html": Page(
        b"<!DOCTYPE html><title>after</title><p id='t'></p><script>"
        b"document.getElementById('t').textContent = 'written after the crash';</script>",
        "text/html; charset=utf-8")}
    with SiteServer(site) as server:
        env = {**os.environ, "CUSTODY_ROOT": str(custody.root),
               "CUSTODY_KEY": str(custody.key)}
        proc = subprocess.Popen(
            [CUSTODY, "archive", "--browser", "--json", "--concurrency", "1",
             "--page-timeout", "30", "--timeout", "8",
             server.url + "/hostile/hang.html", server.url + "/after.html"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert wait_for(lambda: "/hostile/never.png" in server.requests, 30)
            first = browsers_of(proc.pid)
            assert first
            for pid in first:
                os.kill(pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 5, err  # a page failed; the capture is sealed
    result = json.loads(out)
    failures = {f["url"]: f for f in result["failures"]}
    hang = failures[server.url + "/hostile/hang.html"]
    assert hang["kind"] == "browser" and "crashed" in hang["reason"], hang
    visits = {v["url"]: v for v in custody.manifest(result["capture_id"])["visits"]}
    assert visits[server.url + "/hostile/hang.html"]["records"] == {} or \
        "screenshot" not in visits[server.url + "/hostile/hang.html"]["records"]
    assert visits[server.url + "/after.html"]["records"].get("screenshot")
    assert "written after the crash" in rendered_text(custody, server.url + "/after.html")
    assert not browsers_of(proc.pid)
    code, report = custody.verify()
    assert code == 0, report


def test_a_frame_that_could_not_be_fetched_is_no_page(custody: Custody) -> None:
    """The browser shows custody's own error page where a frame could not be fetched:
    not evidence of the site, it is neither kept as the frame's DOM nor indexed (a search
    for its words found it, in the report's pages too). The page's DOM is kept in UTF-8,
    and says so, whatever charset its meta tag names."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: refused
    html = ("<html><head><meta charset='windows-1256'><title>بيان</title></head><body>"
            "<p>بيان الوزارة عن القافلة.</p>"
            f"<iframe src='http://127.0.0.1:{port}/widget.html'></iframe>"
            f"<iframe src='HTTP://127.0.0.1:{port}/part.html?#top'></iframe></body></html>")
    with SiteServer({"/page.html": Page(html.encode("windows-1256"),
                                        "text/html; charset=windows-1256")}) as server:
        result = browser_archive(custody, server.url + "/page.html",
                                 extra=("--behaviors", "none", "--no-replay-check"))
    (visit,) = custody.manifest(result["capture_id"])["visits"]
    assert f"the frame http://127.0.0.1:{port}/widget.html is not kept: it could not be " \
        "fetched" in visit["notes"], visit["notes"]
    assert f"the frame http://127.0.0.1:{port}/part.html?#top is not kept: it could not be " \
        "fetched" in visit["notes"], visit["notes"]  # (as the frame names itself)
    assert "frames" not in visit["records"]
    assert not custody.query("SELECT url FROM documents WHERE text LIKE '%could not fetch%'")
    assert "بيان الوزارة عن القافلة." in rendered_text(custody, server.url + "/page.html")
    (dom,) = [r for r in custody.manifest(result["capture_id"])["records"]
              if str(r.get("target_uri")).startswith("urn:dom:")]
    assert dom["payload_type"] == "text/html; charset=utf-8", dom
    assert custody.verify()[0] == 0


def test_ctrl_c_seals_what_the_browser_had(custody: Custody) -> None:
    with SiteServer(hostile_site()) as server:
        proc = start_capture(custody, server.url + "/hostile/hang.html")
        try:
            assert wait_for(lambda: "/hostile/never.png" in server.requests, 30)
            proc.send_signal(signal.SIGINT)
            interrupted = time.monotonic()
            _, err = proc.communicate(timeout=60)
            took = time.monotonic() - interrupted
        finally:
            if proc.poll() is None:
                proc.kill()
    # the page cut short is sealed as it was, and the capture as interrupted (exit 130):
    # `--resume` loads the page again, as it fetches again a response cut short
    assert proc.returncode == 130, err
    assert took < 30, took  # not the page's 60 s: loading stops, the page is recorded
    assert "Traceback" not in err
    assert not browsers_of(proc.pid)
    manifests = list((custody.root / "manifests").glob("*.json"))
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    assert manifest["stopped"] == "interrupted" and manifest["status"] == "interrupted"
    assert manifest["frontier_left"] == 1
    visit = manifest["visits"][0]
    assert "loading was stopped: the capture was interrupted" in visit["notes"]
    assert visit["records"].get("screenshot") and visit["records"].get("dom")
    code, report = custody.verify()
    assert code == 0, report


def test_pywb_replays_the_browser_capture(custody: Custody, js_server: SiteServer,
                                          canary: Canary, wayback: Any) -> None:
    """What custody recorded through the browser replays in pywb: every response byte for
    byte (id_), the screenshot record, and the page itself, its scripts run again in
    Chromium against the archive alone."""
    import urllib.request

    url = js_server.url + "/app.html"
    cid = browser_archive(custody, url)["capture_id"]
    wayback.add(*(str(custody.root / f["path"]) for f in custody.manifest(cid)["warc_files"]))
    for record in records(custody, cid):
        if record["type"] == "response" and record["status"] == "200":
            with urllib.request.urlopen(f"{wayback.base}/id_/{record['uri']}") as answer:
                assert answer.read() == record["body"], record["uri"]
        if record["type"] == "resource" and record["uri"].startswith("urn:screenshot:"):
            with urllib.request.urlopen(f"{wayback.base}/id_/{record['uri']}") as answer:
                assert answer.read() == record["body"]
    js_server.requests.clear()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox"] if os.geteuid() == 0 else [])
        try:
            page = browser.new_page()
            page.goto(f"{wayback.base}/{url}", wait_until="networkidle", timeout=30_000)
            content = next(f for f in page.frames if "/mp_/" in f.url)  # pywb's replay frame
            content.wait_for_function("document.title !== 'loading'", timeout=15_000)
            text = content.inner_text("body")
            frame_text = next(f for f in page.frames if f.url.endswith("/frame.html")) \
                .inner_text("body")
        finally:
            browser.close()
    texts = js_texts(SEEDS)
    assert texts["first"] in text and texts["last"] in text  # fetched from the archive
    assert texts["frame"] in frame_text
    assert js_server.requests == []  # replayed from the WARC, not the live site
