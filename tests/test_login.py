"""Logged-in capture (--cookies, --browser-profile): the members' page is captured, and
the archivist's session secrets are in no WARC, bundle, export or report."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from conftest import DATA, Custody
from custody.testing.members import MEMBERS_TEXT, MembersSite

CHROMIUM = os.environ.get("CUSTODY_CHROMIUM", "/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"no Chromium at {CHROMIUM}: ./scripts/setup --browser installs it")


@pytest.fixture
def members() -> Iterator[MembersSite]:
    with MembersSite(DATA / "media") as site:
        yield site


def secrets_in(site: MembersSite, data: bytes) -> list[str]:
    return [s for s in (site.session, site.renewed) if s.encode() in data]


def files_holding_secrets(site: MembersSite, folder: Path) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            import gzip

            data += gzip.decompress(data)
        if path.suffix == ".wacz":
            with zipfile.ZipFile(path) as package:
                data += b"".join(package.read(name) for name in package.namelist())
        if secrets_in(site, data):
            found.append(str(path.relative_to(folder)))
    return found


def test_members_page_captured_and_no_secret_handed_over(
        custody: Custody, members: MembersSite, tmp_path: Path) -> None:
    cookies = members.cookies_txt(tmp_path / "cookies.txt")
    out = custody.archive(members.url + "/members", extra=("--cookies", str(cookies),
                                                           "--media"))
    cid = out["capture_id"]
    assert out["capture_status"] == "complete", out
    assert "evacuation" in custody.ok("search", "evacuation").stdout
    manifest = custody.manifest(cid)
    assert manifest["media"][0]["files"], "the members' video came through yt-dlp's session"
    # the secret is only in the archivist's credentials file
    held = manifest["redactions"]["credentials_file"]
    assert files_holding_secrets(members, custody.root) == [held["path"]]
    assert (custody.root / held["path"]).stat().st_mode & 0o077 == 0
    assert {"Cookie", "Set-Cookie"} <= set(manifest["redactions"]["fields"])
    # each record says what was replaced; the hashes are recomputable from the file
    kept = json.loads((custody.root / held["path"]).read_text())
    key = bytes.fromhex(kept["key"])
    marks = {v["hmac"] for v in kept["values"]}
    assert {v["value"] for v in kept["values"]} == {members.session, members.renewed}
    seen = 0
    for warc in (custody.root / "archive").rglob("*.warc.gz"):
        with open(warc, "rb") as fh:
            for record in ArchiveIterator(fh):
                http = record.http_headers
                if http is None:
                    continue
                for name in ("Cookie", "Set-Cookie"):
                    value = http.get_header(name)
                    if value and "session=" in value:
                        mark = value.split("session=")[1].split(";")[0]
                        assert mark in marks
                        assert record.rec_headers.get_header("Custody-Redacted")
                        seen += 1
    assert seen >= 3
    for value in kept["values"]:
        assert value["hmac"] == "custody-redacted:hmac-sha256:" + hmac.new(
            key, value["value"].encode(), hashlib.sha256).hexdigest()
    code, report = custody.verify()
    assert code == 0, report
    assert any(c["check"] == "credentials" and c["outcome"] == "passed"
               for c in report["checks"]), report
    # bundle, export and report hold no secret...
    custody.ok("bundle", cid, "-o", str(tmp_path / "bundle"))
    custody.ok("export", cid, "-o", str(tmp_path / "out" / "capture.wacz"))
    custody.ok("report", cid, "-o", str(tmp_path / "out" / "report.html"))
    assert files_holding_secrets(members, tmp_path / "bundle") == []
    assert files_holding_secrets(members, tmp_path / "out") == []
    assert "credential values redacted" in (tmp_path / "out" / "report.html").read_text()
    # ...unless asked
    custody.ok("bundle", cid, "-o", str(tmp_path / "with"), "--include-credentials")
    assert files_holding_secrets(members, tmp_path / "with") == ["credentials.json"]
    custody.ok("export", cid, "-o", str(tmp_path / "with.wacz"), "--include-credentials")
    with zipfile.ZipFile(tmp_path / "with.wacz") as package:
        assert any(n.endswith(".credentials.json") for n in package.namelist())
    # a changed credentials file is caught; a removed one is not needed by the evidence
    path = custody.root / held["path"]
    path.write_bytes(path.read_bytes().replace(members.session.encode(), b"sess-" + b"0" * 32))
    assert custody.verify()[0] == 1
    path.unlink()
    assert custody.verify()[0] == 0


def test_without_the_session_nothing_is_redacted(custody: Custody,
                                                  members: MembersSite) -> None:
    out = custody.archive(members.url + "/login")
    manifest = custody.manifest(out["capture_id"])
    assert "redactions" not in manifest
    # what the server sent, exactly: its Set-Cookie included
    assert files_holding_secrets(members, custody.root / "archive")


def test_a_bad_cookies_file_is_one_line(custody: Custody, members: MembersSite,
                                        tmp_path: Path) -> None:
    bad = tmp_path / "cookies.txt"
    bad.write_text("this is not a cookie file\n")
    result = custody("archive", "--cookies", str(bad), members.url + "/members")
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert not list((custody.root / "manifests").glob("*.json"))


@needs_chromium
def test_the_browser_sends_the_session_and_a_profile_gives_it(
        custody: Custody, members: MembersSite, tmp_path: Path) -> None:
    cookies = members.cookies_txt(tmp_path / "cookies.txt")
    out = custody.archive(members.url + "/members", extra=("--browser", "--cookies",
                                                           str(cookies)))
    assert out["capture_status"] == "complete", out
    docs = custody.query("SELECT text FROM documents")
    assert any(MEMBERS_TEXT in (d["text"] or "") for d in docs)
    # a Chromium profile logged in to the site, as an archivist's browser would be
    from playwright.sync_api import sync_playwright

    profile = tmp_path / "profile"
    with sync_playwright() as playwright:
        args = ["--password-store=basic"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=args, headless=True)
        context.new_page().goto(members.url + "/login")
        context.close()
    out = custody.archive(members.url + "/members", extra=("--browser-profile", str(profile)))
    assert out["capture_status"] == "complete", out
    manifest = custody.manifest(out["capture_id"])
    assert manifest["redactions"]["values"]
    assert files_holding_secrets(members, custody.root / "archive") == []
