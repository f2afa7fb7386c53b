"""Links in a page or stylesheet: its requisites (what it needs to render), its pages (for
--depth), and where a <meta http-equiv=refresh> sends the reader.

HTML is parsed with lxml, CSS with tinycss2 (a real tokenizer: quoted urls with spaces
in them, @import, @font-face sources, and nothing inside comments).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from ..core.urls import check_link

_REQUISITE_RELS = frozenset(
    {"stylesheet", "icon", "shortcut", "apple-touch-icon", "preload", "modulepreload"}
)
_NOT_LINKS = ("#", "data:", "javascript:", "mailto:", "tel:")
# element, attribute: what a page needs to be shown as it was
_REQUISITE_ATTRIBUTES = (
    ("script", "src"), ("img", "src"), ("iframe", "src"), ("frame", "src"), ("embed", "src"),
    ("audio", "src"), ("video", "src"), ("video", "poster"), ("source", "src"),
    ("track", "src"), ("object", "data"), ("input", "src"), ("image", "href"),
    ("image", "xlink:href"),
)
_REFRESH = re.compile(r"^\s*\d*(?:\.\d*)?\s*[;,]?\s*(?:url\s*=\s*)?(['\"]?)(.+?)\1\s*$",
                      re.IGNORECASE | re.DOTALL)


@dataclass
class Links:
    requisites: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)  # <a href>, for --depth
    refresh: list[str] = field(default_factory=list)  # <meta http-equiv=refresh>: a redirect
    invalid: int = 0
    # http(s) links that no parser takes: (the link as written, joined to the base; reason)
    bad_requisites: list[tuple[str, str]] = field(default_factory=list)
    bad_pages: list[tuple[str, str]] = field(default_factory=list)

    def add(self, kind: str, base: str, href: str | None) -> None:
        """A link of this kind (requisites, pages, refresh) found in a document at base."""
        if not href:
            return
        url, reason = check_link(base, href)
        if url is not None:
            getattr(self, kind).append(url)
            return
        if not href.lstrip().lower().startswith(_NOT_LINKS):
            self.invalid += 1
        if reason is not None:
            bad = self.bad_pages if kind == "pages" else self.bad_requisites
            bad.append((_joined(base, href), reason))

    def unique(self) -> Links:
        for name in ("requisites", "pages", "refresh", "bad_requisites", "bad_pages"):
            setattr(self, name, list(dict.fromkeys(getattr(self, name))))
        return self


def html_links(html: str, base_url: str) -> Links:
    import lxml.html

    found = Links()
    try:
        doc = lxml.html.document_fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return found
    base_el = doc.find(".//base[@href]")
    base = base_url
    if base_el is not None:
        joined, _ = check_link(base_url, base_el.get("href") or "")
        base = joined or base_url  # a <base> no parser takes is ignored, as browsers do

    for el in doc.iter("link"):
        rel = (el.get("rel") or "").lower().split()
        if _REQUISITE_RELS & set(rel):
            found.add("requisites", base, el.get("href"))
    for tag, attr in _REQUISITE_ATTRIBUTES:
        for el in doc.iter(tag):
            found.add("requisites", base, el.get(attr))
    for el in doc.iter("img", "source"):
        for candidate in (el.get("srcset") or "").split(","):
            found.add("requisites", base, candidate.split()[0] if candidate.split() else None)
    for el in doc.iter("style"):
        _css_into(found, _stylesheet(el.text or ""), base)
    for el in doc.xpath("//*[@style]"):
        _css_into(found, _declarations(el.get("style") or ""), base)
    for el in doc.iter("meta"):
        if (el.get("http-equiv") or "").strip().lower() == "refresh":
            match = _REFRESH.match(el.get("content") or "")
            if match and not match.group(2).strip().isdigit():
                found.add("refresh", base, match.group(2).strip())
    for el in doc.iter("a", "area"):
        found.add("pages", base, el.get("href"))
    return found.unique()


def css_links(css: str, base_url: str) -> Links:
    """The requisites of a stylesheet: url() values, @import, @font-face sources."""
    found = Links()
    _css_into(found, _stylesheet(css), base_url)
    return found.unique()


def _stylesheet(css: str) -> list[Any]:
    import tinycss2

    return list(tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True))


def _declarations(css: str) -> list[Any]:
    import tinycss2

    return list(tinycss2.parse_blocks_contents(css, skip_comments=True, skip_whitespace=True))


def _css_into(found: Links, nodes: list[Any], base: str) -> None:
    """Every URL in CSS tokens, at any depth: url(a b.png), url("a b.png"), @import "x"."""
    for node in nodes:
        kind = getattr(node, "type", None)
        if kind == "url":
            found.add("requisites", base, node.value)
        elif kind == "function" and node.lower_name in ("url", "src"):
            strings = [t for t in node.arguments if getattr(t, "type", None) == "string"]
            if strings:
                found.add("requisites", base, strings[0].value)
        elif kind == "at-rule" and node.lower_at_keyword == "import":
            strings = [t for t in node.prelude if getattr(t, "type", None) == "string"]
            if strings:
                found.add("requisites", base, strings[0].value)
        for child in ("prelude", "content", "arguments", "value"):
            inner = getattr(node, child, None)
            if isinstance(inner, list):
                _css_into(found, inner, base)


def _joined(base: str, href: str) -> str:
    try:
        return urljoin(base, href.strip())
    except ValueError:
        return href.strip()
