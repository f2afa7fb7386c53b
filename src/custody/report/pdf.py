"""The capture report as PDF: the HTML report printed by Chromium (Debian's, driven by
Playwright, as `--browser` captures are), offline -- every request but the report's own
data is refused -- on A4 with its backgrounds. Without Chromium there is no PDF: the
command says so, and the HTML report prints from any browser."""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import UsageError


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
            page.pdf(path=str(out), format="A4", print_background=True,
                     margin={"top": "15mm", "bottom": "15mm", "left": "12mm",
                             "right": "12mm"})
        finally:
            browser.close()
