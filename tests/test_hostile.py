"""Hostile and broken input never stops a capture: bad URLs in pages, redirects and URL
lists; servers that trickle, hang, or do not speak HTTP; a stop in the middle of it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Custody
from custody.testing.site import Page, SiteServer
from test_archive import warc_records
from test_cli import one_line_error

CUSTODY = str(Path(sys.executable).with_name("custody"))
WARCIO = str(Path(sys.executable).with_name("warcio"))

BAD_URLS = ["http://0177.0.0.02/", "http://999.1.1.1/", "http://127.000.000.002/",
            "http://[::1", "http://[::1]x/", "http://xn--/", "http://256.1.1.1:80/x",
            "https://[fe80::1%25eth0/", "http://exa\u0000mple.org/"]


class RawServer:
    """A TCP server on loopback that answers each request path with what a test scripts:
    bytes that are not HTTP, a status line trickled a byte at a time, or nothing at all."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.scripts: dict[str, bytes] = {}  # a path's whole answer, then the end
        self.seen: list[str] = []  # the paths asked for, in order

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:  # closed: the test is over
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        # the client giving up mid-answer is what these scripts are for
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._script(conn)

    def _script(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            path = request.split(b" ")[1].decode()
            self.seen.append(path)
            if path in self.scripts:
                conn.sendall(self.scripts[path])
            elif path == "/http09":
                conn.sendall(b"<html>hello from 1991</html>\n")
            elif path == "/garbage":
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\x00\x01\x02\xff binary")
            elif path == "/trickle":
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                    if self.stop.wait(0.5):
                        return
                    conn.sendall(bytes([byte]))
            elif path == "/hang":
                self.stop.wait(120)
            elif path == "/slow-body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: 100000\r\n\r\nbeginning of the body ")
                self.stop.wait(120)

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def raw() -> Iterator[RawServer]:
    with RawServer() as server:
        yield server


def links_page(urls: list[str]) -> bytes:
    anchors = "".join(f'<a href="{u}">a</a><img src="{u}">' for u in urls)
    return f"<html><body><p>links</p>{anchors}</body></html>".encode()


def test_bad_urls_in_a_page_are_recorded_and_the_capture_sealed(custody: Custody) -> None:
    pages = {"/": Page(links_page(BAD_URLS), "text/html")}
    redirecting = [u for u in BAD_URLS if "\u0000" not in u]  # http.server refuses to send NUL
    for i, url in enumerate(redirecting):
        pages[f"/r{i}"] = Page(b"moved", "text/plain", status=302, headers={"Location": url})
    with SiteServer(pages) as server:
        seeds = [server.url + "/", *(server.url + f"/r{i}" for i in range(len(redirecting)))]
        result = custody("archive", "--json", "--depth", "1", "--scope", "any", *seeds)
    assert result.exit_code == 5, result.output
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)
    failures = report["failures"]
    # each redirect's own response is evidence, and its unusable target a failure
    redirects = [f for f in failures if f["kind"] == "redirect"]
    assert len(redirects) == len(redirecting), failures
    assert all("unusable location" in f["reason"] for f in redirects)
    invalid = [f for f in failures if f["kind"] == "invalid-url"]
    assert invalid and all("linked from" in f["reason"] for f in invalid)
    manifest = custody.manifest(report["capture_id"])
    statuses = {r["target_uri"]: r["http_status"] for r in manifest["records"]
                if r["type"] == "response"}
    assert all(statuses[server.url + f"/r{i}"] == 302 for i in range(len(redirecting)))
    code, verified = custody.verify()
    assert code == 0, verified


@pytest.mark.parametrize("url", ["http://[::1", "http://[::1]x/", "http://999.1.1.1/",
                                 "http://127.000.000.002/"])
def test_bad_urls_on_the_command_line_are_refused(custody: Custody, url: str) -> None:
    result = custody("archive", url)
    assert result.exit_code == 2
    assert "invalid URL" in one_line_error(result.output)


@pytest.mark.parametrize("content, words", [
    (b"https://example.org/a\nhttp://[::1\n", "urls.txt:2"),
    (b"https://example.org/a\nhttp://[::1]x/\n", "urls.txt:2"),
    (b"# list\nhttps://example.org/\xe9t\xe9\n", "urls.txt:2: not UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "urls.txt:1"),
    (b"https://example.org/a\x00b\n", "urls.txt:1"),
])
def test_bad_url_lists_name_the_line(custody: Custody, tmp_path: Path, content: bytes,
                                     words: str) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_bytes(content)
    result = custody("archive", "--from", str(listing))
    assert result.exit_code == 2
    assert words in one_line_error(result.output)
    assert not list((custody.root / "manifests").glob("*.json"))


@pytest.mark.parametrize("path", ["/http09", "/garbage"])
def test_replies_that_are_not_http_are_kept_as_evidence(custody: Custody, raw: RawServer,
                                                        path: str) -> None:
    result = custody("archive", "--json", "--retries", "0", raw.url + path)
    assert result.exit_code == 5, result.output
    manifest = custody.manifest(json.loads(result.stdout)["capture_id"])
    records = warc_records(custody.root, manifest)
    replies = [raw_block for headers, raw_block in records
               if headers.get_header("WARC-Type") == "resource"]
    assert len(replies) == 1
    sent = b"<html>hello from 1991" if path == "/http09" else b"SSH-2.0-OpenSSH_9.2\r\n\x00"
    assert replies[0].startswith(sent)
    (warc,) = manifest["warc_files"]
    check = subprocess.run([WARCIO, "check", "-v", str(custody.root / warc["path"])],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    assert custody.verify()[0] == 0


def test_timeout_bounds_a_status_line_trickled_byte_by_byte(custody: Custody,
                                                            raw: RawServer) -> None:
    start = time.monotonic()
    result = custody("archive", "--json", "--timeout", "2", "--retries", "0",
                     raw.url + "/trickle")
    assert time.monotonic() - start < 8
    assert result.exit_code == 5, result.output
    (failure,) = json.loads(result.stdout)["failures"]
    assert failure["kind"] == "timeout" and "2 s" in failure["reason"]
    manifest = custody.manifest(json.loads(result.stdout)["capture_id"])
    replies = [b for h, b in warc_records(custody.root, manifest)
               if h.get_header("WARC-Type") == "resource"]
    assert replies[0] and b"HTTP/1.1 200 OK".startswith(replies[0])  # what came is kept


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_one_signal_stops_hung_fetches_and_seals(custody: Custody, raw: RawServer,
                                                 sig: int) -> None:
    with SiteServer({"/ok.txt": Page(b"fetched before the stop", "text/plain")}) as site:
        env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key))
        proc = subprocess.Popen([CUSTODY, "archive", "--json", "--timeout", "300",
                                 site.url + "/ok.txt", raw.url + "/hang", raw.url + "/slow-body"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 60  # (a busy machine starts custody slowly)
        while not {"/hang", "/slow-body"} <= set(raw.seen):
            assert time.monotonic() < deadline and proc.poll() is None, proc.poll()
            time.sleep(0.1)
        time.sleep(0.5)  # the slow body's first bytes read
        started = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 6, "a stop must not wait for hung fetches"
    assert proc.returncode == 130, err
    result = json.loads(out)
    assert result["capture_status"] == "interrupted" and result["left"] == 2
    manifest = custody.manifest(result["capture_id"])
    bodies = {h.get_header("WARC-Target-URI"): (h, b) for h, b in
              warc_records(custody.root, manifest) if h.get_header("WARC-Type") == "response"}
    assert b"fetched before the stop" in bodies[site.url + "/ok.txt"][1]
    headers, body = bodies[raw.url + "/slow-body"]  # what came before the stop is kept
    assert b"beginning of the body" in body
    assert headers.get_header("WARC-Truncated") == "unspecified"
    assert custody.verify()[0] == 0


HTML = b"Content-Type: text/html\r\n"
MALFORMED = {  # what servers may send: every header value custody reads, gone wrong
    "/length-digits": b"HTTP/1.1 200 OK\r\n" + HTML + b"Content-Length: " + b"9" * 5000
                      + b"\r\n\r\n<p>five thousand digits</p>",
    "/length-super": b"HTTP/1.1 200 OK\r\n" + HTML + b"Content-Length: \xc2\xb2\r\n\r\nab",
    "/length-latin1": b"HTTP/1.1 200 OK\r\n" + HTML + b"Content-Length: \xb2\r\n\r\nab",
    "/length-negative": b"HTTP/1.1 200 OK\r\n" + HTML + b"Content-Length: -5\r\n\r\nab",
    "/status-super": b"HTTP/1.1 \xb200 OK\r\n" + HTML + b"Content-Length: 5\r\n\r\nhello",
    "/status-long": b"HTTP/1.1 " + b"2" * 5000 + b" OK\r\nContent-Length: 2\r\n\r\nok",
    "/retry-super": b"HTTP/1.1 503 Busy\r\nRetry-After: \xb2\r\nContent-Length: 4\r\n\r\nbusy",
    "/retry-digits": b"HTTP/1.1 503 Busy\r\nRetry-After: " + b"9" * 5000
                     + b"\r\nContent-Length: 4\r\n\r\nbusy",
    "/retry-date": b"HTTP/1.1 503 Busy\r\nRetry-After: Wed, 31 Feb 99999 25:61:61 GMT\r\n"
                   b"Content-Length: 4\r\n\r\nbusy",
    "/charset": b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=\xff\xfe-no-such\r\n"
                b"Content-Length: 21\r\n\r\n<p>charset junk</p>\r\n",
    "/type-junk": b"HTTP/1.1 200 OK\r\nContent-Type: \x01;;=;charset=;\xb2\r\n"
                  b"Content-Length: 2\r\n\r\nok",
    "/encoding": b"HTTP/1.1 200 OK\r\n" + HTML + b"Content-Encoding: gzip, \xb2\r\n"
                 b"Content-Length: 18\r\n\r\n<p>not gzip</p>\r\n",
    "/chunk-super": b"HTTP/1.1 200 OK\r\n" + HTML + b"Transfer-Encoding: chunked\r\n\r\n"
                    b"\xb2\r\nab\r\n0\r\n\r\n",
    "/chunk-digits": b"HTTP/1.1 200 OK\r\n" + HTML + b"Transfer-Encoding: chunked\r\n\r\n"
                     + b"f" * 5000 + b"\r\nab\r\n0\r\n\r\n",
    "/chunk-negative": b"HTTP/1.1 200 OK\r\n" + HTML + b"Transfer-Encoding: chunked\r\n\r\n"
                       b"-5\r\nab\r\n0\r\n\r\n",
}


def test_malformed_header_values_from_servers_are_kept_and_never_crash(
        custody: Custody, raw: RawServer) -> None:
    """Every answer is kept as evidence (a response, or the bytes as a resource beside a
    failure); the capture seals and verifies; its WARC files check, by custody and warcio."""
    raw.scripts.update(MALFORMED)
    result = custody("archive", "--json", "--retries", "1", "--timeout", "5",
                     *(raw.url + path for path in MALFORMED))
    assert result.exit_code in (0, 5), result.output
    assert "Traceback" not in result.output
    manifest = custody.manifest(json.loads(result.stdout)["capture_id"])
    kept = {h.get_header("WARC-Target-URI") for h, _ in warc_records(custody.root, manifest)
            if h.get_header("WARC-Type") in ("response", "resource")}
    assert kept == {raw.url + path for path in MALFORMED}, kept
    assert custody.verify()[0] == 0
    for warc in manifest["warc_files"]:
        path = str(custody.root / warc["path"])
        checked = custody("check", path)
        assert checked.exit_code == 0, checked.output
        assert subprocess.run([WARCIO, "check", path]).returncode == 0
