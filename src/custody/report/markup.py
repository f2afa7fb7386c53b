"""Values set into the report's HTML: escaped, URLs that break only where a URL may, and
text that keeps its own script and direction."""

from __future__ import annotations

from html import escape
from typing import Any


def text(value: Any) -> str:
    return escape("" if value is None else str(value))


def bidi(value: str | None, language: str | None = None) -> str:
    lang = f' lang="{text(language)}"' if language else ""
    return f'<bdi dir="auto"{lang}>{text(value) if value else "(no title)"}</bdi>'


def url(value: Any) -> str:
    """A URL that may break after a slash, a '?' or a '&', never inside its host."""
    shown = text(value)
    scheme, sep, rest = shown.partition("://")
    if not sep:
        scheme, rest = "", shown
    for mark in ("/", "?", "&amp;"):
        rest = rest.replace(mark, mark + "<wbr>")
    return f"<code>{scheme}{sep}{rest}</code>"
