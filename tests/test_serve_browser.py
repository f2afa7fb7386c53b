"""custody serve driven in headless Chromium (Debian's), as an investigator and as an
attacker: capture a loopback site from the form and watch it go, open it, see its
screenshots, replay a page in it and read its text, search Persian and Russian, and
see that a hostile title stays text, that another site's form and a rebinding host
are refused. One server and one browser for the module."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import PYWB, SEEDS, Custody
from custody.testing.payloads import TITLE, hostile_page
from custody.testing.serving import Served, serving
from custody.testing.site import Page, SiteServer, build_site

CHROMIUM = os.environ.get("CUSTODY_CHROMIUM", "/usr/bin/chromium")
pytestmark = [
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason=f"no Chromium at {CHROMIUM}: ./scripts/setup --test"),
    pytest.mark.skipif(not (PYWB / "wayback").exists(),
                       reason=f"no pywb at {PYWB}: ./scripts/setup --test installs it"),
]


@pytest.fixture(scope="module")
def site() -> Iterator[SiteServer]:
    pages = build_site(SEEDS)
    pages["/hostile.html"] = Page(hostile_page(), "text/html; charset=utf-8")
    with SiteServer(pages) as server:
        yield server


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, site: SiteServer) -> Custody:
    base = tmp_path_factory.mktemp("workbench")
    os.environ.pop("CUSTODY_KEY_PASSPHRASE", None)
    runner = Custody(base / "evidence", base / "keys" / "id_ed25519")
    runner.ok("init", "--operator", "tester@example.org")
    runner.archive(site.url + "/hostile.html")
    return runner


@pytest.fixture(scope="module")
def served(archive: Custody) -> Iterator[Served]:
    with serving(archive.root, env={"CUSTODY_KEY": str(archive.key)}) as found:
        yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*(["--no-sandbox"] if os.geteuid() == 0 else []), "--disable-gpu",
                  "--disable-dev-shm-usage",
                  # attacker.test resolves to loopback: a DNS rebinding, as a page sees it
                  "--host-resolver-rules=MAP attacker.test 127.0.0.1"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def page(browser: Any, served: Served) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    opened.goto(f"{served.base}/?token={served.token}")
    assert "token=" not in opened.url  # the secret left the address at once
    yield opened
    context.close()


def log(archive: Custody) -> list[dict[str, Any]]:
    text = (archive.root / "manifests" / "ledger" / "log.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_capture_from_the_form_then_open_it_and_see_its_screenshots(
        page: Any, site: SiteServer, served: Served, archive: Custody) -> None:
    page.goto(f"{served.base}/captures")
    page.get_by_role("link", name="Capture", exact=True).click()
    page.get_by_label("URLs, one per line").fill(f"{site.url}/fa.html\n{site.url}/ru.html")
    page.get_by_label("In a browser (Chromium)").check()
    page.get_by_label("Page time (s)").fill("15")
    page.get_by_role("button", name="Capture").click()
    page.wait_for_load_state()
    assert "/jobs/" in page.url, page.content()[:2000]
    page.evaluate("window.__stayed = true")  # gone if the page reloads
    seen = set()
    fetched = 0
    for _ in range(600):
        state = page.locator('[data-field="state"]').inner_text()
        seen.add(state)
        fetched = max(fetched, int(page.locator('[data-field="fetched"]').inner_text()))
        assert page.evaluate("window.__stayed === true")  # no reload: it came by itself
        if state in ("done", "failed"):
            break
        page.wait_for_timeout(200)
    assert state == "done", page.locator('[data-field="error"]').inner_text()
    assert ("fetching" in seen or "sealing" in seen) and fetched >= 2, (seen, fetched)
    page.wait_for_url(re.compile(r"/captures/\d{8}T\d{6}Z-[0-9a-f]{8}$"))  # opened itself
    shots = page.locator("img.screenshot")
    assert shots.count() == 2
    for i in range(2):
        shots.nth(i).scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=shots.nth(i).element_handle())
        assert shots.nth(i).evaluate("img => img.naturalWidth") > 300
    cid = page.url.rsplit("/", 1)[1]
    asked = [e for e in log(archive) if e["event"] == "capture-asked"]
    assert asked and asked[-1]["details"]["capture_id"] == cid
    assert asked[-1]["details"]["account"] == "tester@example.org"


def test_a_page_replays_in_the_capture_page_from_another_origin(
        page: Any, site: SiteServer, served: Served, archive: Custody) -> None:
    rows = archive.query("select capture_id from documents where url like '%/ru.html'")
    cid = rows[-1]["capture_id"]
    page.goto(f"{served.base}/captures/{cid}?page={site.url}/ru.html")
    frame_element = page.locator("iframe.replay")
    src = frame_element.get_attribute("src")
    assert src and src.startswith("http://localhost:") and f":{served.port}/" not in src
    frame_element.scroll_into_view_if_needed()
    expected = build_site(SEEDS)["/ru.html"].expected_text or ""
    words = expected.split("\n")[0][:40]
    for _ in range(120):
        inner = [f for f in page.frames if "/mp_/" in f.url]
        if inner:
            try:
                if words in inner[0].inner_text("body"):
                    break
            except Exception:  # the frame is still loading: ask again
                pass
        page.wait_for_timeout(250)
    else:
        pytest.fail("the replayed page's text never showed")
    assert all(not f.url.startswith(served.base) for f in page.frames[1:])  # not our origin


def test_search_a_persian_word_and_a_russian_word_form(page: Any, served: Served) -> None:
    page.goto(f"{served.base}/search")
    page.get_by_label("Words").fill("Ирана")
    page.get_by_label("Words").press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    marks = page.locator("ol.hits mark").all_inner_texts()
    assert marks and all(m.lower().startswith("иран") for m in marks)
    page.get_by_label("Words").fill("مسئولیت")
    page.get_by_label("Language").fill("fa")
    page.get_by_label("Words").press("Enter")
    page.wait_for_load_state()
    hits = page.locator("ol.hits li")
    assert hits.count() >= 1
    snippet = hits.first.locator(".snippet")
    assert snippet.evaluate("p => getComputedStyle(p).direction") == "rtl"  # as written
    assert hits.first.locator("mark").count() >= 1


def test_a_hostile_title_is_shown_and_never_runs(page: Any, served: Served,
                                                 archive: Custody) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    cid = archive.query("select id from captures where seed_url like '%/hostile.html'")[0]["id"]
    for path in ("/captures", f"/captures/{cid}", "/search?q=statement"):
        page.goto(served.base + path)
        assert page.evaluate("window.__custody_pwned === undefined"), path
        assert page.locator("img[src='x'], svg[onload]").count() == 0, path
        assert TITLE.split("<script>")[1].split("</script>")[0] in page.inner_text("body")
    assert dialogs == []


def test_another_sites_form_and_a_rebinding_host_are_refused(
        browser: Any, page: Any, served: Served, archive: Custody) -> None:
    cid = archive.query("select id from captures")[0]["id"]
    before = len(log(archive))
    attack = f"""<!DOCTYPE html><html><body><form id="f" method="post"
        action="{served.base}/captures/{cid}/verify"><input name="csrf" value="guess"></form>
        <script>document.getElementById('f').submit()</script></body></html>"""
    with SiteServer({"/attack.html": Page(attack.encode(), "text/html")},
                    host="127.0.0.2") as attacker:
        page.goto(f"{attacker.url}/attack.html")
        page.wait_for_url(re.compile(r"/verify$"))
        assert page.locator("body").inner_text().startswith("custody serve:")
    assert len(log(archive)) == before  # nothing verified, nothing logged
    answer = page.goto(f"http://attacker.test:{served.port}/captures")
    assert answer is not None and answer.status == 421
    assert "DNS rebinding" in page.inner_text("body")


def test_screens_of_the_main_pages(page: Any, served: Served, archive: Custody) -> None:
    """The main pages laid out at desktop and phone width, saved when SCREENS names a
    folder (for people to look at); here only checked to lay out without overflow."""
    cid = archive.query("select id from captures order by id desc")[0]["id"]
    folder = os.environ.get("SCREENS")
    for width, name in ((1280, "desktop"), (390, "narrow")):
        page.set_viewport_size({"width": width, "height": 900})
        for path, what in (("/captures", "captures"), (f"/captures/{cid}", "capture"),
                           ("/search?q=Ирана", "search")):
            page.goto(served.base + path)
            if what == "capture":  # the replay, loaded
                page.locator("iframe.replay").scroll_into_view_if_needed()
                for _ in range(80):
                    if any("/mp_/" in f.url for f in page.frames):
                        break
                    page.wait_for_timeout(250)
                page.wait_for_load_state("networkidle")
                if folder:  # (a full-page shot leaves the other site's frame blank)
                    page.locator("#replay").screenshot(
                        path=str(Path(folder) / f"capture-replay-{name}.png"))
                page.evaluate("window.scrollTo(0, 0)")
            overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert overflow <= 1, (what, width, overflow)
            if folder:
                page.screenshot(path=str(Path(folder) / f"{what}-{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
