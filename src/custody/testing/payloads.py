"""Hostile text a captured page may carry -- in its title, its text, its URL or its
headers -- that a page showing it must show as text and never run, and a page of the
sample site's kind that carries it all."""

from __future__ import annotations

import html

MARKUP = [
    "<script>window.__custody_pwned = 'script'</script>",
    "\"><img src=x onerror=\"window.__custody_pwned='img'\">",
    "</title></bdi></a><svg onload=\"window.__custody_pwned='svg'\">",
    "{{ 7*7 }} {% raw %}",  # template syntax: shown, never evaluated
    "javascript:window.__custody_pwned='href'",
    "\u202eevil.exe\u202c",  # a right-to-left override
]
TITLE = "Statement " + " ".join(MARKUP)


def hostile_page() -> bytes:
    """A page whose title and text carry every payload (escaped once in its own HTML, as
    a site that shows them as text would: the title a browser reads back is TITLE)."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in MARKUP)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(TITLE)}"
            f"</title></head><body><h1>{html.escape(TITLE)}</h1>{body}"
            "<p>A statement whose title tries to run in every page that shows it.</p>"
            "</body></html>").encode()
