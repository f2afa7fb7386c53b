"""custody serve driven in headless Chromium (Debian's), as an investigator and as an
attacker: capture a loopback site from the form and watch it go, open it, see its
screenshots, replay a page in it and read its text, search Persian and Russian, and
see that a hostile title stays text, that another site's form and a rebinding host
are refused. One server and one browser for the module."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
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
    runner.ok("init", "--no-tsa", "--operator", "tester@example.org")
    runner.archive(site.url + "/hostile.html")
    # Persian and Russian text to search and quote whichever worker runs which test
    # (the form's capture, in a browser, is only one of them)
    runner.archive(site.url + "/fa.html", site.url + "/ru.html")
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
    # in the log's order: asked (before anything was fetched), captured, delivered
    events = log(archive)
    delivered = [e for e in events if e["event"] == "capture-delivered"]
    assert delivered and delivered[-1]["details"]["capture_id"] == cid
    request = delivered[-1]["details"]["request"]
    asked = [e for e in events if e["event"] == "capture-asked"
             and e["details"].get("request") == request]
    captured = [e for e in events if e["event"] == "captured"
                and e["details"]["capture_id"] == cid]
    assert asked and captured and asked[0]["seq"] < captured[0]["seq"] < delivered[-1]["seq"]
    assert asked[0]["details"]["account"] == "tester@example.org"


def test_a_page_replays_in_the_capture_page_from_another_origin(
        page: Any, site: SiteServer, served: Served, archive: Custody) -> None:
    rows = archive.query("select capture_id from documents where url like '%/ru.html'")
    cid = rows[-1]["capture_id"]
    page.goto(f"{served.base}/captures/{cid}?page={site.url}/ru.html")
    frame_element = page.locator("iframe.replay")
    src = frame_element.get_attribute("src")
    assert src and src.startswith("http://localhost:") and f":{served.port}/" not in src
    # the replayed page itself: pywb's banner, around it, would keep its state in storage
    # that Chromium refuses to a frame of another site, and say "Loading..." for ever
    assert "/mp_/" in src
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
    assert all("Loading..." not in f.inner_text("body") for f in page.frames[1:])


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


def test_a_case_made_tagged_noted_exported_and_checked(
        page: Any, served: Served, archive: Custody, tmp_path: Path) -> None:
    """An investigator's case from end to end in the browser: made, a capture added from
    the list, tagged and noted with a passage of its sealed text; the package downloaded
    checks with ssh-keygen and custody check; a note's event changed fails verify."""
    from test_case_export import run_verify_md
    from test_evidence import _clean_env_tools

    # a page's sealed text (Persian when the form's capture is in this archive)
    (doc,) = archive.query("select capture_id, url, text from documents where length(text) "
                           "> 80 order by url like '%/fa.html' desc, id desc limit 1")
    cid, url = doc["capture_id"], doc["url"]
    passage = " ".join(doc["text"].split()[3:9])
    page.goto(f"{served.base}/cases")
    page.get_by_label("Name").fill("Zahedan, 2026")
    page.get_by_label("Description").fill("Statements on the killings")
    page.get_by_role("button", name="Create the case").click()
    page.wait_for_url(re.compile(r"/cases/case-[0-9a-f]{12}$"))
    case_id = page.url.rsplit("/", 1)[1]
    page.goto(f"{served.base}/captures")
    page.get_by_label(f"Choose {cid}").check()
    page.locator("form#add-to-case select[name=case]").select_option(case_id)
    page.locator("form#add-to-case").get_by_role("button", name="Add").click()
    page.wait_for_url(re.compile(r"/captures$"))
    row = page.locator("li.capture", has=page.locator(f"code:text-is('{cid}')"))
    assert row.locator("a.case-label").inner_text() == "Zahedan, 2026"
    page.goto(f"{served.base}/captures/{cid}")
    page.get_by_label("New tag").fill("weapons")
    page.get_by_role("button", name="Tag", exact=True).click()
    page.wait_for_url(re.compile(r"#annotations$"))
    page.get_by_label("Note", exact=True).fill("Names the unit responsible.")
    page.get_by_label("Quoted passage", exact=False).fill(passage)
    page.get_by_label("On the page").select_option(url)
    page.get_by_role("button", name="Add the note").click()
    page.wait_for_url(re.compile(r"#annotations$"))
    note = page.locator("article.note").last
    assert note.locator("blockquote").inner_text().startswith(passage)
    assert "Names the unit responsible." in note.inner_text()
    kinds = [e["event"] for e in log(archive)]
    assert kinds[-4:] == ["case-created", "case-added", "tagged", "note-added"]
    page.goto(f"{served.base}/cases/{case_id}")
    assert "weapons" in page.locator("p.labels").inner_text()
    assert passage in page.inner_text("main")
    with page.expect_download() as asked:
        page.get_by_role("button", name="Download the case package").click()
    zipped = tmp_path / "case.zip"
    asked.value.save_as(zipped)
    exported = log(archive)[-1]
    assert exported["event"] == "case-exported" and exported["details"]["case_id"] == case_id
    assert exported["details"]["account"] == "tester@example.org"
    shutil.unpack_archive(zipped, tmp_path / "out")
    package = tmp_path / "out" / case_id
    assert hashlib.sha256((package / "manifest.json").read_bytes()).hexdigest() == \
        exported["details"]["manifest_sha256"]
    results = run_verify_md(package, _clean_env_tools(tmp_path))
    assert not [r for r in results if r[1]], [r for r in results if r[1]]
    said = "\n".join(r[2] for r in results)
    assert 'Good "custody-manifest" signature for tester@example.org' in said
    signed = subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", "tester@example.org",
         "-n", "custody-manifest", "-s", "manifest.json.sig"],
        input=(package / "manifest.json").read_bytes(), cwd=package, capture_output=True)
    assert signed.returncode == 0, signed.stderr
    warcs = list(package.glob("captures/*/archive/**/*.warc.gz"))
    assert warcs
    for warc in warcs:
        archive.ok("check", str(warc))
    # a note's event changed in (a copy of) the archive: verify fails, naming the log
    copy = tmp_path / "copy"
    shutil.copytree(archive.root, copy)
    log_file = copy / "manifests" / "ledger" / "log.jsonl"
    text = log_file.read_bytes()
    assert text.count(b"Names the unit responsible.") == 1
    log_file.write_bytes(text.replace(b"Names the unit responsible.", b"Names nobody at all."))
    code, report = Custody(copy, archive.key).verify()
    assert code != 0 and report["status"] == "failed"
    failed = [c for c in report["checks"] if c["outcome"] == "failed"]
    assert failed and any("log" in c["check"] for c in failed), failed


def test_screens_of_the_main_pages(page: Any, served: Served, archive: Custody) -> None:
    """The main pages laid out at desktop and phone width, saved when SCREENS names a
    folder (for people to look at); here only checked to lay out without overflow."""
    cid = archive.query("select id from captures order by id desc")[0]["id"]
    cases = archive.query("select id from cases order by created_seq")
    if not cases:  # (the case test ran on another worker)
        archive.ok("case", "create", "Screens")
        archive.ok("case", "add", "Screens", cid)
        cases = archive.query("select id from cases order by created_seq")
    case_id = cases[0]["id"]
    folder = os.environ.get("SCREENS")
    for width, name in ((1280, "desktop"), (390, "narrow")):
        page.set_viewport_size({"width": width, "height": 900})
        for path, what in (("/captures", "captures"), (f"/captures/{cid}", "capture"),
                           ("/search?q=Ирана OR مسئولیت", "search"),
                           (f"/cases/{case_id}", "case")):
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
            wide = page.evaluate("() => [...document.querySelectorAll('main *')].filter("
                                 "e => e.getBoundingClientRect().right > innerWidth + 1)"
                                 ".slice(0, 5).map(e => e.outerHTML.slice(0, 80))")
            assert overflow <= 1, (what, width, overflow, wide)
            if folder:
                page.screenshot(path=str(Path(folder) / f"{what}-{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
