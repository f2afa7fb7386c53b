"""custody serve over HTTP, as a browser and as an attacker would talk to it: the per-run
secret, the Host check, cross-site requests and CSRF, the pages and what they show
(hostile titles as text), verify now, downloads logged with the account, and a team's
accounts and roles. One server per module, on a real sealed archive."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import SEEDS, Custody, chain_ids, trust_tsa
from custody.testing.payloads import TITLE, hostile_page
from custody.testing.serving import Served, serving
from custody.testing.site import Page, SiteServer, build_site
from test_annotation_index import CONTACTS

CUSTODY = str(Path(sys.executable).with_name("custody"))


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, tsa: Any) -> Iterator[Custody]:
    base = tmp_path_factory.mktemp("serve")
    os.environ.pop("CUSTODY_KEY_PASSPHRASE", None)
    runner = Custody(base / "evidence", base / "keys" / "id_ed25519")
    runner.ok("init", "--no-tsa", "--operator", "tester@example.org")
    trust_tsa(runner, tsa)  # each capture timestamped by the local TSA
    pages = build_site(SEEDS)
    pages["/hostile.html"] = Page(hostile_page(), "text/html; charset=utf-8")
    pages["/contacts.html"] = Page(CONTACTS.encode(), "text/html; charset=utf-8")
    with SiteServer(pages) as site:
        for path in ("/en.html", "/fa.html", "/ru.html", "/hostile.html", "/contacts.html"):
            runner.archive(site.url + path)
        runner.archive(site.url + "/fa.html")  # a second capture of one URL
    yield runner


@pytest.fixture(scope="module")
def served(archive: Custody) -> Iterator[Served]:
    with serving(archive.root, "--no-replay", env={"CUSTODY_KEY": str(archive.key)}) as found:
        yield found


def ids(archive: Custody) -> list[str]:
    rows = archive.query("select id, seed_url from captures order by id")
    return [r["id"] for r in rows]


def capture_of(archive: Custody, path: str) -> str:
    """The first capture of the path (in chain order: ids of one second do not sort)."""
    rows = archive.query(f"select id from captures where seed_url like '%{path}' "
                         "order by sequence")
    return str(rows[0]["id"])


def log_entries(archive: Custody) -> list[dict[str, Any]]:
    text = (archive.root / "manifests" / "ledger" / "log.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def test_the_secret_opens_a_session_and_leaves_the_address(served: Served) -> None:
    with httpx.Client(base_url=served.base) as client:
        assert client.get("/captures").status_code == 401  # no session
        wrong = client.get("/?token=not-the-secret")
        assert wrong.status_code == 403 and "custody_session" not in wrong.headers.get(
            "set-cookie", "")
        opened = client.get(f"/captures?token={served.token}&site=x")
        assert opened.status_code == 303
        assert opened.headers["location"] == "/captures?site=x"  # the secret taken out
        cookie = opened.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert client.get("/captures").status_code == 200


def test_a_rebinding_host_is_refused(served: Served) -> None:
    client = served.signed_in()
    answer = client.get("/captures", headers={"Host": f"attacker.example:{served.port}"})
    assert answer.status_code == 421
    assert client.get("/captures", headers={"Host": f"localhost:{served.port}"}) \
        .status_code == 200


def test_cross_site_requests_and_changes_without_the_token_are_refused(
        served: Served, archive: Custody) -> None:
    client = served.signed_in()
    cid = ids(archive)[0]
    page = client.get(f"/captures/{cid}").text
    token = csrf_of(page)
    before = len(log_entries(archive))
    # a form another site posts, with the session's cookie (and even its token)
    for headers in ({"Origin": "http://attacker.example"},
                    {"Origin": f"http://localhost:{served.port + 1}"},
                    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}):
        refused = client.post(f"/captures/{cid}/verify", data={"csrf": token},
                              headers=headers)
        assert refused.status_code == 403, headers
    # the workbench's own origin, without the token
    assert client.post(f"/captures/{cid}/verify", data={}).status_code == 403
    assert client.post(f"/captures/{cid}/verify", data={"csrf": "x" * 43}).status_code == 403
    # another site's script or image asking in the background: refused, even a GET
    sneaky = client.get("/captures", headers={"Sec-Fetch-Site": "cross-site",
                                              "Sec-Fetch-Mode": "no-cors",
                                              "Sec-Fetch-Dest": "image"})
    assert sneaky.status_code == 403
    # a person following a link from elsewhere: shown
    assert client.get("/captures", headers={"Sec-Fetch-Site": "cross-site",
                                            "Sec-Fetch-Mode": "navigate",
                                            "Sec-Fetch-Dest": "document"}).status_code == 200
    assert len(log_entries(archive)) == before  # nothing was done


def test_every_change_needs_the_token(served: Served, archive: Custody) -> None:
    """Every route that takes a POST refuses one without the session's CSRF token, and
    changes nothing (the sign-in form, which has no session yet, aside)."""
    from custody.web.app import ROUTES

    client = served.signed_in()
    cid = ids(archive)[0]
    before = len(log_entries(archive))
    posts = [r.path for r in ROUTES if "POST" in (getattr(r, "methods", None) or ())]
    assert len(posts) >= 6
    for path in posts:
        if path == "/login":
            continue
        concrete = path.replace("{capture_id:str}", cid).replace("{kind:str}", "report")
        answer = client.post(concrete, data={"urls": "http://127.0.0.1:9/", "name": "x",
                                             "action": "add"})
        assert answer.status_code == 403, (path, answer.status_code)
    assert len(log_entries(archive)) == before
    assert client.get("/captures").status_code == 200  # still signed in: logout refused


def test_headers_forbid_framing_inline_script_and_referrers(served: Served) -> None:
    answer = served.signed_in().get("/captures")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert answer.headers["cache-control"] == "no-store"
    assert "<script>" not in answer.text.replace('<script src="/static/app.js" defer>', "")


def test_the_captures_list_newest_first_with_filters(served: Served, archive: Custody) -> None:
    client = served.signed_in()
    page = client.get("/captures").text
    shown = re.findall(r'<code>(\d{8}T\d{6}Z-[0-9a-f]{8})</code>', page)
    assert shown == sorted(ids(archive), reverse=True)
    persian = client.get("/captures", params={"lang": "fa"}).text
    fa_ids = {r["capture_id"] for r in archive.query(
        "select distinct capture_id from documents where language = 'fa'")}
    assert set(re.findall(r'<code>(\d{8}T\d{6}Z-[0-9a-f]{8})</code>', persian)) == fa_ids
    assert 'dir="auto" lang="fa"' in persian
    for imported, wanted in (("no", set(shown)), ("yes", set())):
        chosen = client.get("/captures", params={"imported": imported}).text
        assert set(re.findall(r'<code>(\d{8}T\d{6}Z-[0-9a-f]{8})</code>', chosen)) == wanted
    bad = client.get("/captures", params={"lang": "xx"})
    assert bad.status_code == 200 and "is not a language" in bad.text


def test_paging_by_key(archive: Custody) -> None:
    import sqlite3

    from custody.web.listing import Filters, captures

    conn = sqlite3.connect(archive.root / "custody.db")
    # (the module's other tests may have added captures before this one: all are paged)
    pages = [captures(conn, Filters(), size=2)]
    while pages[-1].older is not None:
        pages.append(captures(conn, Filters(), after=pages[-1].older, size=2))
    seen = [r.id for p in pages for r in p.rows]
    assert seen == sorted(ids(archive), reverse=True)
    assert len(pages) >= 3 and pages[0].newer is None
    back = captures(conn, Filters(), before=pages[1].rows[0].id, size=2)
    assert [r.id for r in back.rows] == [r.id for r in pages[0].rows]


def test_a_hostile_title_is_text_everywhere(served: Served, archive: Custody) -> None:
    from markupsafe import escape

    from custody.core.terminal import for_terminal

    client = served.signed_in()
    cid = capture_of(archive, "/hostile.html")
    assert "\u202e" in TITLE
    for path in ("/captures", f"/captures/{cid}", "/search?q=statement+title"):
        page = client.get(path).text
        # the whole title, as text, its bidi override shown as \u202e, never acting
        assert str(escape(for_terminal(TITLE))) in page, path
        assert "\u202e" not in page, path
        assert "<img src=x" not in page and "<svg onload" not in page, path
        assert "<script>window.__custody_pwned" not in page, path
        assert "{{ 7*7 }}" in page, path  # template syntax shown, not evaluated


def test_a_capture_shows_what_a_court_asks(served: Served, archive: Custody) -> None:
    client = served.signed_in()
    cid = capture_of(archive, "/fa.html")
    content = archive.manifest(cid)
    page = client.get(f"/captures/{cid}").text
    import hashlib

    sealed = (archive.root / "manifests" / f"{cid}.json").read_bytes()
    assert hashlib.sha256(sealed).hexdigest() in page
    assert content["collector"]["key_fingerprint"] in page
    assert content["collector"]["operator"] in page
    assert "127.0.0.1" in page  # the server's address
    assert re.search(r"outcome-passed\">passed</span>: genTime 20\d\d-", page)  # the TSA's time
    for record in content["records"]:
        if record["type"] == "response":
            assert record["payload_sha256"] in page
    assert "captured</td>" in page  # its custody log event
    # the second capture of fa.html (the module's other tests may have made later ones)
    newest = [c for c in chain_ids(archive)
              if archive.manifest(c)["seed_url"].endswith("/fa.html")][-1]
    assert newest != cid
    other = client.get(f"/captures/{newest}").text
    assert cid in other and "text diff" in other  # the URL's other capture
    diff = client.get(f"/captures/{newest}/diff", params={"other": cid}).text
    assert "The text is the same in both captures" in diff
    assert client.get("/captures/20260101T000000Z-00000000").status_code == 404
    assert client.get("/captures/../../etc/passwd").status_code == 404


def test_search_finds_persian_and_russian_word_forms(served: Served) -> None:
    client = served.signed_in()
    russian = client.get("/search", params={"q": "Ирана"}).text  # the text has Иран too
    assert "<mark>" in russian and "/ru.html" in russian
    persian = client.get("/search", params={"q": "مسئولیت", "lang": "fa"}).text
    assert "/fa.html" in persian and "<mark>" in persian
    assert 'dir="auto" lang="fa"' in persian
    first = client.get("/search", params={"q": "statement"}).text
    second = client.get("/search", params={"q": "statement", "start": "1"}).text
    assert "Matches 1 to" in first and "Matches 2 to" in second  # pages of hits
    bad = client.get("/search", params={"q": '"unclosed'})
    assert bad.status_code == 200 and 'class="error"' in bad.text


def test_verify_now_runs_in_the_background_and_is_logged(served: Served,
                                                         archive: Custody) -> None:
    client = served.signed_in()
    cid = capture_of(archive, "/en.html")
    token = csrf_of(client.get(f"/captures/{cid}").text)
    started = client.post(f"/captures/{cid}/verify", data={"csrf": token},
                          headers={"Accept": "application/json", "Origin": served.base})
    assert started.status_code == 200, started.text
    check = started.json()["check"]
    deadline = time.monotonic() + 60
    while True:
        state = client.get(f"/checks/{check}").json()
        if state["state"] != "running":
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state["state"] == "done" and state["status"] == "passed", state
    event = log_entries(archive)[-1]
    assert event["event"] == "verified" and event["details"]["capture_ids"] == [cid]
    assert event["details"]["account"] == "tester@example.org"
    listed = client.get("/captures").text
    row = listed.split(f"<code>{cid}</code>")[0].rsplit('<li class="capture">', 1)[1]
    assert "badge-passed" in row


def test_a_whole_verify_that_could_not_check_all_shows_each_capture_incomplete(
        custody: Custody, site: SiteServer) -> None:
    """Offline, a capture's timestamp is pending and the whole verify is incomplete, with
    nothing failed: each capture shows "incomplete", not "not verified"."""
    import sqlite3

    from custody.core.archive import Archive
    from custody.web.verification import badges

    done = custody("archive", "--json", "--tsa", "http://127.0.0.1:9/tsr", site.url + "/en.html")
    assert done.exit_code == 0, done.output
    cid = json.loads(done.stdout)["capture_id"]
    code, report = custody.verify()
    assert code == 6 and report["status"] == "incomplete", report
    conn = sqlite3.connect(custody.root / "custody.db")
    try:
        shown = badges(Archive.open(custody.root), conn,
                       [(cid, custody.manifest(cid)["finished_at"])])
    finally:
        conn.close()
    assert shown[cid].status == "incomplete", shown


def test_downloads_are_what_the_cli_writes_and_are_logged(served: Served, archive: Custody,
                                                          tmp_path: Path) -> None:
    client = served.signed_in()
    cid = capture_of(archive, "/ru.html")
    token = csrf_of(client.get(f"/captures/{cid}").text)
    report = client.post(f"/captures/{cid}/download/report", data={"csrf": token})
    assert report.status_code == 200
    assert "attachment" in report.headers["content-disposition"]
    assert "7. Chain of custody" in report.text
    assert log_entries(archive)[-1]["event"] == "reported"
    assert log_entries(archive)[-1]["details"]["account"] == "tester@example.org"
    if os.access(os.environ.get("CUSTODY_CHROMIUM", "/usr/bin/chromium"), os.X_OK):
        pdf = client.post(f"/captures/{cid}/download/report-pdf", data={"csrf": token})
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert log_entries(archive)[-1]["details"]["format"] == "pdf"
    wacz = client.post(f"/captures/{cid}/download/wacz", data={"csrf": token})
    assert wacz.status_code == 200
    path = tmp_path / "c.wacz"
    path.write_bytes(wacz.content)
    checked = subprocess.run([CUSTODY, "check", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert log_entries(archive)[-1]["event"] == "exported"
    bundle = client.post(f"/captures/{cid}/download/bundle", data={"csrf": token})
    assert bundle.status_code == 200 and bundle.content[:2] == b"PK"
    import zipfile

    zipped = tmp_path / "b.zip"
    zipped.write_bytes(bundle.content)
    with zipfile.ZipFile(zipped) as package:
        package.extractall(tmp_path / "bundle")
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "bundle" / cid,
                          capture_output=True, text=True)
    assert sums.returncode == 0, sums.stdout + sums.stderr
    assert log_entries(archive)[-1]["event"] == "bundled"
    assert client.post(f"/captures/{cid}/download/nothing", data={"csrf": token}) \
        .status_code == 404


def test_a_screenshot_less_capture_has_a_placeholder_thumbnail(served: Served,
                                                               archive: Custody) -> None:
    answer = served.signed_in().get(f"/captures/{ids(archive)[0]}/thumbnail")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/svg+xml"


# -- a team's workbench ----------------------------------------------------------------------


def shown_ids(html: str) -> set[str]:
    return set(re.findall(r'<code>(\d{8}T\d{6}Z-[0-9a-f]{8})</code>', html))


def test_cases_tags_and_notes_are_the_library_s_signed_events(served: Served,
                                                               archive: Custody) -> None:
    client = served.signed_in()
    en, contacts = capture_of(archive, "/en.html"), capture_of(archive, "/contacts.html")
    token = csrf_of(client.get("/cases").text)
    assert client.post("/cases", data={"name": "Zahedan"}).status_code == 403  # no token
    made = client.post("/cases", data={"csrf": token, "name": "Zahedan",
                                       "description": "Statements"})
    assert made.status_code == 303 and made.headers["location"].startswith("/cases/case-")
    case_id = made.headers["location"].rsplit("/", 1)[1]
    event = log_entries(archive)[-1]
    assert event["event"] == "case-created" and event["details"]["case_id"] == case_id
    assert event["details"]["account"] == "tester@example.org"
    assert client.post("/cases", data={"csrf": token, "name": " zahedan"}).status_code == 400
    # from the captures list: the ticked captures, back to the list
    added = client.post("/cases/add", data={"csrf": token, "case": case_id,
                                            "capture": [en, contacts], "next": "/captures"})
    assert added.status_code == 303 and added.headers["location"] == "/captures"
    assert sorted(log_entries(archive)[-1]["details"]["capture_ids"]) == sorted([en, contacts])
    again = client.post("/cases/add", data={"csrf": token, "case": case_id, "capture": en})
    assert again.status_code == 400 and "already in the case" in again.text
    away = client.post("/cases/add", data={"csrf": token, "case": case_id, "capture": en,
                                           "next": "//attacker.test/"})
    assert away.status_code == 400  # (already in it; a redirect elsewhere is never made)
    assert shown_ids(client.get("/captures", params={"case": case_id}).text) == {en, contacts}
    assert shown_ids(client.get("/captures", params={"case": "zahedan"}).text) == {en, contacts}
    assert "no such case" in client.get("/captures", params={"case": "nowhere"}).text
    # tags
    tagged = client.post(f"/captures/{en}/tags", data={"csrf": token, "tag": "Weapons"})
    assert tagged.status_code == 303 and log_entries(archive)[-1]["event"] == "tagged"
    assert client.post(f"/captures/{en}/tags", data={"csrf": token, "tag": "weapons"}) \
        .status_code == 400
    assert shown_ids(client.get("/captures", params={"tag": "WEAPONS"}).text) == {en}
    assert client.post(f"/captures/{contacts}/tags", data={"csrf": token, "tag": "gone"}) \
        .status_code == 303
    untagged = client.post(f"/captures/{contacts}/tags",
                           data={"csrf": token, "tag": "Gone", "action": "remove"})
    assert untagged.status_code == 303 and log_entries(archive)[-1]["event"] == "untagged"
    assert shown_ids(client.get("/captures", params={"tag": "gone"}).text) == set()
    before = len(log_entries(archive))
    assert client.post(f"/captures/{contacts}/tags", data={
        "csrf": token, "tag": "other", "action": "zzz"}).status_code == 400
    assert len(log_entries(archive)) == before  # an unknown action writes nothing
    # notes: a quoted passage the sealed text holds, and one it does not (refused)
    noted = client.post(f"/captures/{en}/notes", data={
        "csrf": token, "text": "Names the scale.", "quote": "monstrous   scale of\nthe massacre",
        "case": case_id})
    assert noted.status_code == 303, noted.text
    event = log_entries(archive)[-1]
    assert event["event"] == "note-added" and event["details"]["case_id"] == case_id
    quote = event["details"]["quote"]
    # quoted as the sealed text has it, not as typed
    assert " ".join(quote["text"].split()) == "monstrous scale of the massacre", quote
    assert quote["text"] != "monstrous   scale of\nthe massacre" and quote["end"] > quote["start"]
    sealed_text = archive.query(f"select text from documents where record_id = "
                                f"'{quote['record_id']}'")[0]["text"]
    assert sealed_text[quote["start"]:quote["end"]] == quote["text"]
    count = len(log_entries(archive))
    refused = client.post(f"/captures/{en}/notes", data={
        "csrf": token, "text": "Made up.", "quote": "a passage the page never held"})
    assert refused.status_code == 400 and "not in" in refused.text
    assert len(log_entries(archive)) == count
    # what the pages show
    capture_page = client.get(f"/captures/{en}").text
    assert "Weapons" in capture_page and "Names the scale." in capture_page
    assert quote["text"] in capture_page and "Zahedan" in capture_page
    case_page = client.get(f"/cases/{case_id}")
    assert case_page.status_code == 200
    text = case_page.text
    assert "Statements" in text and "Names the scale." in text and "Weapons" in text
    assert "press@example.org" in text and "+989121234567" in text  # selectors found
    assert f"/captures/{contacts}?page=" in text  # with the page that holds them
    assert client.get("/cases/case-000000000000").status_code == 404
    listed = client.get("/cases").text
    assert f'href="/cases/{case_id}"' in listed
    assert "Zahedan" in client.get("/captures").text  # each row's cases and tags
    # closed, a case takes nothing in; reopened, a capture taken out; a note retracted
    closed = client.post(f"/cases/{case_id}/change", data={"csrf": token, "action": "close",
                                                           "reason": "handed over"})
    assert closed.status_code == 303 and log_entries(archive)[-1]["event"] == "case-closed"
    ru = capture_of(archive, "/ru.html")
    shut = client.post("/cases/add", data={"csrf": token, "case": case_id, "capture": ru})
    assert shut.status_code == 400 and "closed" in shut.text
    assert client.post(f"/cases/{case_id}/change", data={"csrf": token, "action": "reopen"}) \
        .status_code == 303
    out = client.post(f"/cases/{case_id}/change", data={
        "csrf": token, "action": "remove", "capture": contacts, "reason": "off topic"})
    assert out.status_code == 303 and log_entries(archive)[-1]["event"] == "case-removed"
    assert shown_ids(client.get("/captures", params={"case": case_id}).text) == {en}
    note_id = next(e["details"]["note_id"] for e in reversed(log_entries(archive))
                   if e["event"] == "note-added")
    elsewhere = client.post(f"/captures/{contacts}/notes/retract",
                            data={"csrf": token, "note": note_id, "reason": "misread"})
    assert elsewhere.status_code == 404
    withdrawn = client.post(f"/captures/{en}/notes/retract",
                            data={"csrf": token, "note": note_id, "reason": "misread"})
    assert withdrawn.status_code == 303
    assert log_entries(archive)[-1]["event"] == "note-retracted"
    assert "retracted" in client.get(f"/captures/{en}").text


def test_a_capture_from_the_form_goes_into_the_case_chosen(served: Served, archive: Custody,
                                                          site: SiteServer) -> None:
    client = served.signed_in()
    token = csrf_of(client.get("/cases").text)
    made = client.post("/cases", data={"csrf": token, "name": "From the form"})
    case_id = made.headers["location"].rsplit("/", 1)[1]
    form = client.get("/capture").text
    assert f'<option value="{case_id}">From the form</option>' in form
    unknown = client.post("/capture", data={"csrf": token, "urls": f"{site.url}/en.html",
                                            "case": "no such case"})
    assert unknown.status_code == 400 and "there is no case" in unknown.text
    big = client.post("/capture", data={"csrf": token, "urls": f"{site.url}/en.html"},
                      files={"cookies": ("cookies.txt", b"#" * (1024 * 1024 + 1))})
    assert big.status_code == 400 and "cookies file is over" in big.text
    asked = client.post("/capture", data={"csrf": token, "urls": f"{site.url}/en.html",
                                          "case": case_id})
    assert asked.status_code == 303, asked.text
    job = asked.headers["location"]
    deadline = time.monotonic() + 120
    while (state := client.get(job + "/state").json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, state
        time.sleep(0.1)  # (the capture runs in the server's worker process)
    assert state["state"] == "done" and state["filed"] == "added to the case", state
    # the counts shown are the capture's last, not the first the page was told of
    assert state["progress"]["fetched"] >= 1 and state["progress"]["bytes"] > 0, state
    event = log_entries(archive)[-1]
    assert event["event"] == "case-added" and event["details"]["capture_ids"] == \
        [state["capture_id"]] and event["details"]["account"] == "tester@example.org"
    assert shown_ids(client.get("/captures", params={"case": case_id}).text) == \
        {state["capture_id"]}


@pytest.fixture(scope="module")
def team(archive: Custody, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    accounts = tmp_path_factory.mktemp("accounts") / "accounts.json"
    env = {**os.environ, "CUSTODY_ACCOUNTS": str(accounts), "CUSTODY_KEY": str(archive.key)}
    for name, role in (("ada", "admin"), ("ivan", "investigator"), ("vera", "viewer"),
                       ("wes", "viewer")):
        made = subprocess.run([CUSTODY, "account", "add", name, "--role", role],
                              env={**env, "CUSTODY_PASSWORD": f"{name}-password-long"},
                              capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
    assert oct(accounts.stat().st_mode & 0o777) == "0o600"
    assert "$2b$" in accounts.read_text() and "vera-password-long" not in accounts.read_text()
    with serving(archive.root, "--no-replay", "--host", "127.0.0.2", "--name", "127.0.0.2",
                 env={"CUSTODY_ACCOUNTS": str(accounts),
                      "CUSTODY_KEY": str(archive.key)}) as found:
        yield found


def sign_in(team: Served, name: str, password: str | None = None) -> httpx.Client:
    client = httpx.Client(base_url=team.base, timeout=60)
    answer = client.post("/login", data={"name": name,
                                         "password": password or f"{name}-password-long"})
    assert answer.status_code == 303, answer.text
    return client


def test_team_sign_in_and_roles(team: Served, archive: Custody) -> None:
    with httpx.Client(base_url=team.base) as anonymous:
        first = anonymous.get("/captures")
        assert first.status_code == 303 and first.headers["location"].startswith("/login")
        assert anonymous.get(f"/?token={team.token}").status_code in (303, 401)
    viewer = sign_in(team, "vera")
    cid = capture_of(archive, "/en.html")
    page = viewer.get(f"/captures/{cid}")
    assert page.status_code == 200 and "Verify now" in page.text
    token = csrf_of(page.text)
    refused = viewer.post("/capture", data={"csrf": token, "urls": "http://127.0.0.1:9/"})
    assert refused.status_code == 403
    assert viewer.get("/capture").status_code == 403
    assert viewer.post("/accounts", data={"csrf": token, "action": "add", "name": "x",
                                          "role": "admin", "password": "p" * 20}) \
        .status_code == 403
    allowed = viewer.post(f"/captures/{cid}/download/report", data={"csrf": token})
    assert allowed.status_code == 200
    assert log_entries(archive)[-1]["details"]["account"] == "vera"
    investigator = sign_in(team, "ivan")
    assert investigator.get("/capture").status_code == 200
    admin = sign_in(team, "ada")
    accounts = admin.get("/accounts")
    assert accounts.status_code == 200 and "vera" in accounts.text
    token = csrf_of(accounts.text)
    changed = admin.post("/accounts", data={"csrf": token, "action": "role", "name": "vera",
                                            "role": "investigator"})
    assert changed.status_code == 303
    event = log_entries(archive)[-1]
    assert event["event"] == "account-role-changed" and event["details"]["account"] == "ada"
    assert viewer.get("/captures").status_code == 303  # her session ended with the change


def test_signing_out_ends_the_session(team: Served) -> None:
    client = sign_in(team, "ivan")
    page = client.get("/captures")
    assert page.status_code == 200
    assert client.post("/logout", data={}).status_code == 403  # a change: the token too
    out = client.post("/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303
    assert client.get("/captures").status_code == 303  # to the sign-in page


def test_a_viewer_reads_cases_but_cannot_annotate(team: Served, archive: Custody) -> None:
    cid = capture_of(archive, "/en.html")
    viewer = sign_in(team, "wes")
    page = viewer.get(f"/captures/{cid}")
    assert page.status_code == 200 and "Cases, tags and notes" in page.text
    assert "Add the note" not in page.text and 'action="/cases/add"' not in page.text
    assert viewer.get("/cases").status_code == 200
    token = csrf_of(page.text)
    before = len(log_entries(archive))  # (an earlier test's verify may still log its own)
    for path, data in (("/cases", {"name": "Viewer's own"}),
                       ("/cases/add", {"case": "x", "capture": cid}),
                       (f"/captures/{cid}/tags", {"tag": "mine"}),
                       (f"/captures/{cid}/notes", {"text": "mine"}),
                       (f"/captures/{cid}/notes/retract", {"note": "x", "reason": "y"}),
                       ("/cases/x/change", {"action": "close"})):
        refused = viewer.post(path, data={"csrf": token, **data})
        assert refused.status_code == 403, (path, refused.text)
    assert not [e for e in log_entries(archive)[before:]
                if (e.get("details") or {}).get("account") == "wes"]  # nothing written
    investigator = sign_in(team, "ivan")
    token = csrf_of(investigator.get("/cases").text)
    made = investigator.post("/cases", data={"csrf": token, "name": "Team case"})
    assert made.status_code == 303
    assert log_entries(archive)[-1]["event"] == "case-created"
    assert log_entries(archive)[-1]["details"]["account"] == "ivan"


def test_team_logins_are_limited(team: Served) -> None:
    with httpx.Client(base_url=team.base) as client:
        for _ in range(5):
            assert client.post("/login", data={"name": "ada", "password": "wrong-guess-xx"}) \
                .status_code == 401
        blocked = client.post("/login", data={"name": "ada",
                                              "password": "ada-password-long"})
        assert blocked.status_code == 429 and "try again" in blocked.text


def test_a_team_server_needs_an_admin(archive: Custody, tmp_path: Path) -> None:
    result = subprocess.run([CUSTODY, "serve", "--root", str(archive.root), "--host",
                             "127.0.0.2", "--port", "0", "--no-replay"],
                            env={**os.environ, "CUSTODY_ACCOUNTS": str(tmp_path / "none.json"),
                                 "CUSTODY_KEY": str(archive.key)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("custody: error: ") and "admin" in result.stderr
    assert "Traceback" not in result.stderr


# -- on the shared queue --------------------------------------------------------------------


def test_captures_go_on_the_queue_when_given_one(tmp_path: Path, site: SiteServer) -> None:
    from custody.testing.redis_server import RedisServer, redis_binary

    if redis_binary() is None:
        pytest.skip("no redis-server: ./scripts/setup --test installs it")
    runner = Custody(tmp_path / "evidence", tmp_path / "keys" / "id_ed25519")
    runner.ok("init", "--no-tsa", "--operator", "tester@example.org")
    env = {"CUSTODY_KEY": str(runner.key)}
    with RedisServer(tmp_path / "redis") as redis, \
            serving(runner.root, "--no-replay", "--queue", redis.url, env=env) as found:
        client = found.signed_in()
        form = client.get("/capture")
        assert "shared queue" in form.text
        token = csrf_of(form.text)
        made = client.post("/cases", data={"csrf": token, "name": "Queued"})
        case_id = made.headers["location"].rsplit("/", 1)[1]
        asked = client.post("/capture", data={"csrf": token, "urls": f"{site.url}/en.html",
                                              "case": case_id})
        assert asked.status_code == 303, asked.text
        job = asked.headers["location"]
        state = client.get(job + "/state").json()
        assert state["state"] == "queued" and len(state["queued_jobs"]) == 1
        assert [q["state"] for q in state["queue"].values()] == ["pending"]
        assert log_entries(runner)[-1]["event"] == "capture-asked"
        worker = subprocess.run([CUSTODY, "worker", "--name", "w1", "--queue", redis.url,
                                 "--root", str(runner.root), "--exit-when-idle", "1"],
                                env={**os.environ, **env}, capture_output=True, text=True,
                                timeout=120)
        assert worker.returncode == 0, worker.stdout + worker.stderr
        done = client.get(job + "/state").json()
        (value,) = done["queue"].values()
        assert value["state"] == "done" and value["capture_id"] in ids(runner)
        assert done["state"] == "done" and done["capture_id"] == value["capture_id"]
        assert f'href="/captures/{value["capture_id"]}"' in client.get(job).text
        assert done["filed"] == "added to the case"  # once, as it was done
        assert client.get(job + "/state").json()["filed"] == "added to the case"
        added = [e for e in log_entries(runner) if e["event"] == "case-added"]
        assert [e["details"]["capture_ids"] for e in added] == [[value["capture_id"]]]


def test_answers_are_not_held_back_by_delayed_acks(served: Served) -> None:
    """The sockets are custody's (bound before the address is shown): each connection
    sends at once (TCP_NODELAY), or a kept-alive one waits 40 ms an answer."""
    from custody.web.server import listen

    with listen("127.0.0.1", 0) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    client = served.signed_in()
    took = []
    for _ in range(15):
        start = time.perf_counter()
        assert client.get("/cases").status_code == 200
        took.append(time.perf_counter() - start)
    assert sorted(took)[2] < 0.035, took  # (held back, every one takes 40 ms or more)


def test_bad_input_is_one_line_and_an_exit_code(tmp_path: Path) -> None:
    env = {**os.environ, "CUSTODY_ACCOUNTS": str(tmp_path / "accounts.json")}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CUSTODY, *args], env={**env, **extra}, capture_output=True,
                              text=True, timeout=60)

    short = run("account", "add", "ana", "--role", "admin", CUSTODY_PASSWORD="short")
    weird = run("account", "add", "a b", "--role", "admin", CUSTODY_PASSWORD="x" * 20)
    nowhere = run("serve", "--root", str(tmp_path / "nothing"), "--port", "0")
    half = run("serve", "--root", str(tmp_path), "--certfile", __file__)
    evidence = Custody(tmp_path / "evidence", tmp_path / "key")
    evidence.ok("init", "--no-tsa", "--operator", "tester@example.org")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run("serve", "--root", str(evidence.root), "--no-replay", "--port",
                   str(taken.getsockname()[1]), CUSTODY_KEY=str(evidence.key))
    assert "open http" not in busy.stdout  # no address that would not answer
    for done, code, words in ((short, 2, "12 characters"), (weird, 2, "account name"),
                              (nowhere, 3, "not a custody archive"),
                              (half, 2, "go together"), (busy, 2, "cannot listen")):
        assert done.returncode == code, done.stderr
        assert done.stderr.startswith("custody: error: ") and words in done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "accounts.json").exists()  # nothing was written


def _listening_ports(pid: int) -> set[int]:
    """The TCP ports a process and its descendants listen on (from /proc: their sockets'
    inodes, matched against the machine's listening sockets)."""
    family, queue = set(), [pid]
    while queue:
        current = queue.pop()
        family.add(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() \
                else []
            queue += [int(c) for c in children if int(c) not in family]
    inodes = set()
    for member in family:
        for fd in Path(f"/proc/{member}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_the_address_printed_answers_at_once(archive: Custody) -> None:
    """The workbench's socket listens before its address is printed: a browser (or a
    script) that opens it at once is answered once the server is up, never refused."""
    with serving(archive.root, "--no-replay", env={"CUSTODY_KEY": str(archive.key)}) as found:
        host, port = found.base.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as early:
            early.sendall(b"GET /healthz HTTP/1.1\r\nHost: " + found.base[7:].encode() +
                          b"\r\nConnection: close\r\n\r\n")
            assert early.recv(64).startswith(b"HTTP/1.1 ")


@pytest.mark.skipif(not (Path(sys.prefix) / "tools" / "pywb" / "bin" / "wayback").exists(),
                    reason="pywb is not installed (./scripts/setup --replay installs it)")
def test_pywb_listens_on_no_port_of_its_own(archive: Custody) -> None:
    """Only the workbench's port and the replay front's: pywb, behind the front's
    per-run secret, is on a Unix socket in the run's own folder (mode 700), so no other
    program of the machine reaches the collections (whose names hold the secret)."""
    with serving(archive.root, env={"CUSTODY_KEY": str(archive.key)}) as found:
        client = found.signed_in()
        cid = chain_ids(archive)[0]
        page = client.get(f"/captures/{cid}").text
        framed = re.search(r'src="(http://[^"]+/[A-Za-z0-9_-]{16,}-' + cid + r'/[^"]+)"', page)
        assert framed, "the capture's page frames its replay"
        replay_port = int(framed.group(1).split("/")[2].rsplit(":", 1)[1])
        answer = httpx.get(framed.group(1).replace("&amp;", "&"), timeout=60)
        assert answer.status_code == 200  # replayed, through the front
        assert _listening_ports(found.process.pid) == {found.port, replay_port}
        sockets = [p for p in Path(tempfile_root()).glob("custody-serve-*/pywb/wayback.sock")]
        assert sockets and all((s.parent.parent.stat().st_mode & 0o077) == 0 for s in sockets)
        client.close()


def _raw_get(base: str, path: str) -> bytes:
    """The status line of GET ``path`` sent as written (no client tidies its dots)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=60) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     "Connection: close\r\n\r\n".encode())
        return conn.recv(4096).split(b"\r\n", 1)[0]


@pytest.mark.skipif(not (Path(sys.prefix) / "tools" / "pywb" / "bin" / "wayback").exists(),
                    reason="pywb is not installed (./scripts/setup --replay installs it)")
def test_the_replay_front_admits_no_dots_no_raw_records_and_no_service_worker(
        archive: Custody) -> None:
    """A program of the machine that does not know the secret reaches no collection past
    the front by dots (/static/../), and a replayed page reaches no record unrewritten
    (pywb's id_, which carries no Content-Security-Policy) nor registers a service worker
    that would answer for every capture."""
    with serving(archive.root, env={"CUSTODY_KEY": str(archive.key)}) as found:
        client = found.signed_in()
        cid = chain_ids(archive)[0]
        page = client.get(f"/captures/{cid}").text
        framed = re.search(r'src="(http://[^"/]+)/([A-Za-z0-9_-]{16,}-' + cid +
                           r')/mp_/([^"]+)"', page)
        assert framed, "the capture's page frames its replay"
        origin, collection, url = framed.groups()
        url = url.replace("&amp;", "&")
        replayed = httpx.get(f"{origin}/{collection}/mp_/{url}", timeout=60)
        assert replayed.status_code == 200
        policy = replayed.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "ws:" not in policy
        assert "custody-no-webrtc.js" in replayed.text
        for path in ("/static/../collinfo.json", f"/static/../{collection}/mp_/{url}",
                     f"/static/%2e%2e/{collection}/mp_/{url}",
                     f"/{collection}/mp_/../../{collection}/mp_/{url}"):
            assert _raw_get(origin, path).split()[1] == b"404", path
        for path in (f"/{collection}/id_/{url}", f"/{collection}/20260101000000id_/{url}",
                     f"/{collection}/sw_/{url}"):
            assert httpx.get(origin + path, timeout=60).status_code == 403, path
        worker = httpx.get(f"{origin}/{collection}/mp_/{url}", timeout=60,
                           headers={"Service-Worker": "script"})
        assert worker.status_code == 403
        client.close()


def tempfile_root() -> str:
    import tempfile

    return tempfile.gettempdir()
