"""What one sealed capture shows of a watched page: where it ended, with what status, its
sentences and its media, read back from the WARC (never from the live response, so that
what a change says is what the evidence holds).

An ``Observation`` is made from custody.db's rows of the capture (its final URL, the
page's response record and where it lies, the fetches that got no answer) and the page's
payload, read from the sealed WARC file at the offset the index gives.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from ..core.urls import normalise
from ..extract.content import header_charset
from ..warc.payload import header, read_payload
from . import volatile

PAGE_LIMIT = 8 * 1024 * 1024  # bytes of a page's body read for comparing
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")
GONE_STATUS = {404: "404 Not Found", 410: "410 Gone", 451: "451 Unavailable For Legal Reasons",
               401: "401 Unauthorized (a login is asked for)", 403: "403 Forbidden"}
# answers that say the site is unwell rather than that the page went: no change, and the
# next run looks again
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
# failures to connect that say the page went (a name that no longer resolves, a
# certificate that no longer verifies); others (refused, timeout) say the server is down
# for now, like a 503
FAILURE_REASONS = {"dns": "has a name that no longer resolves (DNS)",
                   "tls": "fails its TLS handshake (the certificate no longer verifies)"}
_LOGIN_PATH = re.compile(r"(?i)/(log-?in|sign-?in|sign_in|auth|sso|session/new|accounts?/"
                         r"(login|signin)|users?/sign_in|wp-login\.php)")
_LOGIN_TITLE = re.compile(r"(?i)\b(log ?in|sign ?in|anmelden|connexion|iniciar sesi[oó]n)\b")
_UNAVAILABLE = re.compile(
    r"(?i)(page (was )?not found|not available|no longer available|(is|isn.t|is not) "
    r"available|unavailable|has been (removed|deleted|taken down)|(was|were) (removed|"
    r"deleted)|does ?n[o']t exist|account (is |has been )?suspended|content (was )?"
    r"removed|withheld in your country|sorry, this page)")
_REFRESH = re.compile(r"(?i)\s*(\d+(?:\.\d+)?)\s*[;,]\s*url\s*=\s*(.+)")
REFRESH_AT_ONCE = 10.0  # seconds: a refresh later than this is a page reloading itself
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\u061f])\s+")
_BLOCKS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "blockquote",
           "article", "section", "pre", "dd", "dt", "figcaption", "caption", "tr", "header",
           "footer", "main", "aside", "nav", "ul", "ol", "table", "form")
_MEDIA_LINK = re.compile(r"(?i)\.(mp4|webm|mov|m4v|mkv|mp3|m4a|ogg|oga|wav|flac|jpe?g|png|gif|"
                         r"webp|avif|pdf)$")


@dataclass
class Observation:
    capture_id: str
    manifest_sha256: str
    started_at: str
    url: str  # the watched URL
    final_url: str
    status: int | None  # of the final page's response; None: no response
    failure: str | None = None  # why there was no response, when there was none: its kind
    failure_reason: str = ""  # and in words, as the capture recorded it
    title: str = ""
    sentences: list[str] = field(default_factory=list)
    media: dict[str, str] = field(default_factory=dict)  # key (address, cache-busting
    # parameters left out) -> the address as the page wrote it
    login: bool = False  # the page asks for a password
    certificate: str | None = None  # the server's certificate (HTTPS): sha256 of its DER
    certificate_about: str = ""  # its subject, issuer and expiry, for people
    unfollowed: bool = False  # it ends at a redirect the capture did not follow (another
    # host, out of its scope): final_url is where it points

    @property
    def moment(self) -> datetime:
        try:
            return datetime.fromisoformat(self.started_at.replace("Z", "+00:00"))
        except ValueError:
            return datetime.now(UTC)

    def gone(self) -> str | None:
        """Why the page is gone, as this capture shows it (None: it is there, or the site
        only answered with a passing error)."""
        if self.status is None:
            return FAILURE_REASONS.get(self.failure or "")
        if self.status in GONE_STATUS:
            return f"answers {GONE_STATUS[self.status]}"
        moved = normalise(self.final_url) != normalise(self.url)
        if moved and (self.login or _LOGIN_PATH.search(urlsplit(self.final_url).path)):
            return f"redirects to a login page ({self.final_url})"
        if self.login and not self.sentences_beyond_login():
            return "shows a login form instead of the page"
        return None

    def sentences_beyond_login(self) -> bool:
        return len(" ".join(self.sentences).split()) > 80

    def unavailable(self) -> bool:
        """Whether the page says, in few words, that what it held is not available."""
        words = len(" ".join(self.sentences).split())
        said = _UNAVAILABLE.search(self.title) or any(
            _UNAVAILABLE.search(s) for s in self.sentences[:10])
        return bool(said) and words < 120

    def transient(self) -> bool:
        if self.status is None:
            return self.failure not in FAILURE_REASONS
        return self.status in TRANSIENT_STATUS


def observe(conn: sqlite3.Connection, root: Path, capture_id: str, url: str,
            ignore: list[str]) -> Observation:
    """The watched page as the sealed capture holds it (KeyError: custody.db does not
    index the capture)."""
    row = conn.execute("SELECT final_url, manifest_sha256, started_at FROM captures "
                       "WHERE id = ?", [capture_id]).fetchone()
    if row is None:
        raise KeyError(capture_id)
    final_url = row[0] or url
    seen = Observation(capture_id, row[1] or "", row[2] or "", url, final_url, None)
    page = conn.execute(
        "SELECT status_code, warc_path, warc_offset, content_type, record_id FROM resources WHERE "
        "capture_id = ? AND url = ? ORDER BY id DESC LIMIT 1",
        [capture_id, normalise(final_url)]).fetchone()
    if page is None and normalise(final_url) != normalise(url):
        # the redirect was not followed to its end (a hop refused by the address guard,
        # or one that failed): the last answer recorded is the watched URL's own
        page = conn.execute(
            "SELECT status_code, warc_path, warc_offset, content_type, record_id FROM "
            "resources WHERE capture_id = ? AND url = ? ORDER BY id DESC LIMIT 1",
            [capture_id, normalise(url)]).fetchone()
        if page is not None and page[0] and 300 <= page[0] < 400:
            seen.status, seen.unfollowed = page[0], True  # final_url: where it led
            return seen
        page = None
    if page is None:
        failed = conn.execute("SELECT kind, reason FROM failures WHERE capture_id = ? ORDER "
                              "BY (url = ?) DESC, id LIMIT 1",
                              [capture_id, normalise(url)]).fetchone()
        seen.failure = failed[0] if failed else "nothing recorded"
        seen.failure_reason = str(failed[1] or failed[0]) if failed else seen.failure
        return seen
    seen.status = page[0]
    if page[1] and urlsplit(final_url).scheme == "https":
        seen.certificate, seen.certificate_about = _certificate(root / page[1], int(page[2]),
                                                                page[4] or "")
    if page[1] and page[0] is not None and 300 <= page[0] < 400:
        location = header(read_payload(root / page[1], int(page[2]), 0).headers, "location")
        if location:
            seen.final_url, seen.unfollowed = urljoin(final_url, location), True
            return seen
    if page[1] and "html" in (page[3] or "html").lower():
        # custody keeps the rendered DOM in UTF-8, whatever charset its meta tag names
        charset: str | None = "utf-8"
        body = _rendered(conn, root, capture_id, final_url)
        if body is None:
            payload = read_payload(root / page[1], int(page[2]), PAGE_LIMIT)
            body, charset = payload.body, header_charset(
                header(payload.headers, "content-type") or page[3] or "")
        _read_html(seen, body, ignore, charset)
    return seen


def _rendered(conn: sqlite3.Connection, root: Path, capture_id: str,
              final_url: str) -> bytes | None:
    """The page's DOM as the browser rendered it, when the capture loaded it in one
    (--browser): what a reader saw, scripts run. None without one."""
    from warcio.archiveiterator import ArchiveIterator

    from ..extract.workers import open_shadow_roots

    row = conn.execute("SELECT record_id FROM documents WHERE capture_id = ? AND source = "
                       "'rendered' AND url IN (?, ?) ORDER BY id DESC LIMIT 1",
                       [capture_id, normalise(final_url), final_url]).fetchone()
    if row is None or not row[0]:
        return None
    for (path,) in conn.execute("SELECT path FROM files WHERE capture_id = ? AND path LIKE "
                                "'%.warc.gz' ORDER BY path", [capture_id]):
        with open(root / path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_headers.get_header("WARC-Record-ID") == row[0]:
                    body = record.content_stream().read(PAGE_LIMIT)
                    return open_shadow_roots(body) if b"shadowrootmode" in body else body
    return None


def _read_html(seen: Observation, body: bytes, ignore: list[str],
               charset: str | None) -> None:
    """The page's words, its body decoded as extraction decodes it (the charset its
    response declared, else its meta tag, else what its bytes fit)."""
    import lxml.html
    from lxml import etree

    from ..extract.content import decode

    if not body.strip():
        return
    text = _XML_DECLARATION.sub("", decode(body, charset)[0], count=1)  # (lxml takes no
    try:  # declaration of an encoding in a text already decoded)
        tree = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return
    title = tree.find(".//title")
    seen.title = " ".join((title.text_content() if title is not None else "").split())
    seen.login = bool(tree.xpath("//input[translate(@type, 'PASSWORD', 'password')"
                                 " = 'password']"))
    if not seen.login and _LOGIN_TITLE.search(seen.title):
        seen.login = bool(tree.xpath("//form"))
    _refresh(seen, tree)
    for element in list(tree.iter(etree.Comment, etree.ProcessingInstruction)):
        _drop(element)
    for selector in (*volatile.AD_SELECTORS, *ignore):
        for element in tree.cssselect(selector):
            _drop(element)
    for element in list(tree.iter("div", "aside", "section", "figure", "li", "p", "span")):
        first = next((t.strip() for t in element.itertext() if t.strip()), "")
        if volatile.AD_LABEL.match(first) and \
                len(element.text_content()) <= volatile.AD_BOX_CHARS:
            _drop(element)
    seen.media = _media(tree, seen.final_url)
    for element in list(tree.iter(*volatile.DROPPED_TAGS)):
        _drop(element)
    for element in tree.iter("br"):
        element.tail = "\n" + (element.tail or "")
    for element in tree.iter(*_BLOCKS):
        element.text = "\n" + (element.text or "")
        element.tail = "\n" + (element.tail or "")
    body_element = tree.find("body")
    text = (body_element if body_element is not None else tree).text_content()
    for line in text.split("\n"):
        line = " ".join(line.split())
        if line:
            seen.sentences += [s for s in _SENTENCE_END.split(line) if s]


def _certificate(path: Path, offset: int, record_id: str) -> tuple[str | None, str]:
    """The leaf of the TLS chain recorded beside the response at ``offset`` (its metadata
    record follows the response and its request), as sha256 and a description."""
    import hashlib
    import ssl

    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as fh:
        fh.seek(offset)
        for number, record in enumerate(ArchiveIterator(fh)):
            if number > 3:
                break
            headers = record.rec_headers
            if record.rec_type == "metadata" and \
                    headers.get_header("WARC-Concurrent-To") == record_id and \
                    "pem-certificate-chain" in (headers.get_header("Content-Type") or ""):
                pem = record.content_stream().read().decode("ascii", "replace")
                end = pem.find("-----END CERTIFICATE-----")
                if end < 0:
                    return None, ""
                der = ssl.PEM_cert_to_DER_cert(pem[: end + len("-----END CERTIFICATE-----")])
                return hashlib.sha256(der).hexdigest(), _about(der)
    return None, ""


def _about(der: bytes) -> str:
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion):
        return "unreadable"
    return (f"subject {cert.subject.rfc4514_string()}, issuer {cert.issuer.rfc4514_string()}, "
            f"valid until {cert.not_valid_after_utc:%Y-%m-%d}")


def _refresh(seen: Observation, tree: Any) -> None:
    """A page that sends its reader elsewhere at once (``<meta http-equiv=refresh>``, which
    a capture records but does not follow) ends where it sends them."""
    for meta in tree.iter("meta"):
        if (meta.get("http-equiv") or "").lower() != "refresh":
            continue
        match = _REFRESH.match(meta.get("content") or "")
        if match is None or float(match[1]) > REFRESH_AT_ONCE:
            continue
        target = urljoin(seen.final_url, match[2].strip().strip("'\""))
        if normalise(target) != normalise(seen.final_url):
            seen.final_url, seen.unfollowed = target, True
        return


def _drop(element: Any) -> None:
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    if tail:  # the text after an element is its parent's, and stays
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


def _media(tree: Any, base: str) -> dict[str, str]:
    found: dict[str, str] = {}
    addresses: list[str] = []
    for element in tree.iter("img", "video", "audio", "source", "embed", "track"):
        for name in ("src", "data-src", "poster"):
            if element.get(name):
                addresses.append(element.get(name))
        srcset = element.get("srcset") or ""
        addresses += [part.split()[0] for part in srcset.split(",") if part.strip()]
    for element in tree.iter("a"):
        href = element.get("href") or ""
        if _MEDIA_LINK.search(urlsplit(href).path):
            addresses.append(href)
    for address in addresses:
        if address.startswith("data:"):
            continue
        absolute = urljoin(base, address.strip())
        if volatile.AD_MEDIA.search(absolute):
            continue
        found.setdefault(media_key(absolute), absolute)
    return found


def media_key(address: str) -> str:
    """A media address without the query parameters that only bust caches or sign the
    request (a CDN's signature changes on every visit; the file does not)."""
    parts = urlsplit(address)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() not in volatile.CACHE_BUSTERS and not volatile.token_like(v)]
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path,
                       urlencode(sorted(query)), ""))


def captured_at(manifests_dir: Path, capture_id: str, url: str) -> bool:
    """Whether the sealed capture is one of ``url`` alone (its manifest's seeds)."""
    import json

    from ..core.errors import CustodyError
    from ..seal.manifest import manifest_path

    try:
        head = json.loads(manifest_path(manifests_dir, capture_id).read_bytes())
    except (CustodyError, OSError, ValueError):
        return False
    return isinstance(head, dict) and (head.get("seed_urls") or [head.get("seed_url")]) == [url]


def cut_short(conn: sqlite3.Connection, capture_id: str, url: str) -> str | None:
    """Why the capture does not hold the whole page, when it does not: stopped by Ctrl-C
    or SIGTERM (its status), or the page's response cut at --timeout, --time-limit or a
    size (the record says truncated). Half a page compared would read as text removed."""
    row = conn.execute("SELECT status, final_url FROM captures WHERE id = ?",
                       [capture_id]).fetchone()
    if row is None:
        return None
    if row[0] == "interrupted":
        return "interrupted"
    cut = conn.execute("SELECT truncated FROM resources WHERE capture_id = ? AND url IN (?, ?) "
                       "AND truncated IS NOT NULL AND truncated != '' LIMIT 1",
                       [capture_id, normalise(row[1] or url), normalise(url)]).fetchone()
    return f"its response was cut short ({cut[0]})" if cut else None
