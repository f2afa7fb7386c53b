"""Links in a page or stylesheet: its requisites (what it needs to render) and its pages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

from ..core.urls import check_link, resolve

_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
_REQUISITE_RELS = frozenset(
    {"stylesheet", "icon", "shortcut", "apple-touch-icon", "preload", "modulepreload"}
)
_NOT_LINKS = ("#", "data:", "javascript:", "mailto:", "tel:")


@dataclass
class Links:
    requisites: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)  # <a href>, for --depth
    invalid: int = 0
    # http(s) links that no parser takes: (the link as written, joined to the base; reason)
    bad_requisites: list[tuple[str, str]] = field(default_factory=list)
    bad_pages: list[tuple[str, str]] = field(default_factory=list)


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

    def add(target: list[str], href: str | None) -> None:
        if not href:
            return
        url, reason = check_link(base, href)
        if url is None:
            if not href.lstrip().lower().startswith(_NOT_LINKS):
                found.invalid += 1
            if reason is not None:
                bad = found.pages if target is found.pages else found.requisites
                (found.bad_pages if bad is found.pages else found.bad_requisites).append(
                    (_joined(base, href), reason))
            return
        target.append(url)

    for el in doc.iter("link"):
        rel = (el.get("rel") or "").lower().split()
        if _REQUISITE_RELS & set(rel):
            add(found.requisites, el.get("href"))
    for tag, attr in (("script", "src"), ("img", "src"), ("iframe", "src"), ("frame", "src"),
                      ("embed", "src"), ("audio", "src"), ("video", "src"), ("video", "poster"),
                      ("source", "src"), ("track", "src"), ("object", "data"), ("input", "src")):
        for el in doc.iter(tag):
            add(found.requisites, el.get(attr))
    for el in doc.iter("img", "source"):
        for candidate in (el.get("srcset") or "").split(","):
            add(found.requisites, candidate.strip().split(" ")[0] if candidate.strip() else None)
    for el in doc.iter("style"):
        for url in css_links(el.text or "", base):
            found.requisites.append(url)
    for el in doc.xpath("//*[@style]"):
        for url in css_links(el.get("style") or "", base):
            found.requisites.append(url)
    for el in doc.iter("a", "area"):
        add(found.pages, el.get("href"))
    found.requisites = list(dict.fromkeys(found.requisites))
    found.pages = list(dict.fromkeys(found.pages))
    found.bad_requisites = list(dict.fromkeys(found.bad_requisites))
    found.bad_pages = list(dict.fromkeys(found.bad_pages))
    return found


def _joined(base: str, href: str) -> str:
    try:
        return urljoin(base, href.strip())
    except ValueError:
        return href.strip()


def css_links(css: str, base_url: str) -> list[str]:
    urls = []
    for match in _CSS_URL.finditer(css):
        url = resolve(base_url, match.group(1) or match.group(2))
        if url:
            urls.append(url)
    return list(dict.fromkeys(urls))
