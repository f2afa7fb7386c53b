"""custody report: a capture told for a lawyer -- read in a real browser (Chromium), and
as PDF through pdftotext -- with every section the evidence gives, Persian and Russian
titles in their own script and direction; and bundled."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import Custody, capture_id_of, trust_tsa
from custody.testing.site import SiteServer

CHROMIUM = os.environ.get("CUSTODY_CHROMIUM", "/usr/bin/chromium")
SECTIONS = ["1. What was captured", "2. When", "3. From where", "4. How, and by whom",
            "5. What came back", "6. What was derived", "7. Chain of custody",
            "8. Ledger position and inclusion proof", "9. Verification when this report",
            "10. Checking it without custody"]


def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: ./scripts/setup --test installs it")
    return CHROMIUM


def read_in_browser(path: Path) -> dict[str, Any]:
    """The report as a person sees it: its visible text, and how the browser set out
    each title and the screenshot."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox"] if os.geteuid() == 0 else [])
        try:
            page = browser.new_page()
            page.goto(path.as_uri(), wait_until="load")
            return {
                "text": page.inner_text("body"),
                "directions": page.evaluate(
                    "[...document.querySelectorAll('bdi')].map(b => "
                    "[b.textContent, getComputedStyle(b).direction, b.lang])"),
                "screenshots": page.evaluate(
                    "[...document.querySelectorAll('img.screenshot')].map(i => i.naturalWidth)"),
            }
        finally:
            browser.close()


def test_report_reads_as_a_lawyer_needs(custody: Custody, tls_site: SiteServer, ca_file: str,
                                        tsa: Any, tmp_path: Path) -> None:
    chromium()
    trust_tsa(custody, tsa)
    result = custody.archive(tls_site.url + "/fa.html", tls_site.url + "/ru.html",
                             extra=("--browser", "--page-timeout", "10", "--ca-bundle",
                                    ca_file, "--no-requisites"))
    assert result["status"] == "success", result
    cid = capture_id_of(custody)
    content = custody.manifest(cid)
    out = tmp_path / "report.html"
    custody.ok("report", cid, "-o", str(out))
    seen = read_in_browser(out)
    text = seen["text"]
    for section in SECTIONS:
        assert section in text, section
    titles = {d["url"]: d["metadata"]["title"] for d in content["documents"]
              if d["metadata"]["title"]}
    persian = next(t for u, t in titles.items() if u.endswith("/fa.html"))
    russian = next(t for u, t in titles.items() if u.endswith("/ru.html"))
    assert persian in text and russian in text
    directions = {t: (d, lang) for t, d, lang in seen["directions"]}
    assert directions[persian] == ("rtl", "fa"), directions  # right to left, as written
    assert directions[russian][0] == "ltr"
    assert seen["screenshots"] and seen["screenshots"][0] > 100  # the page as it was seen
    assert "genTime" in text  # the TSA's time, and its name
    assert "O=trustme" in text  # the certificate the server presented, and its issuer
    assert "verified each server's certificate chain against" in text
    assert content["collector"]["key_fingerprint"] in text
    assert "Transformations of the WARC bytes: none" in text
    assert "captured" in text.split("7. Chain of custody")[1]
    assert "PASSED" in text.split("9. Verification")[1]
    assert "sha256sum -c SHA256SUMS" in text
    for record in content["records"]:
        if record["type"] == "response":
            assert record["payload_sha256"] in text
        if record["type"] == "resource" and (record["target_uri"] or "").startswith("urn:"):
            assert (record.get("payload_sha256") or record["block_sha256"]) in text
    # every page's screenshot (two pages, two), each named in its caption
    shots = [r for r in content["records"]
             if (r["target_uri"] or "").startswith("urn:screenshot:")]
    assert len(shots) == 2 and len(seen["screenshots"]) >= 2
    for shot in shots:
        assert shot["target_uri"].removeprefix("urn:screenshot:") in \
            text.split("Screenshots")[-1]
    # which text of a page a row is: as served, or as the browser rendered it
    assert "as the server sent it" in text and "as the browser rendered it" in text
    custody_section = text.split("7. Chain of custody")[1].split("8. Ledger")[0]
    assert '{"' not in custody_section and '{"' not in text.split("4. How")[1].split("5. ")[0]
    assert "Fonts asked for" not in text
    again = custody("report", cid, "-o", str(out))
    assert again.exit_code == 2 and "exists" in again.output  # never overwritten

    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing: ./scripts/setup --test installs poppler-utils")
    pdf = tmp_path / "report.pdf"
    custody.ok("report", cid, "-o", str(pdf), "--pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    printed = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                             check=True).stdout
    for section in ("Chain of custody", "What came back", "Checking it without custody"):
        assert section in printed
    pages = [p for p in printed.split("\f") if p.strip()]
    assert len(pages) > 2
    for number, page in enumerate(pages, 1):  # each printed page says what it belongs to
        assert cid in page and f"page {number} of {len(pages)}" in page, page[:300]
    assert russian in printed

    bundle = tmp_path / "bundle"
    custody.ok("bundle", cid, "-o", str(bundle))
    assert "report.html" in (bundle / "SHA256SUMS").read_text()
    assert persian in (bundle / "report.html").read_text(encoding="utf-8")
    events = (custody.root / "manifests" / "ledger" / "log.jsonl").read_text()
    assert '"event":"reported"' in events


def test_report_of_an_unknown_capture(custody: Custody, tmp_path: Path) -> None:
    result = custody("report", "20260101T000000Z-00000000", "-o", str(tmp_path / "r.html"))
    assert result.exit_code == 8 and "no such capture" in result.output
    assert not (tmp_path / "r.html").exists()


def test_a_report_into_a_missing_folder_is_one_line(sealed: Custody, tmp_path: Path) -> None:
    from test_cli import one_line_error

    result = sealed("report", capture_id_of(sealed), "-o", str(tmp_path / "nowhere" / "r.html"))
    assert result.exit_code == 2
    assert "no such folder" in one_line_error(result.output)
    assert not (tmp_path / "nowhere").exists()
