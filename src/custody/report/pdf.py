"""The capture report as PDF: the HTML report printed by Chromium (Debian's, driven by
Playwright, as `--browser` captures are), offline -- every request but the report's own
data is refused -- on A4 with its backgrounds. Without Chromium there is no PDF: the
command says so, and the HTML report prints from any browser."""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import UsageError

_MARGIN_TEXT = ('style="font-family: sans-serif; font-size: 7.5pt; color: #333; width: 100%; '
                'margin: 0 12mm; display: flex; justify-content: space-between;"')


def print_pdf(html: str, out: Path) -> None:
    from ..browser.chromium import CHROMIUM

    path = os.environ.get("CUSTODY_CHROMIUM") or CHROMIUM
    if not Path(path).is_file() or not os.access(path, os.X_OK):
        raise UsageError(f"--pdf needs Chromium at {path} (`./scripts/setup --browser` "
                         "installs it, or set CUSTODY_CHROMIUM); the HTML report prints from "
                         "any browser")
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # the sandbox refuses root
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=args)
        try:
            page = browser.new_page()
            page.route("**/*", lambda route: route.abort())  # nothing from outside
            page.set_content(html, wait_until="load")
            named = page.evaluate(
                "[...document.querySelectorAll('meta[name^=custody-]')]"
                ".map(m => [m.name, m.content])")
            header, footer = _running(dict(named))
            page.pdf(path=str(out), format="A4", print_background=True,
                     display_header_footer=True, header_template=header,
                     footer_template=footer,
                     margin={"top": "18mm", "bottom": "16mm", "left": "12mm",
                             "right": "12mm"})
        finally:
            browser.close()


def _running(named: dict[str, str]) -> tuple[str, str]:
    """The header each printed page carries (the capture and its manifest's SHA-256) and
    its footer (the page's number, of how many)."""
    from html import escape

    capture = escape(named.get("custody-capture", ""))
    digest = escape(named.get("custody-manifest-sha256", ""))
    header = (f"<div {_MARGIN_TEXT}><span>Capture report {capture}</span>"
              f"<span>manifest SHA-256 {digest}</span></div>")
    footer = (f"<div {_MARGIN_TEXT}><span>custody capture report {capture}</span><span>page "
              '<span class="pageNumber"></span> of <span class="totalPages"></span></span></div>')
    return header, footer
