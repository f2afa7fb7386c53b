"""A small multilingual web site built from the seed texts, and a loopback server for it.

Used by the tests (as a fixture), the benchmarks, and ./scripts/demo (to build and
show the sample archive). Each page wraps a seed text in the boilerplate real sites have --
navigation, a sidebar, reader comments, a footer -- in the encodings real sites
use, so that extraction is checked against text we know.
"""

from __future__ import annotations

import html
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# what a windows-1256 site writes for the Persian letters and digits that code page lacks
_LEGACY_FOLD = str.maketrans(
    {"ی": "ي", "ک": "ك", "\u202f": " ", "\u2002": " "}
    | {chr(0x06F0 + i): str(i) for i in range(10)}
)


def legacy_persian(text: str) -> str:
    """Persian as a windows-1256 site writes it: Arabic yeh and kaf, Western digits."""
    return text.translate(_LEGACY_FOLD)

# The seed texts lost their zero-width non-joiners (U+200C) before they reached us; Persian
# sites write them inside words, as below, and mark a Latin run in right-to-left text
# with a right-to-left mark (U+200F). Extraction must keep both, character for character.
_ZWNJ = "\u200c"
_WHOLE = {w.replace(_ZWNJ, ""): w for w in (  # a word the rules below would split wrongly
    "آیت‌الله", "خامنه‌ای", "رسانه‌ای", "فاجعه‌ای", "مسئله‌ای", "منطقه‌ای", "مرحله‌ای",
    "مقدمه‌ای", "به‌گونه‌ای", "نه‌تنها", "پنهان‌سازی", "نگران‌کننده‌ای", "گمراه‌کننده‌ای",
    "تعیین‌کننده‌ای", "شناخته‌شده‌ای")}
_VERB = re.compile("^(ن?می)(توان|خواه|ده|شو|پرداز|کرد|کش|کن|کوش|گوی|گیر)")
_AFTER_HEH = re.compile("(?<=..)ه(ها|های|هایی|اند|ایم)$")  # داشته‌اند, دهه‌ها
_PLURAL = re.compile("(?<=.)([بپتثجچحخسشصضطظعغفقکگلمنی])(ها|های|هایی)$")  # سازمان‌ها
_KEPT_WHOLE = {"تنها", "آنها"}
_PERSIAN_WORD = re.compile("[\u0620-\u064a\u0671-\u06d3]+")  # letters, not ، or ؛
_LATIN_RUN = re.compile("[A-Za-z][A-Za-z0-9&'.,-]*(?: [A-Za-z0-9&'.,-]+)*")


def persian_orthography(text: str) -> str:
    """Persian as a site writes it: ZWNJ after the verb prefix می, before plural and
    personal endings, in the compounds above; RLM after each Latin run."""

    def word(match: re.Match[str]) -> str:
        found = match.group()
        if found in _WHOLE:
            return _WHOLE[found]
        if found in _KEPT_WHOLE:
            return found
        found = _VERB.sub("\\1" + _ZWNJ + "\\2", found, count=1)
        found = _AFTER_HEH.sub("ه" + _ZWNJ + "\\1", found, count=1)
        return _PLURAL.sub("\\1" + _ZWNJ + "\\2", found, count=1)

    text = _PERSIAN_WORD.sub(word, text)
    return _LATIN_RUN.sub(lambda m: m.group() + "\u200f", text)

# a 1x1 transparent PNG
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@dataclass
class Page:
    body: bytes
    content_type: str
    status: int = 200
    expected_text: str | None = None  # what extraction must give back
    headers: dict[str, str] = field(default_factory=dict)
    dribble: float = 0.0  # seconds between each of ten slices of the body: a slow server
    fail_first: int = 0  # answer the first N requests with fail_status (and Retry-After)
    fail_status: int = 503
    retry_after: str | None = None
    delay: float = 0.0  # seconds before answering at all: a server that hangs


def _seed(seeds: Path, name: str) -> list[str]:
    path = next(seeds.glob(f"{name}_*.txt"))
    return path.read_text(encoding="utf-8").split("\n")


def _paragraphs(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip()]


def seed_sections(seeds: Path) -> dict[str, tuple[str, list[str]]]:
    """Title and paragraphs of each seed section, by page name; ``seeds`` is the folder of
    seed texts (the repository's tests/data/seeds)."""
    s0 = _seed(seeds, "000")
    s1 = _paragraphs(_seed(seeds, "001"))
    s2 = _paragraphs(_seed(seeds, "002"))
    en = _paragraphs(s0[7:33])
    fa = _paragraphs(s0[36:71])
    ru = _paragraphs(s0[75:104])
    signatories = _paragraphs(s0[107:191])
    return {
        "en": ("Statement on the situation in Iran", en),
        "fa": (fa[0], fa[1:]),
        "ru": ("Заявление российских правозащитников", ru),
        "letter": (s1[0], s1[1:]),
        "labour": ("هشدار کنفدراسیون کار ایران", s2),
        "signatories": ("List of signatories", signatories),
    }


NAV = """<header class="site"><a href="/">Home</a> | <a href="/en.html">News</a> |
<a href="/fa.html">Statements</a> | <a href="/missing.html">Archive</a> |
<a href="/donate">Donate</a> | <a href="/contact">Contact us</a></header>"""

SIDEBAR = """<aside class="sidebar"><h3>Related</h3><ul>
<li><a href="/en.html">Weekly digest: press freedom roundup</a></li>
<li><a href="/ru.html">Subscribe to our newsletter for updates</a></li>
<li><a href="/letter.html">Most read this month</a></li></ul></aside>"""

COMMENTS = """<section id="comments" class="comments"><h3>3 Comments</h3>
<div class="comment"><p class="author">reader_1987</p>
<p>Thank you for publishing this, sharing now.</p></div>
<div class="comment"><p class="author">anon</p>
<p>Is there an English translation of the appendix?</p></div>
<div class="comment"><p class="author">m.k.</p><p>Please keep reporting, we are listening.</p></div>
</section>"""

FOOTER = """<footer class="site-footer"><p>© 2026 Rights Monitor Network. All rights reserved.</p>
<p><a href="/privacy">Privacy policy</a> · <a href="/terms">Terms of use</a> ·
Follow us on social media</p></footer>"""


def page_html(title: str, paragraphs: list[str], *, lang: str, rtl: bool = False,
              meta_charset: str | None = None) -> str:
    direction = ' dir="rtl"' if rtl else ""
    meta = f'<meta charset="{meta_charset}">' if meta_charset else ""
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="{lang}"{direction}>
<head>{meta}<title>{html.escape(title)}</title>
<link rel="stylesheet" href="/static/site.css">
<script src="/static/site.js"></script>
<meta name="author" content="Rights Monitor Network"></head>
<body>
{NAV}
<main><article>
<h1>{html.escape(title)}</h1>
<p class="byline"><img src="/static/logo.png" alt=""> Published 15 January 2026</p>
{body}
</article></main>
{SIDEBAR}
{COMMENTS}
{FOOTER}
</body></html>"""


def build_site(seeds: Path) -> dict[str, Page]:
    sections = seed_sections(seeds)
    pages: dict[str, Page] = {}

    def add(path: str, name: str, *, lang: str, codec: str, header_charset: str | None,
            meta_charset: str | None, rtl: bool = False) -> None:
        title, paragraphs = sections[name]
        if lang == "fa":
            title = persian_orthography(title)
            paragraphs = [persian_orthography(p) for p in paragraphs]
        if codec != "utf-8":
            title = legacy_persian(title)
            paragraphs = [legacy_persian(p) for p in paragraphs]
        markup = page_html(title, paragraphs, lang=lang, rtl=rtl, meta_charset=meta_charset)
        body = markup.encode(codec, errors="replace")
        expected = "\n".join(paragraphs).encode(codec, errors="replace").decode(codec)
        ctype = "text/html" + (f"; charset={header_charset}" if header_charset else "")
        pages[path] = Page(body, ctype, expected_text=expected)

    add("/en.html", "en", lang="en", codec="utf-8", header_charset="utf-8", meta_charset=None)
    # charset only in the meta tag
    add("/fa.html", "fa", lang="fa", codec="utf-8", header_charset=None,
        meta_charset="utf-8", rtl=True)
    add("/ru.html", "ru", lang="ru", codec="koi8-r", header_charset="koi8-r", meta_charset=None)
    add("/letter.html", "letter", lang="fa", codec="windows-1256", header_charset=None,
        meta_charset="windows-1256", rtl=True)
    # declared wrongly: the server says utf-8, the bytes are windows-1256
    add("/labour.html", "labour", lang="fa", codec="windows-1256", header_charset="utf-8",
        meta_charset=None, rtl=True)
    add("/signatories.html", "signatories", lang="en", codec="windows-1252",
        header_charset="windows-1252", meta_charset=None)

    links = "\n".join(
        f'<li><a href="{p}">{html.escape(sections[p.strip("/").removesuffix(".html")][0])}</a></li>'
        for p in list(pages)
    )
    index = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Rights Monitor Network</title><link rel="stylesheet" href="/static/site.css">
<link rel="icon" href="/static/logo.png"></head><body>{NAV}
<main><h1>Statements and letters</h1><ul>{links}</ul>
<iframe src="/embed.html" title="map"></iframe></main>{FOOTER}</body></html>"""
    pages["/"] = Page(index.encode(), "text/html; charset=utf-8")
    pages["/embed.html"] = Page(
        b"<!DOCTYPE html><html><head><title>map</title>"
        b'<style>body{background:url("/static/bg.png")}</style></head>'
        b"<body><p>Map of reported incidents.</p></body></html>",
        "text/html; charset=utf-8",
    )
    pages["/static/site.css"] = Page(
        b'body{font-family:serif}\n@import url("/static/print.css");\n'
        b'header{background:url(/static/bg.png)}\n',
        "text/css",
    )
    pages["/static/print.css"] = Page(b"@media print{nav{display:none}}\n", "text/css")
    pages["/static/site.js"] = Page(b"document.documentElement.className='js';\n",
                                    "application/javascript")
    pages["/static/logo.png"] = Page(PNG, "image/png")
    pages["/static/bg.png"] = Page(PNG, "image/png")
    pages["/notes.txt"] = Page("Plain notes, ё and ی.\n".encode(), "text/plain; charset=utf-8",
                               expected_text="Plain notes, ё and ی.")
    pages["/empty.html"] = Page(b"", "text/html; charset=utf-8")
    pages["/data.bin"] = Page(bytes(range(256)) * 8, "application/octet-stream")
    # redirect chain: /old -> /older -> /en.html
    pages["/old"] = Page(b"", "text/html", status=301, headers={"Location": "/older"})
    pages["/older"] = Page(b"moved", "text/plain", status=302, headers={"Location": "/en.html"})
    pages["/loop-a"] = Page(b"", "text/html", status=302, headers={"Location": "/loop-b"})
    pages["/loop-b"] = Page(b"", "text/html", status=302, headers={"Location": "/loop-a"})
    pages["/missing.html"] = Page(b"<html><body><h1>Not found</h1></body></html>",
                                  "text/html; charset=utf-8", status=404)
    pages["/error.html"] = Page(b"<html><body><h1>Server error</h1></body></html>",
                                "text/html; charset=utf-8", status=500)
    return pages


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # the head and the body are two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK of the head (40 ms on Linux), on every keep-alive request, as
    # no real server makes anyone wait
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        self._answer()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.posts.append((self.path, self.rfile.read(length)))
        self.server.requests.append(self.path)
        self._answer()

    def _answer(self) -> None:
        if self.server.latency:
            time.sleep(self.server.latency)
        path = self.path.split("?")[0]
        page = self.server.pages.get(self.path) or self.server.pages.get(path)  # query, or not
        if page is not None and self.server.requests.count(self.path) <= page.fail_first:
            headers = {"Retry-After": page.retry_after} if page.retry_after else {}
            page = Page(b"try later", "text/plain", status=page.fail_status, headers=headers)
        if page is None:
            page = Page(b"<html><body>no such page</body></html>", "text/html", status=404)
        if page.delay:
            time.sleep(page.delay)
        self.send_response(page.status)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(page.body)))
        for name, value in page.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not page.dribble:
            self.wfile.write(page.body)
            return
        step = max(1, len(page.body) // 10)
        for start in range(0, len(page.body), step):
            self.wfile.write(page.body[start : start + step])
            self.wfile.flush()
            time.sleep(page.dribble)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    pages: dict[str, Page]
    latency: float
    requests: list[str]
    posts: list[tuple[str, bytes]]

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that hung up (a capture stopped, a timeout): nothing to say
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class SiteServer:
    """Serves pages on 127.0.0.1 in a thread; ``tls`` is an ssl.SSLContext for HTTPS."""

    def __init__(self, pages: dict[str, Page], *, tls: ssl.SSLContext | None = None,
                 latency: float = 0.0, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, 0), _Handler)
        self._server.pages = pages
        self._server.latency = latency
        self._server.requests = []
        self._server.posts = []
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.host = "localhost" if tls is not None else host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def requests(self) -> list[str]:
        """The path of every request, in the order they came."""
        return self._server.requests

    @property
    def posts(self) -> list[tuple[str, bytes]]:
        """The path and body of every POST."""
        return self._server.posts

    def __enter__(self) -> SiteServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def crawl_site(seeds: Path, pages: int = 200, *, other: str | None = None,
               image_bytes: int = 0) -> dict[str, Page]:
    """A site of many small pages for crawling: an index, sections, requisites, odd links.

    Every page links to the next three, so ``--depth`` matters; each has its own image
    and shares a stylesheet. ``other`` is the base URL of another host (the canary);
    ``image_bytes`` pads each image with that many incompressible bytes, as photos are.
    """
    import random

    site: dict[str, Page] = {}
    paragraphs = seed_sections(seeds)["en"][1]
    links = "".join(f'<li><a href="/section/p{i}.html">page {i}</a></li>' for i in range(pages))
    odd = ('<a href="http://[bad">broken</a><a href="javascript:void(0)">js</a>'
           '<a href="/section/p0.html#top">fragment</a><a href="/SECTION/../section/p1.html">x</a>'
           '<a href="/elsewhere/outside.html">outside the section</a>')
    if other:
        odd += f'<a href="{other}/canary">another host</a><a href="/to-metadata">metadata</a>'
    site["/"] = Page(f"<html><head><title>index</title></head><body><ul>{links}</ul>{odd}"
                     "</body></html>".encode(), "text/html; charset=utf-8")
    site["/static/crawl.css"] = Page(b"body{color:#222}", "text/css")
    for i in range(pages):
        nxt = "".join(f'<a href="/section/p{j}.html">next {j}</a>' for j in range(i + 1, i + 4)
                      if j < pages)
        text = paragraphs[i % len(paragraphs)]
        body = (f'<html><head><title>Page {i}</title><link rel="stylesheet" '
                f'href="/static/crawl.css"></head><body><nav>{nxt}</nav><article><h1>Page {i}'
                f'</h1><p>{html.escape(text)}</p><img src="/img/{i}.png"></article></body></html>')
        site[f"/section/p{i}.html"] = Page(body.encode(), "text/html; charset=utf-8")
        padding = random.Random(i).randbytes(image_bytes) if image_bytes else b""
        site[f"/img/{i}.png"] = Page(PNG + padding, "image/png")
    site["/elsewhere/outside.html"] = Page(b"<html><body><p>outside</p></body></html>",
                                           "text/html")
    site["/to-metadata"] = Page(b"", "text/html", status=302,
                                headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    return site
