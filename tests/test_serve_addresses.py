"""The addresses `custody serve` gives: the one it prints, and the replay's on a capture's
page, answer as printed, over TLS (the replay's link on https, as its server is) and on
IPv6's loopback (the address in brackets, the replay on localhost, another site)."""

from __future__ import annotations

import html
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from conftest import Custody
from custody.testing.serving import serving
from custody.testing.site import Page, SiteServer

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
              ) -> str:
    """The capture's page's replay link, fetched: what it answers."""
    page = client.get(f"/captures/{capture_id}")
    assert page.status_code == 200, page.text
    link = re.search(r'<a href="([^"]+)" target="_blank"[^>]*>Open it alone', page.text)
    assert link, "no replay link on the capture's page"
    address = html.unescape(link.group(1))
    answer = httpx.get(address, verify=verify, timeout=60, follow_redirects=True)
    assert answer.status_code == 200, (address, answer.status_code)
    return address


def test_over_tls_the_replay_is_linked_on_https(captured: tuple[Custody, str, str],
                                               tmp_path: Path) -> None:
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
            address = _replayed(client, capture_id, trusted)
    assert address.startswith("https://localhost:") and address.endswith(url)


def test_on_ipv6_loopback_the_printed_address_answers(captured: tuple[Custody, str, str]
                                                       ) -> None:
    runner, capture_id, url = captured
    with serving(runner.root, "--host", "::1") as served:
        assert re.fullmatch(r"http://\[::1\]:\d+", served.base), served.base
        client = served.signed_in()
        try:
            address = _replayed(client, capture_id)
        finally:
            client.close()
    assert address.startswith("http://localhost:") and address.endswith(url)
