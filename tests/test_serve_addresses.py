"""The addresses `custody serve` gives: the one it prints, and the replay's on a capture's
page, answer as printed, over TLS (the replay's link on https, as its server is) and on
IPv6's loopback (the address in brackets, the replay on localhost, another site)."""

from __future__ import annotations

import html
import os
import re
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from conftest import CHROMIUM, Custody, needs_chromium
from custody.testing.serving import serving
from custody.testing.site import Page, SiteServer

CUSTODY = str(Path(sys.executable).with_name("custody"))
TEXT = "A statement the replay must show, from the sealed WARC."


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Custody, str, str]]:
    base = tmp_path_factory.mktemp("addresses")
    runner = Custody(base / "evidence", base / "keys" / "id_ed25519")
    runner.ok("init", "--no-tsa", "--operator", "tester@example.org")
    page = f"<!doctype html><title>statement</title><p id=t>{TEXT}</p>".encode()
    with SiteServer({"/statement.html": Page(page, "text/html; charset=utf-8")}) as site:
        url = site.url + "/statement.html"
        yield runner, runner.archive(url)["capture_id"], url


def _replayed(client: httpx.Client, capture_id: str, verify: ssl.SSLContext | bool = True
              ) -> tuple[str, str]:
    """The capture's page's replay link, fetched, and its replayed page alone (the
    workbench's frame): the link, and what the frame's address answers."""
    page = client.get(f"/captures/{capture_id}")
    assert page.status_code == 200, page.text
    link = re.search(r'<a href="([^"]+)" target="_blank"[^>]*>Open it alone', page.text)
    frame = re.search(r'<iframe class="replay" src="([^"]+)"', page.text)
    assert link and frame, "no replay on the capture's page"
    address = html.unescape(link.group(1))
    answers = [httpx.get(html.unescape(found), verify=verify, timeout=60,
                         follow_redirects=True, headers={"X-Forwarded-Proto": "http"})
               for found in (address, frame.group(1))]
    assert [a.status_code for a in answers] == [200, 200], address
    return address, answers[1].text


@needs_chromium
def test_over_tls_the_replay_is_on_https_and_pywb_says_so(
        captured: tuple[Custody, str, str], tmp_path: Path) -> None:
    """pywb writes the replay's own URLs (wombat's script, its prefix) on https, even
    for a client that claims http (X-Forwarded-Proto is the replay's to say)."""
    runner, capture_id, url = captured
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    with serving(runner.root, "--certfile", str(tmp_path / "cert.pem"),
                 "--keyfile", str(tmp_path / "key.pem")) as served:
        assert served.base.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        with httpx.Client(base_url=served.base, verify=trusted, timeout=60) as client:
            assert client.get(f"/?token={served.token}").status_code == 303
            address, replayed = _replayed(client, capture_id, trusted)
        shown = _in_chromium(served.base, served.token, capture_id)
    origin = address.split("/")[2]
    assert address.startswith("https://localhost:") and address.endswith(url)
    assert TEXT in replayed
    assert f"https://{origin}/static/wombat.js" in replayed, replayed[:3000]
    assert f"http://{origin}" not in replayed
    assert shown == (TEXT, True)  # the frame replays, wombat in it


def _in_chromium(base: str, token: str | None, capture_id: str) -> tuple[str, bool]:
    """The capture's page in Chromium (its certificate's errors ignored): the text of the
    replay's frame, and whether pywb's wombat runs in it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"] if os.geteuid() == 0 else [])
        try:
            page = browser.new_context(ignore_https_errors=True).new_page()
            page.goto(f"{base}/?token={token}")
            page.goto(f"{base}/captures/{capture_id}", wait_until="networkidle")
            frame = next(f for f in page.frames if "/mp_/" in f.url)
            frame.wait_for_selector("#t", timeout=30_000)
            return frame.inner_text("#t"), frame.evaluate(
                "() => !!(self._WB_wombat_location || self.WB_wombat_location)")
        finally:
            browser.close()


@needs_chromium
@pytest.mark.parametrize("args, replay", [
    (("--host", "::1"), "http://localhost:"),
    (("--host", "[::1]", "--replay-host", "127.0.0.1"), "http://127.0.0.1:"),
    (("--host", "::1", "--replay-host", "::1"), "http://[::1]:"),
], ids=["localhost", "replay-host-v4", "replay-host-v6"])
def test_on_ipv6_loopback_the_printed_address_and_the_replay_answer(
        captured: tuple[Custody, str, str], args: tuple[str, ...], replay: str) -> None:
    """In httpx; and in Chromium for an IPv6 replay, which a policy cannot name (the
    frame's is named by its port alone), and for localhost, which it resolves itself."""
    runner, capture_id, url = captured
    with serving(runner.root, *args) as served:
        assert re.fullmatch(r"http://\[::1\]:\d+", served.base), served.base
        client = served.signed_in()
        try:
            address, replayed = _replayed(client, capture_id)
        finally:
            client.close()
        if "127.0.0.1" not in replay:  # (a name httpx resolves as Chromium does)
            assert _in_chromium(served.base, served.token, capture_id) == (TEXT, True)
    assert address.startswith(replay) and address.endswith(url)
    assert TEXT in replayed


def test_one_port_for_both_servers_is_refused(captured: tuple[Custody, str, str]) -> None:
    runner = captured[0]
    done = subprocess.run([CUSTODY, "serve", "--root", str(runner.root), "--port", "48123",
                           "--replay-port", "48123"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and not done.stdout
    assert done.stderr.splitlines() == ["custody: error: --port and --replay-port are both "
                                        "48123: the replay needs a port of its own"]


def test_a_pywb_that_died_is_said_once_on_the_terminal(captured: tuple[Custody, str, str]
                                                       ) -> None:
    from custody.testing.bench import tree

    runner, capture_id, _ = captured
    with serving(runner.root) as served:
        (pywb,) = [pid for pid in tree(served.process.pid)[1:]
                   if b"wayback" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        os.kill(pywb, signal.SIGKILL)
        client = served.signed_in()
        try:
            page = client.get(f"/captures/{capture_id}").text
            frame = re.search(r'<iframe class="replay" src="([^"]+)"', page)
            assert frame
            for _ in range(2):
                answer = httpx.get(html.unescape(frame.group(1)), timeout=60)
                assert answer.status_code == 502, answer.text
        finally:
            client.close()
    assert served.process.stderr is not None
    said = served.process.stderr.read()
    assert said.count("replay: pywb did not answer") == 1, said
