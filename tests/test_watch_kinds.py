"""The other kinds of change, each from real captures of the changing site: a passing
error (503) is none; media taken out; a page that says it is not available; the page
back again; a part the watch ignores by CSS selector, and the same part raising a change
for a watch that does not."""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from typing import Any

import pytest

from conftest import Custody
from custody.testing.changing import ChangingSite
from custody.testing.site import Page, SiteServer
from test_watch import changes, next_interval, run_once

# a page of sixteen paragraphs, for a watch's run to cut short
STATEMENT = Page("<html><head><title>Statement</title></head><body>{}</body></html>".format(
    "".join(f"<p>Paragraph {i} of the statement, as the ministry published it.</p>"
            for i in range(16))).encode(), "text/html; charset=utf-8")


def by_url(outcomes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["url"].rsplit("/", 1)[1]: o for o in outcomes}


def test_media_unavailable_returned_and_ignored_parts(custody: Custody) -> None:
    with ChangingSite() as site:
        custody.ok("watch", "add", site.url + "/statement", "--every", "1s",
                   "--ignore", ".live-feed", "--ignore", "footer")
        custody.ok("watch", "add", site.url + "/statement?feed=1", "--every", "1s")
        first = by_url(run_once(custody, "--host-gap", "0.1"))
        assert {o["status"] for o in first.values()} == {"baseline"}
        seen = []
        for phase in ("busy", "media", "unavailable", "original"):
            site.phase = phase
            next_interval()
            seen.append(by_url(run_once(custody, "--host-gap", "0.1")))
        watched = [s["statement"] for s in seen]
        assert [o["status"] for o in watched] == ["site-error", "changed", "changed", "changed"]
        assert [o["kinds"] for o in watched] == [[], ["media-removed"], ["gone"], ["returned"]]
        # the watch that does not ignore the live feed sees it change every time it answers
        assert [s["statement?feed=1"]["kinds"] for s in seen] == \
            [[], ["text", "media-removed"], ["gone"], ["returned", "text"]]

    found = [c for c in changes(custody) if c["url"].endswith("/statement")]
    returned, unavailable, media = found
    assert media["counts"] == {"added": 0, "removed": 0, "edited": 0, "media_removed": 1}
    assert "- media " in media["diff"] and "/media/convoy.png" in media["diff"]
    assert "banner" not in media["diff"]  # the rotating ad's banner is no media of the page
    assert unavailable["reason"] == "says it is not available"
    assert "+ This statement is no longer available." in unavailable["diff"]
    assert returned["reason"].startswith("there again (it says it is not available in ")
    # the 503's capture is sealed, and compared with nothing: media's is with the first
    assert media["before_capture"] == first["statement"]["capture_id"]


def test_a_new_certificate_is_a_change(custody: Custody, ca: Any, ca_file: str) -> None:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with ChangingSite(tls=context) as site:
        custody.ok("watch", "add", site.url + "/statement", "--every", "1s", "--ignore",
                   ".live-feed")
        assert [o["status"] for o in run_once(custody, "--ca-bundle", ca_file)] == ["baseline"]
        next_interval()
        assert [o["status"] for o in run_once(custody, "--ca-bundle", ca_file)] == ["same"]
        ca.issue_cert("127.0.0.1").configure_cert(context)  # renewed: another key and serial
        next_interval()
        assert [o["kinds"] for o in run_once(custody, "--ca-bundle", ca_file)] == [["tls"]]
    (change,) = changes(custody)
    assert change["reason"].startswith("the server's certificate changed (sha256 ")
    assert "- certificate sha256 " in change["diff"] and "+ certificate sha256 " in change["diff"]


def test_a_browser_watch_compares_what_the_browser_rendered(custody: Custody) -> None:
    """The page's text is written by a script: its HTML never changes where a reader
    looks, the rendered DOM does. A run captures as `custody archive --browser` does, its
    page behaviours run and its page replayed before sealing, unless `watch run` is told
    otherwise."""
    with ChangingSite() as site:
        custody.ok("watch", "add", site.url + "/scripted", "--every", "1s", "--browser")
        (first,) = run_once(custody)
        assert first["status"] == "baseline"
        site.phase = "edited"
        next_interval()
        (second,) = run_once(custody, "--behaviors", "none", "--no-replay-check")
        assert second["kinds"] == ["text"]
    (change,) = changes(custody)
    assert "- Officials said the crossing would stay open for three days." in change["diff"]
    assert "+ Officials said the crossing would stay open for one day only." in change["diff"]
    (full,) = custody.manifest(first["capture_id"])["visits"]
    assert full["behaviors"]["ran"] and full["replay"]["engine"] == "pywb", full
    (bare,) = custody.manifest(second["capture_id"])["visits"]
    assert "behaviors" not in bare and "replay" not in bare, bare


def test_redirects_to_another_host(custody: Custody) -> None:
    """A redirect the capture does not follow (another host, a meta refresh) still says
    where it goes: to a login page, the page is gone; elsewhere, it was redirected."""
    with ChangingSite() as site:
        custody.ok("watch", "add", site.url + "/statement", "--every", "1s", "--ignore",
                   ".live-feed")
        run_once(custody, "--host-gap", "0")
        kinds = []
        for phase in ("moved", "elsewhere", "elsewhere", "original", "refresh"):
            site.phase = phase
            next_interval()
            kinds += [o["kinds"] for o in run_once(custody, "--host-gap", "0")]
    assert kinds == [["redirected"], ["gone"], [], ["returned"], ["gone"]]
    refresh, returned, login, moved = changes(custody)
    assert refresh["reason"].startswith("redirects to a login page (http://127.0.0.1:")
    assert returned["counts"] == {"added": 0, "removed": 0, "edited": 0}
    assert moved["reason"] == f"now redirects to http://localhost:{site.url.rsplit(':', 1)[1]}" \
        "/w/1 (another site: not followed)"
    assert login["reason"].startswith("redirects to a login page (http://localhost:")


def test_a_site_that_hangs_holds_back_no_other_watch_for_long(custody: Custody) -> None:
    """Its capture is bounded (--timeout, --time-limit), sealed as it failed, and no
    change; next time it waits behind the watches whose sites answer."""
    with ChangingSite() as site:
        custody.ok("watch", "add", site.url + "/hang", "--every", "1s")
        custody.ok("watch", "add", site.url + "/statement", "--every", "1s", "--ignore",
                   ".live-feed")
        options = ("--host-gap", "0", "--timeout", "0.5", "--time-limit", "1")
        started = time.monotonic()
        first = run_once(custody, *options)
        assert time.monotonic() - started < 10
        assert {o["url"].rsplit("/", 1)[1]: o["status"] for o in first} == \
            {"hang": "site-error", "statement": "baseline"}
        next_interval()
        second = run_once(custody, *options)
        assert [o["url"].rsplit("/", 1)[1] for o in second] == ["statement", "hang"]
        assert [o["status"] for o in second] == ["same", "site-error"]
    assert changes(custody) == []


def test_a_name_that_no_longer_resolves_is_gone(custody: Custody,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The site's name stops resolving (its domain lapsed, or was taken down): the page
    is gone, said so, and there again once the name resolves. The name is served by a
    resolver of the test's own (the system's, for every other name), so that it can be
    taken away between two runs."""
    real = socket.getaddrinfo
    names = {"statement.watch.test": "127.0.0.1"}

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".watch.test"):
            if host not in names:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            host = names[host]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with ChangingSite() as site:
        url = site.url.replace("127.0.0.1", "statement.watch.test") + "/statement"
        custody.ok("watch", "add", url, "--every", "1s", "--ignore", ".live-feed")
        assert [o["status"] for o in run_once(custody)] == ["baseline"]
        del names["statement.watch.test"]
        next_interval()
        assert [o["kinds"] for o in run_once(custody)] == [["gone"]]
        next_interval()
        assert [o["status"] for o in run_once(custody)] == ["same"]  # still gone: no news
        names["statement.watch.test"] = "127.0.0.1"
        next_interval()
        assert [o["kinds"] for o in run_once(custody)] == [["returned"]]
    returned, gone = changes(custody)
    assert gone["reason"] == "has a name that no longer resolves (DNS)"
    assert "+ no answer: host name does not resolve" in gone["diff"]
    assert returned["reason"].startswith(
        "there again (it has a name that no longer resolves (DNS) in ")


@pytest.mark.parametrize("args", [("--screenshot-threshold", "5%"),
                                  ("--browser", "--screenshot-threshold", "0"),
                                  ("--browser", "--screenshot-threshold", "101%"),
                                  ("--browser", "--screenshot-threshold", "2.55"),
                                  ("--browser", "--screenshot-threshold", "nan")])
def test_a_threshold_that_cannot_be_used_is_refused(custody: Custody,
                                                    args: tuple[str, ...]) -> None:
    result = custody("watch", "add", "https://example.org/", *args)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "threshold" in result.stderr
    assert custody.ok("watch", "list", "--json").stdout.count('"id"') == 0


def test_a_run_cut_short_by_ctrl_c_is_compared_with_nothing(custody: Custody) -> None:
    """Ctrl-C while the page still comes in: its capture is sealed as far as it got, as
    interrupted, and compared with nothing (what it holds is not the page: half of it
    would read as paragraphs removed); the next run is compared with the last whole one,
    and finds nothing changed. `watch run --once` exits 130, as `archive` does."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    pages = {"/s": STATEMENT}
    with SiteServer(pages) as site:
        custody.ok("watch", "add", site.url + "/s", "--every", "1s")
        assert [o["status"] for o in run_once(custody)] == ["baseline"]
        next_interval()
        pages["/s"] = replace(STATEMENT, dribble=1.0)  # ten slow slices
        asked = len(site.requests)
        env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key))
        proc = subprocess.Popen([str(Path(sys.executable).with_name("custody")), "watch",
                                 "run", "--once", "--json"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while len(site.requests) == asked and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(2.5)  # a few slices in
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, err
        import json

        (cut,) = json.loads(out)["outcomes"]
        assert cut["status"] == "interrupted" and not cut.get("change"), cut
        assert custody.manifest(cut["capture_id"])["status"] == "interrupted"
        pages["/s"] = STATEMENT
        next_interval()
        assert [o["status"] for o in run_once(custody)] == ["same"]
    assert changes(custody) == []


@pytest.mark.parametrize(("charset", "words"), [
    ("utf-8", ("این نسخه", "بیانیه وزارت است.", "یک", "دو")),
    ("windows-1256", ("هذه هي النسخة", "من بيان الوزارة.", "الأولى", "الثانية")),
    ("koi8-r", ("Это", "версия заявления министерства.", "первая", "вторая"))])
def test_a_page_whose_charset_only_its_response_names_is_read_in_it(
        custody: Custody, charset: str, words: tuple[str, str, str, str]) -> None:
    """No meta tag: the response's Content-Type alone says how its bytes are text. The
    diff (signed into the log, sent to the targets) shows the words, not mojibake."""
    head, tail, before, after = words

    def page(word: str) -> Page:
        html = (f"<html><head><title>{tail}</title></head><body><p>{head} {word} {tail}"
                "</p></body></html>")
        return Page(html.encode(charset), f"text/html; charset={charset}")

    pages = {"/page": page(before)}
    with SiteServer(pages) as site:
        custody.ok("watch", "add", site.url + "/page", "--every", "1s")
        assert [o["status"] for o in run_once(custody)] == ["baseline"]
        pages["/page"] = page(after)
        next_interval()
        assert [o["kinds"] for o in run_once(custody)] == [["text"]]
    (change,) = changes(custody)
    assert f"- {head} {before} {tail}" in change["diff"], change["diff"]
    assert f"+ {head} {after} {tail}" in change["diff"], change["diff"]


def test_a_page_cut_at_the_timeout_is_compared_with_nothing(custody: Custody) -> None:
    """A page that comes in slower than the watch's --timeout is sealed as far as it
    came, its response marked truncated: compared with nothing (half of it would read as
    paragraphs removed), exit 5; the next whole capture is compared with the last whole
    one."""
    import json

    pages = {"/s": STATEMENT}
    with SiteServer(pages) as site:
        custody.ok("watch", "add", site.url + "/s", "--every", "1s")
        assert [o["status"] for o in run_once(custody)] == ["baseline"]
        next_interval()
        pages["/s"] = replace(STATEMENT, dribble=1.0)  # ten slow slices
        cut = custody("watch", "run", "--once", "--json", "--timeout", "3")
        assert cut.exit_code == 5, cut.output
        (outcome,) = json.loads(cut.stdout)["outcomes"]
        assert outcome["status"] == "truncated" and not outcome.get("change"), outcome
        assert "its response was cut short" in outcome["error"], outcome
        pages["/s"] = STATEMENT
        next_interval()
        assert [o["status"] for o in run_once(custody)] == ["same"]
    assert changes(custody) == []
