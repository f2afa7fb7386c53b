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
    """The URL, normalised, or InvalidURL saying why it cannot be archived.

    A URL passes only if Python's parser takes it and its host is one the fetcher can
    ask for (an IP literal that is one, an ASCII name, or a name IDNA 2008 encodes, as
    httpx's parser asks of it), so a URL is refused here, with its reason, rather than
    failing later in the fetch.
    """
    text = url.strip()
    if not text:
        raise InvalidURL("empty URL", url=url)
    controls = any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)
    if controls and "://" not in text:
        raise InvalidURL("not a URL (no scheme; did you mean https://...?)", url=url)
    if controls:
        raise InvalidURL("URL contains white space or control characters", url=url)
    try:
        parts = urlsplit(text)
        scheme = parts.scheme
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidURL(f"invalid URL ({exc})", url=url) from exc
    if not scheme:
        raise InvalidURL("not a URL (no scheme; did you mean https://...?)", url=url)
    if scheme.lower() not in SCHEMES:
        raise InvalidURL(f"unsupported scheme {scheme}: (only http and https)", url=url)
    if not host:
        raise InvalidURL("URL has no host", url=url)
    try:
        _check_host(host)
        _check_port(parts.netloc)
        normalised = normalise(text)
        _check_host(urlsplit(normalised).hostname or "")
    except ValueError as exc:  # UnicodeError (IDNA) is a ValueError
        raise InvalidURL(f"invalid URL ({exc})", url=url) from exc
    return normalised


_IPV4 = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$")


def _check_host(host: str) -> None:
    """ValueError for a host no request can be made to: what httpx's URL parser refuses
    (an IPv4- or IPv6-looking host that is no address, a name IDNA 2008 cannot encode)."""
    import ipaddress

    if _IPV4.match(host):
        ipaddress.IPv4Address(host)
    elif ":" in host:
        ipaddress.IPv6Address(host.strip("[]"))
    elif not host.isascii():
        import idna

        try:
            idna.encode(host.lower())
        except idna.IDNAError as exc:
            raise ValueError(f"Invalid IDNA hostname: {host!r} ({exc})") from exc
    elif any(label.startswith("xn--") for label in host.lower().split(".")):
        import idna  # a Punycode label must decode, as httpx decodes the host it asks for

        try:
            idna.decode(host.lower())
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(f"Invalid IDNA hostname: {host!r} ({exc})") from exc


def _check_port(netloc: str) -> None:
    """After an IPv6 literal's ']' comes nothing or ':' and a port (Python's parser reads
    '[::1]x' as the host ::1 with no port; httpx refuses it)."""
    at = netloc.rpartition("@")[2]
    if "]" in at:
        rest = at.rsplit("]", 1)[1]
        if rest and not (rest.startswith(":") and (rest[1:].isdigit() or rest == ":")):
            raise ValueError(f"Invalid port: {rest!r}")


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
    # no user:password@: a URL custody writes (a record's target, the manifest, the
    # database) never carries credentials; a seed's are taken out first (split_login)
    netloc = host if default else f"{host}:{port}"
    path = remove_dot_segments(_escape(parts.path or "/", safe="/%:@!$&'()*+,;=")) or "/"
    query = _escape(parts.query, safe="/%:@!$&'()*+,;=?")
    return urlunsplit((scheme, netloc, path, query, ""))


def split_login(url: str) -> tuple[str, tuple[str, str, str] | None]:
    """The URL without its ``user:password@``, and the login it carried: (origin, user,
    password), percent-escapes decoded, the origin as normalise spells it; None without
    one. ``user@`` alone is a user with an empty password (a token as the user name)."""
    from urllib.parse import unquote

    text = url.strip()
    try:
        parts = urlsplit(text)
        user, password = parts.username, parts.password
    except ValueError:
        return url, None  # check_url says why
    if user is None and password is None:
        return url, None
    netloc = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    try:
        origin = origin_of(normalise(bare))
    except ValueError:
        return bare, None
    return bare, (origin, unquote(user or ""), unquote(password or ""))


def origin_of(url: str) -> str:
    """scheme://host[:port] of a normalised URL: what a login is sent to."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: ``/a/./b/../c`` is ``/a/c``, one spelling for one resource."""
    out: list[str] = []
    rest = path
    while rest:
        if rest.startswith("../"):
            rest = rest[3:]
        elif rest.startswith("./"):
            rest = rest[2:]
        elif rest.startswith("/./"):
            rest = "/" + rest[3:]
        elif rest == "/.":
            rest = "/"
        elif rest.startswith("/../") or rest == "/..":
            rest = "/" + rest[4:]
            if out:
                out.pop()
        elif rest in (".", ".."):
            rest = ""
        else:
            cut = rest.find("/", 1)
            cut = len(rest) if cut < 0 else cut
            out.append(rest[:cut])
            rest = rest[cut:]
    return "".join(out)


def _escape(text: str, safe: str) -> str:
    """Percent-escapes in one spelling: unreserved characters decoded, the rest upper case."""
    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if _UNRESERVED.fullmatch(char) else "%" + match.group(1).upper()

    return _ESCAPE.sub(fix, quote(text, safe=safe))


def resolve(base: str, href: str) -> str | None:
    """The URL a link points at, normalised; None for anything custody does not fetch
    (fragments, data:, mailto:..., other schemes) and for URLs that cannot be fetched."""
    return check_link(base, href)[0]


def check_link(base: str, href: str) -> tuple[str | None, str | None]:
    """A link's URL, or why it cannot be fetched: (url, None); (None, reason) for an http(s)
    link no parser takes; (None, None) for what custody never fetches."""
    # as a browser reads an href: tabs and newlines dropped, inner spaces escaped
    href = href.strip().replace("\t", "").replace("\n", "").replace("\r", "")
    href = href.replace(" ", "%20")
    if not href or href.lower().startswith(_SKIP):
        return None, None
    try:
        joined = urljoin(base, href)
    except ValueError as exc:
        return None, f"invalid URL {href!r} ({exc})"
    try:
        return check_url(joined), None
    except InvalidURL as exc:
        scheme = joined.split(":", 1)[0].lower() if ":" in joined else ""
        if scheme not in SCHEMES:
            return None, None  # ftp:, file:, news:...: not archived, not a failure
        return None, f"{joined}: {exc.args[0]}"


def referrer_header(page: str, target: str) -> str | None:
    """The Referer a browser sends by default (strict-origin-when-cross-origin): the page's
    URL without its fragment to the same origin, its origin to another origin over the same
    or a safer scheme, nothing from https to http or from no page."""
    if not page:
        return None
    try:
        source, dest = urlsplit(page), urlsplit(target)
    except ValueError:
        return None
    if source.scheme not in SCHEMES:
        return None
    if source.scheme == "https" and dest.scheme != "https":
        return None
    if (source.scheme, source.netloc.lower()) == (dest.scheme, dest.netloc.lower()):
        return urlunsplit((source.scheme, source.netloc, source.path or "/", source.query, ""))
    return f"{source.scheme}://{source.netloc}/"
