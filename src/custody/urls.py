"""URLs: which ones custody can archive, and one spelling for each, so none is fetched twice."""

from __future__ import annotations

import contextlib
import re
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from .errors import InvalidURL

SCHEMES = ("http", "https")
_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_SKIP = ("#", "data:", "javascript:", "mailto:", "tel:", "about:", "blob:")


def check_url(url: str) -> str:
    """The URL, normalised, or InvalidURL saying why it cannot be archived."""
    text = url.strip()
    if not text:
        raise InvalidURL("empty URL", url=url)
    parts = urlsplit(text)
    if not parts.scheme:
        raise InvalidURL("not a URL (no scheme; did you mean https://...?)", url=url)
    if parts.scheme.lower() not in SCHEMES:
        raise InvalidURL(f"unsupported scheme {parts.scheme}: (only http and https)", url=url)
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidURL(f"invalid URL ({exc})", url=url) from exc
    if not host:
        raise InvalidURL("URL has no host", url=url)
    if any(ch.isspace() for ch in text):
        raise InvalidURL("URL contains white space", url=url)
    return normalise(text)


def normalise(url: str) -> str:
    """Scheme and host in lower case, default port and fragment dropped."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = port is None or (scheme, port) in (("http", 80), ("https", 443))
    netloc = host if default else f"{host}:{port}"
    if parts.username or parts.password:
        userinfo = parts.username or ""
        if parts.password:
            userinfo += ":" + parts.password
        netloc = f"{userinfo}@{netloc}"
    path = _escape(parts.path or "/", safe="/%:@!$&'()*+,;=")
    query = _escape(parts.query, safe="/%:@!$&'()*+,;=?")
    return urlunsplit((scheme, netloc, path, query, ""))


def _escape(text: str, safe: str) -> str:
    """Percent-escapes in one spelling: unreserved characters decoded, the rest upper case."""
    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if _UNRESERVED.fullmatch(char) else "%" + match.group(1).upper()

    return _ESCAPE.sub(fix, quote(text, safe=safe))


def resolve(base: str, href: str) -> str | None:
    href = href.strip()
    if not href or href.lower().startswith(_SKIP):
        return None
    try:
        return check_url(urljoin(base, href))
    except InvalidURL:
        return None
    except ValueError:
        return None
