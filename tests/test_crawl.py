"""Crawling many pages: depth and scope, limits, retries, the private-address guard, resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import SEEDS, Custody
from custody.capture.rules import Rules, compile_pattern
from custody.core.urls import normalise
from custody.testing.site import Page, SiteServer, crawl_site
from test_archive import warc_records

CUSTODY = str(Path(sys.executable).with_name("custody"))


@pytest.fixture
def canary() -> Iterator[SiteServer]:
    """A server on another loopback address that the crawler must never reach by itself."""
    with SiteServer({"/canary": Page(b"secret", "text/plain")}, host="127.0.0.2") as server:
        yield server


@pytest.fixture
def big_site(canary: SiteServer) -> Iterator[SiteServer]:
    with SiteServer(crawl_site(SEEDS, 120, other=canary.url), latency=0.002) as server:
        yield server


def fetched(server: SiteServer) -> Counter[str]:
    return Counter(server.requests)


def test_depth_zero_is_the_page_and_its_requisites(custody: Custody, big_site: SiteServer) -> None:
    result = custody.archive(big_site.url + "/section/p5.html")
    assert result["resources"] == 3  # the page, its stylesheet, its image
    assert custody.verify()[0] == 0


def test_depth_one_follows_links_once_each(custody: Custody, big_site: SiteServer,
                                           canary: SiteServer) -> None:
    result = custody.archive(big_site.url + "/", extra=("--depth", "1", "--concurrency", "8"))
    counts = fetched(big_site)
    pages = [p for p in counts if p.startswith("/section/")]
    assert len(pages) == 120
    assert max(counts.values()) == 1, [p for p, n in counts.items() if n > 1]
    assert "/img/7.png" in counts and "/static/crawl.css" in counts
    # scope host: /elsewhere/ is on the host; the other host and the metadata address are not
    assert "/elsewhere/outside.html" in counts
    assert canary.requests == []
    assert result["invalid_links"] >= 1
    assert custody.verify()[0] == 0


@pytest.mark.parametrize("scope, want_outside", [("prefix", False), ("host", True)])
def test_scope(custody: Custody, big_site: SiteServer, scope: str, want_outside: bool) -> None:
    custody.archive(big_site.url + "/section/p0.html", extra=("--depth", "3", "--scope", scope))
    counts = fetched(big_site)
    assert "/section/p9.html" in counts and "/section/p10.html" not in counts
    assert ("/elsewhere/outside.html" in counts) is False  # not linked from p0..p9
    del want_outside


def test_scope_rules() -> None:
    seed = "https://www.example.org/reports/2026/index.html"
    cases = {
        "page": [],
        "prefix": ["https://www.example.org/reports/2026/b.html"],
        "host": ["https://www.example.org/reports/2026/b.html", "https://www.example.org/x"],
        "domain": ["https://www.example.org/x", "https://news.example.org/y",
                   "https://example.org/z", "https://www.example.org/reports/2026/b.html"],
    }
    urls = ["https://www.example.org/reports/2026/b.html", "https://www.example.org/x",
            "https://news.example.org/y", "https://example.org/z", "https://other.org/"]
    for scope, want in cases.items():
        rules = Rules(scope=scope)
        assert sorted(u for u in urls if rules.in_scope(u, seed)) == sorted(want), scope
    rules = Rules(scope="host", include=[compile_pattern(r"other\.org")],
                  exclude=[compile_pattern(r"/x$")])
    assert rules.in_scope("https://other.org/", seed)
    assert not rules.in_scope("https://www.example.org/x", seed)


def test_url_normalisation() -> None:
    assert normalise("HTTP://Example.ORG:80/a%2fb%7e?q=%41#frag") == "http://example.org/a%2Fb~?q=A"
    assert normalise("https://example.org:443") == "https://example.org/"
    assert normalise("https://example.org:8443/x y") == "https://example.org:8443/x%20y"
    assert normalise("http://bücher.example/") == "http://xn--bcher-kva.example/"
    assert normalise("http://example.org/a/./b/../c") == normalise("http://example.org/a/c")
    assert normalise("http://example.org/a/%2E/b/%2e%2E/c?x=/./") == \
        "http://example.org/a/c?x=/./"  # the query is not a path


@pytest.mark.parametrize("path, want", [  # RFC 3986 5.4.1 and 5.4.2, as paths
    ("/b/c/./g", "/b/c/g"), ("/b/c/g/", "/b/c/g/"), ("/b/c/..", "/b/"), ("/b/c/../", "/b/"),
    ("/b/c/../g", "/b/g"), ("/b/c/../..", "/"), ("/b/c/../../g", "/g"),
    ("/b/c/../../../g", "/g"), ("/./g", "/g"), ("/../g", "/g"), ("/g.", "/g."),
    ("/.g", "/.g"), ("/g..", "/g.."), ("/..g", "/..g"), ("/b/c/./../g", "/b/g"),
    ("/b/c/./g/.", "/b/c/g/"), ("/b/c/g/./h", "/b/c/g/h"), ("/b/c/g/../h", "/b/c/h"),
    ("/a/b/c/./../../g", "/a/g"), ("mid/content=5/../6", "mid/6"),
])
def test_dot_segments(path: str, want: str) -> None:
    from custody.core.urls import remove_dot_segments

    assert remove_dot_segments(path) == want


def test_include_exclude_and_max_pages(custody: Custody, big_site: SiteServer) -> None:
    custody.archive(big_site.url + "/", extra=("--depth", "1", "--exclude", r"p1\d\.html",
                                               "--exclude", r"\.png$", "--max-pages", "30"))
    counts = fetched(big_site)
    pages = [p for p in counts if p.startswith("/section/")]
    assert len(pages) + 1 == 30  # the index is one of the 30
    assert not [p for p in pages if re.search(r"p1\d\.html", p)]
    assert not [p for p in counts if p.endswith(".png")]
    (capture,) = custody.query("select id from captures")
    m = custody.manifest(capture["id"])
    assert m["stopped"] == "max-pages" and m["status"] == "complete"


def test_max_bytes_truncates_and_marks_the_record(custody: Custody) -> None:
    body = b"<html><body><p>" + b"A" * 50_000 + b"</p></body></html>"
    with SiteServer({"/big.html": Page(body, "text/html")}) as server:
        result = custody.archive(server.url + "/big.html", extra=("--max-bytes", "10k"))
    records = warc_records(custody.root, custody.manifest(result["capture_id"]))
    (headers, raw) = next((h, r) for h, r in records if h.get_header("WARC-Type") == "response")
    assert headers.get_header("WARC-Truncated") == "length"
    assert len(raw.split(b"\r\n\r\n", 1)[1]) == 10 * 1024
    assert custody.verify()[0] == 0
    ok = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check",
                         *(str(custody.root / f["path"]) for f in
                           custody.manifest(result["capture_id"])["warc_files"])])
    assert ok.returncode == 0


def test_text_is_extracted_from_what_the_warc_holds_not_from_the_wire(custody: Custody) -> None:
    """With --max-bytes the record keeps the first 2 KB of a body that arrived whole: the
    text in the database must be the text of the record, so a word past the cut is not."""
    words = " ".join(["statement"] * 300)  # about 3 KB
    body = f"<html><body><article><p>{words}</p><p>zebra crossing</p></article></body></html>"
    with SiteServer({"/cut.html": Page(body.encode(), "text/html")}) as server:
        result = custody.archive(server.url + "/cut.html", extra=("--max-bytes", "2k"))
    (doc,) = custody.query("select text from documents")
    assert "statement" in doc["text"] and "zebra" not in doc["text"]
    assert custody.ok("search", "--json", "zebra").stdout.strip() == "[]"
    assert custody.manifest(result["capture_id"])["documents"]


def test_retries_honour_retry_after(custody: Custody) -> None:
    pages = {"/busy.html": Page(b"<html><body><p>finally</p></body></html>", "text/html",
                                fail_first=1, fail_status=503, retry_after="1"),
             "/limited.html": Page(b"<html><body><p>ok</p></body></html>", "text/html",
                                   fail_first=2, fail_status=429)}
    with SiteServer(pages) as server:
        start = time.monotonic()
        result = custody.archive(server.url + "/busy.html", server.url + "/limited.html")
        took = time.monotonic() - start
        counts = fetched(server)
    assert counts["/busy.html"] == 2 and counts["/limited.html"] == 3
    assert took >= 1.0  # waited as the server asked
    assert result["status"] == "success" and result["retried"] == 3
    statuses = sorted(r["status_code"] for r in custody.query("select status_code from resources"))
    assert statuses == [200, 200, 429, 429, 503]  # every answer is evidence
    assert custody.verify()[0] == 0


def test_private_addresses_are_not_reached_from_links(custody: Custody, big_site: SiteServer,
                                                      canary: SiteServer) -> None:
    # scope any puts the canary in scope: only the guard stands between
    result = custody("archive", "--json", "--depth", "1", "--scope", "any", big_site.url + "/")
    body = json.loads(result.stdout)
    blocked = {f["url"]: f["reason"] for f in body["failures"] if f["kind"] == "blocked"}
    assert canary.url + "/canary" in blocked
    assert "http://169.254.169.254/latest/meta-data/" in blocked
    assert canary.requests == []
    assert custody.verify()[0] == 0


def test_seeds_the_user_typed_are_allowed(custody: Custody, canary: SiteServer) -> None:
    custody.archive(canary.url + "/canary")  # typed by the user: allowed
    assert canary.requests == ["/canary"]


def test_allow_private_lets_links_reach_private_addresses(custody: Custody,
                                                          big_site: SiteServer,
                                                          canary: SiteServer) -> None:
    crawl = ("--depth", "1", "--scope", "page", "--include", "canary")
    refused = custody.archive(big_site.url + "/", extra=crawl)
    assert canary.requests == []
    assert any(f["kind"] == "blocked" and f["url"] == canary.url + "/canary"
               for f in refused["failures"])
    allowed = custody.archive(big_site.url + "/", extra=(*crawl, "--allow-private"))
    assert canary.requests == ["/canary"]
    assert not [f for f in allowed["failures"] if f["kind"] == "blocked"
                and f["url"] == canary.url + "/canary"]


def test_warc_rollover(custody: Custody, big_site: SiteServer) -> None:
    result = custody.archive(big_site.url + "/", extra=("--depth", "1", "--warc-size", "20k"))
    files = custody.manifest(result["capture_id"])["warc_files"]
    assert len(files) > 3
    assert all(re.search(r"-\d{5}\.warc\.gz$", f["path"]) for f in files)
    assert custody.verify()[0] == 0


def test_urls_from_a_file_and_stdin(custody: Custody, big_site: SiteServer,
                                    tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text(f"# a list\n\n{big_site.url}/section/p1.html\n  "
                       f"{big_site.url}/section/p2.html  \n# done\n")
    result = custody("archive", "--json", "--no-requisites", "--from", str(listing), "-",
                     input=f"{big_site.url}/section/p3.html\n")
    assert result.exit_code == 0, result.output
    urls = {r["url"] for r in custody.query("select url from resources")}
    assert urls == {f"{big_site.url}/section/p{i}.html" for i in (1, 2, 3)}


def _start(custody: Custody, *args: str) -> subprocess.Popen:
    env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key))
    return subprocess.Popen([CUSTODY, "archive", "--json", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_records(custody: Custody, n: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = list((custody.root / ".custody" / "crawls").glob("*/state.db"))
        if states:
            import sqlite3

            try:
                with sqlite3.connect(states[0]) as conn:
                    if conn.execute("select count(*) from records").fetchone()[0] >= n:
                        return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    raise AssertionError("the crawl did not get going")


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for init to reap it."""
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


@pytest.fixture
def slow_site() -> Iterator[SiteServer]:
    with SiteServer(crawl_site(SEEDS, 60), latency=0.05) as server:
        yield server


def test_ctrl_c_seals_what_was_fetched_and_resume_finishes(custody: Custody,
                                                          slow_site: SiteServer) -> None:
    proc = _start(custody, "--depth", "1", "--concurrency", "2", slow_site.url + "/")
    _wait_for_records(custody, 20)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    first = json.loads(out)
    assert first["capture_status"] == "interrupted" and first["left"] > 0
    assert "--resume" in err
    assert custody.verify()[0] == 0
    second = custody.archive(extra=("--resume",))
    assert second["capture_status"] == "complete"
    assert custody.manifest(second["capture_id"])["continues"] == first["capture_id"]
    counts = fetched(slow_site)
    assert max(counts.values()) == 1  # nothing fetched twice across the two captures
    assert len([p for p in counts if p.startswith("/section/")]) == 60
    assert custody.verify()[0] == 0


def test_a_second_ctrl_c_says_how_to_seal_what_was_fetched(custody: Custody,
                                                           slow_site: SiteServer) -> None:
    proc = _start(custody, "--depth", "1", "--concurrency", "2", slow_site.url + "/")
    _wait_for_records(custody, 10)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)  # impatient: the seal is not waited for
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    if "custody: error:" in err:  # (the first may have sealed already)
        assert err.strip().splitlines()[-1] == (
            "custody: error: interrupted before the capture was sealed: what was fetched "
            "is kept, and `custody archive --resume` seals it and goes on"), err
    assert "Traceback" not in err
    done = custody.archive(extra=("--resume",))
    assert done["capture_status"] == "complete"
    assert custody.verify()[0] == 0


def test_kill_9_loses_only_in_flight_pages_and_resume_finishes(custody: Custody,
                                                               slow_site: SiteServer) -> None:
    proc = _start(custody, "--depth", "1", "--concurrency", "2", slow_site.url + "/")
    _wait_for_records(custody, 30)
    workers = _children(proc.pid)
    assert workers  # the extraction workers are running
    proc.kill()
    proc.wait()
    time.sleep(1)
    assert not [pid for pid in workers if _alive(pid)], "extraction workers outlived the crawl"
    code, report = custody.verify()
    assert code in (0, 6) and report["summary"]["failed"] == 0, report
    assert any(".partial" in n for n in report["notes"])
    result = custody.archive(extra=("--resume",))
    assert result["capture_status"] == "complete"
    counts = fetched(slow_site)
    assert len([p for p in counts if p.startswith("/section/")]) == 60
    assert sum(n - 1 for n in counts.values()) <= 4  # at most the fetches in flight
    code, report = custody.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
    assert not list((custody.root / "archive").rglob("*.partial"))
    assert not list((custody.root / ".custody" / "crawls").glob("*"))


def test_nothing_to_resume(custody: Custody) -> None:
    result = custody("archive", "--resume")
    assert result.exit_code == 8


def test_time_limit_seals_what_was_fetched(custody: Custody, slow_site: SiteServer) -> None:
    start = time.monotonic()
    result = custody.archive(slow_site.url + "/", extra=("--depth", "1", "--concurrency", "1",
                                                         "--time-limit", "1"))
    assert time.monotonic() - start < 10
    m = custody.manifest(result["capture_id"])
    assert m["stopped"] == "time-limit" and 0 < result["resources"] < 120
    assert custody.verify()[0] == 0


def test_delay_spaces_requests_to_a_host(custody: Custody) -> None:
    pages = {f"/p{i}.html": Page(b"<html><body><p>x</p></body></html>", "text/html")
             for i in range(4)}
    with SiteServer(pages) as server:
        start = time.monotonic()
        custody.archive(*(server.url + p for p in pages), extra=("--delay", "0.4"))
        took = time.monotonic() - start
    assert took >= 1.2  # four requests, 0.4 s apart


def test_the_user_agent_is_the_browser_s_own_and_can_be_changed(custody: Custody) -> None:
    """By default the installed Chromium's agent, as it sends it to a person's pages (no
    "Headless", nothing that names an archiver), recorded in the manifest."""
    from custody.core.user_agent import chromium_major

    pages = {"/ua": Page(b"ok", "text/plain")}
    with SiteServer(pages) as server:
        first = custody.archive(server.url + "/ua")
        second = custody.archive(server.url + "/ua", extra=("--user-agent", "Mozilla/5.0 test"))
    default = custody.manifest(first["capture_id"])["settings"]["user_agent"]
    assert default.startswith("Mozilla/5.0 (X11; Linux x86_64)") and "Headless" not in default
    assert "custody" not in default.lower()
    major = chromium_major()
    assert major is None or f"Chrome/{major}.0.0.0" in default
    for result, want in ((first, default), (second, "Mozilla/5.0 test")):
        records = warc_records(custody.root, custody.manifest(result["capture_id"]))
        (request,) = [raw for h, raw in records if h.get_header("WARC-Type") == "request"]
        assert f"User-Agent: {want}\r\n".encode() in request


def test_respect_robots_is_off_by_default_and_obeyed_when_asked(custody: Custody) -> None:
    pages = {
        "/robots.txt": Page(b"User-agent: *\nDisallow: /private/\n", "text/plain"),
        "/": Page(b'<html><body><a href="/private/a.html">a</a><a href="/public.html">b</a>'
                  b"</body></html>", "text/html"),
        "/private/a.html": Page(b"<html><body><p>private</p></body></html>", "text/html"),
        "/public.html": Page(b"<html><body><p>public</p></body></html>", "text/html"),
    }
    with SiteServer(pages) as server:
        custody.archive(server.url + "/", extra=("--depth", "1"))
        assert "/private/a.html" in server.requests and "/robots.txt" not in server.requests
        server.requests.clear()
        custody.archive(server.url + "/", extra=("--depth", "1", "--respect-robots"))
        assert "/robots.txt" in server.requests and "/public.html" in server.requests
        assert "/private/a.html" not in server.requests
    assert custody.verify()[0] == 0


@pytest.mark.parametrize("junk", ["Crawl-delay: \u00b2", "Crawl-delay: " + "9" * 5000,
                                  "Request-rate: \u00b2/5", "Crawl-delay: -1"])
def test_robots_txt_with_numbers_that_are_not_is_still_obeyed(custody: Custody,
                                                              junk: str) -> None:
    """The standard library's parser takes "²" for a digit and fails on it: the line is
    left out, the rest obeyed, and the robots.txt archived as it came."""
    robots = f"User-agent: *\n{junk}\nDisallow: /private/\n".encode()
    pages = {
        "/robots.txt": Page(robots, "text/plain; charset=utf-8"),
        "/": Page(b'<html><body><a href="/private/a.html">a</a><a href="/public.html">b</a>'
                  b"</body></html>", "text/html"),
        "/private/a.html": Page(b"<html><body><p>private</p></body></html>", "text/html"),
        "/public.html": Page(b"<html><body><p>public</p></body></html>", "text/html"),
    }
    with SiteServer(pages) as server:
        result = custody("archive", "--json", "--depth", "1", "--respect-robots",
                         server.url + "/")
        assert result.exit_code == 0, result.output
        assert "/public.html" in server.requests and "/private/a.html" not in server.requests
    (kept,) = custody.query("select url from resources where url like '%/robots.txt'")
    assert kept["url"].endswith("/robots.txt")
    assert custody.verify()[0] == 0


def test_a_page_found_nearer_after_it_was_fetched_is_followed(custody: Custody) -> None:
    """S links to X (slow) and Y; Y -> W -> Z; X -> Z; Z -> Q. With --depth 3, Z is fetched
    at depth 3 through Y and W before slow X shows it is at depth 2: Q must still come."""
    def html(*links: str) -> bytes:
        return ("<html><body><p>text</p>" + "".join(f'<a href="{u}">{u}</a>' for u in links)
                + "</body></html>").encode()

    pages = {"/s.html": Page(html("/x.html", "/y.html"), "text/html"),
             "/x.html": Page(html("/z.html") + b" " * 2000, "text/html", dribble=0.15),
             "/y.html": Page(html("/w.html"), "text/html"),
             "/w.html": Page(html("/z.html"), "text/html"),
             "/z.html": Page(html("/q.html"), "text/html"),
             "/q.html": Page(html(), "text/html")}
    with SiteServer(pages) as server:
        custody.archive(server.url + "/s.html", extra=("--depth", "3"))
        order = list(server.requests)
    assert order.index("/z.html") < len(order) - 1  # Z came before slow X was done
    assert "/q.html" in order
    assert custody.verify()[0] == 0


def test_links_of_every_kind_are_followed(custody: Custody) -> None:
    """CSS read by a tokenizer (quoted urls with spaces, @import, @font-face, comments not
    followed), srcset, SVG images, video posters, sources, and <meta refresh>."""
    css = (b'@import "imported.css"; @import url(also.css);\n'
           b'/* url(/in-a-comment.png) */\n'
           b'body { background: url("/bg image.png") } '
           b'@font-face { font-family: x; src: url(/font.woff2) format("woff2") }')
    page = (b'<html><head><meta http-equiv="refresh" content="0; url=/moved.html">'
            b'<link rel=stylesheet href=/site.css>'
            b'<style>p { background: url(/inline.png) }</style></head><body>'
            b'<img srcset="/small.png 1x, /big.png 2x">'
            b'<svg><image href="/svg.png"/><image xlink:href="/svg2.png"/></svg>'
            b'<video poster="/poster.jpg"><source src="/clip.mp4"></video>'
            b'<p style="background-image: url(\'/styled.png\')">x</p></body></html>')
    pages = {"/": Page(page, "text/html"), "/site.css": Page(css, "text/css"),
             "/moved.html": Page(b"<html><body><p>moved</p></body></html>", "text/html")}
    for name in ("imported.css", "also.css", "bg image.png", "font.woff2", "inline.png",
                 "small.png", "big.png", "svg.png", "svg2.png", "poster.jpg", "clip.mp4",
                 "styled.png"):
        pages["/" + name.replace(" ", "%20")] = Page(b"x", "application/octet-stream")
    with SiteServer(pages) as server:
        result = custody.archive(server.url + "/")
        fetched_paths = set(server.requests)
    assert result["final_urls"][server.url + "/"] == server.url + "/moved.html"
    for path in pages:
        assert path in fetched_paths, path
    assert "/in-a-comment.png" not in fetched_paths


def test_referer_is_what_a_browser_sends_by_default() -> None:
    from custody.core.urls import referrer_header

    page = "https://example.org/news/statement.html?id=7#top"
    assert referrer_header(page, "https://example.org/style.css") == \
        "https://example.org/news/statement.html?id=7"
    assert referrer_header(page, "https://cdn.example.net/a.js") == "https://example.org/"
    assert referrer_header(page, "http://example.org/plain.css") is None  # a downgrade
    assert referrer_header("http://example.org/", "https://example.org/x") == \
        "http://example.org/"
    assert referrer_header("", "https://example.org/") is None


def test_a_pattern_that_backtracks_without_end_does_not_hold_the_crawl(
        custody: Custody) -> None:
    """``(a|aa)+b`` takes exponential time on a long run of a's: matched with Python's re
    it held the crawl (and the signals that stop it, and a worker's heartbeat) for
    minutes. Each match is now bounded: the URL it could not decide on is not followed,
    the others are, and the capture ends in seconds."""
    slow = ["/" + "a" * 40 + f"{n}!" for n in range(100)]  # 100 links of the site's
    links = "".join(f'<a href="{url}">x</a>' for url in slow)
    pages = {
        "/": Page(f'<html><body>{links} <a href="/fine.html">fine</a> '
                  '<a href="/api/{id}/x">api</a></body></html>'.encode(), "text/html"),
        "/fine.html": Page(b"<html><body>fetched</body></html>", "text/html"),
    }
    started = time.monotonic()
    with SiteServer(pages) as site:
        custody.archive(site.url + "/", extra=(
            "--depth", "1", "--exclude", r"(a|aa)+b", "--exclude", r"(\w+/)+logout",
            "--exclude", "/api/{id}/"))  # (regex would read {id} as a fuzzy match)
        asked = list(site.requests)
    assert time.monotonic() - started < 30
    assert "/fine.html" in asked and not set(slow) & set(asked)
    # a pattern only re reads as it is meant ({id}: literal) is matched by re
    assert compile_pattern("/api/{id}/").search("https://x.org/api/{id}/1")
    assert not compile_pattern("[[:digit:]]").search("https://x.org/page5")  # as re does
