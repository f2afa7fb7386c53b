"""custody refuses the URLs httpx's parser refuses, without loading httpx (a tenth of a
one-page capture's time): core.urls checks hosts and ports as httpx does, and this holds
the two together on URLs chosen to differ."""

from __future__ import annotations

import httpx
import pytest

from custody.core.errors import InvalidURL
from custody.core.urls import check_url

URLS = [
    "http://example.org/", "https://EXAMPLE.org:8443/a?b=c#d", "http://127.0.0.1:8080/",
    "http://0177.0.0.02/", "http://999.1.1.1/", "http://127.000.000.002/", "http://1.2.3/",
    "http://[::1]/", "http://[::1]:80/", "http://[::1]x/", "http://[::1]:/", "http://[fe80::1]/",
    "http://[::zz]/", "http://[1:2:3:4:5:6:7:8:9]/", "http://xn--/", "http://xn--bcher-kva.de/",
    "http://xn--zz.example/", "http://bücher.de/", "http://BÜCHER.de/", "http://faß.de/",
    "http://日本語.jp/", "http://ex ample.org/", "http://\u200dexample.org/",
    "http://example.org:99999/", "http://example.org:-1/", "http://example.org:abc/",
    "http://user:pass@example.org/", "http://a..b/", "http://-a-.org/", "http://a_b.org/",
    "http://%41.org/", "http://example.org/%zz", "http://example.org/ä?ö=ü",
    "http://مثال.إختبار/", "http://пример.испытание/", "http://xn--e1afmkfd.xn--80akhbyknj4f/",
    "http://example.org./", "http://[::ffff:1.2.3.4]/", "http://1.2.3.4.5/",
]


def httpx_takes(url: str) -> bool:
    try:
        httpx.URL(url).host  # noqa: B018 (decodes the host, as the old check asked)
    except (ValueError, httpx.InvalidURL):
        return False
    return True


@pytest.mark.parametrize("url", URLS)
def test_custody_takes_what_httpx_takes(url: str) -> None:
    try:
        check_url(url)
        custody = True
    except InvalidURL:
        custody = False
    if custody:  # what custody takes, httpx's parser takes too
        assert httpx_takes(url), url
    elif httpx_takes(url):  # what it refuses that httpx takes: Python's parser refused it
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(url)
            _ = parts.port
            refused_by_python = not parts.hostname or any(
                ch.isspace() or ord(ch) < 0x20 for ch in url)
        except ValueError:
            refused_by_python = True
        assert refused_by_python, url
