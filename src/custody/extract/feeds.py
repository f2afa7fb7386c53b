"""Posts of a public feed page, each its own document: Telegram's channel previews
(``https://t.me/s/CHANNEL``), whose page holds twenty posts, each with its own URL
(``https://t.me/CHANNEL/123``), author and time.

``posts`` finds them in a page's HTML; the capture stores each post's HTML as a
resource record ``urn:post:POST-URL`` that refers to the page's response (a copy cut out
of it, as a rendered DOM is a copy made of it), and ``document`` reads one back as the
post's document: its text, its channel as author, its own time as the published date.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lxml.html

POST_PREFIX = "urn:post:"
_MARK = "tgme_widget_message"


@dataclass
class Post:
    url: str
    html: bytes


def posts(html: str, page_url: str) -> list[Post]:
    """The posts of a Telegram channel preview page (its decoded HTML); none for any other
    page. Each post's HTML is given in UTF-8."""
    if _MARK not in html or "data-post" not in html:
        return []
    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return []
    found = []
    for element in tree.xpath('//*[@data-post and contains(@class, "tgme_widget_message")]'):
        post = element.get("data-post", "").strip("/")
        if not post or "/" not in post:
            continue
        found.append(Post(f"https://t.me/{post}",
                          lxml.html.tostring(element, encoding="utf-8")))
    return found


def document_fields(html: bytes) -> dict[str, Any]:
    """A post's text, author, channel and time."""
    element = lxml.html.fromstring(html.decode("utf-8", errors="replace"))

    def first(xpath: str) -> Any:
        found = element.xpath(xpath)
        return found[0] if found else None

    text_node = first('.//*[contains(@class, "tgme_widget_message_text")]')
    if text_node is not None:
        for br in text_node.iter("br"):
            br.tail = "\n" + (br.tail or "")
    raw = text_node.text_content() if text_node is not None else ""
    text = "\n".join(line.strip() for line in raw.splitlines() if line.strip())
    owner = first('.//*[contains(@class, "tgme_widget_message_owner_name")]')
    author = owner.text_content().strip() if owner is not None else None
    when = first('.//*[contains(@class, "tgme_widget_message_date")]//time/@datetime') or \
        first(".//time/@datetime")
    channel = (element.get("data-post") or "").split("/")[0] or None
    title = f"{author or channel}: {text.splitlines()[0][:80]}" if text else author
    return {"title": title, "author": author, "date": str(when) if when else None,
            "sitename": f"Telegram: {channel}" if channel else "Telegram", "text": text}
