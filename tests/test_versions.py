"""A statement edited between two captures: history and diff show it."""

from __future__ import annotations

import json

from conftest import Custody
from custody.testing.site import Page, SiteServer


def statement(sentence: str) -> Page:
    return Page(f"<html><head><title>Statement</title></head><body><article><h1>Statement</h1>"
                f"<p>We condemn the violence against protesters.</p><p>{sentence}</p>"
                "<p>We call for an independent investigation.</p></article></body></html>"
                .encode(), "text/html; charset=utf-8")


def test_history_and_diff_of_an_edited_statement(custody: Custody) -> None:
    pages = {"/statement.html": statement("At least 12,000 people were killed.")}
    with SiteServer(pages) as server:
        url = server.url + "/statement.html"
        first = custody.archive(url, extra=("--no-requisites",))["capture_id"]
        second = custody.archive(url, extra=("--no-requisites",))["capture_id"]
        pages["/statement.html"] = statement("Several people were reported injured.")
        third = custody.archive(url, extra=("--no-requisites",))["capture_id"]
    rows = json.loads(custody.ok("history", "--json", url).stdout)
    assert [r["capture_id"] for r in rows] == [first, second, third]
    assert [r["text_changed"] for r in rows] == [None, False, True]
    table = custody.ok("history", url).stdout
    assert "CHANGED" in table and "same" in table
    same = custody("diff", first, second)
    assert same.exit_code == 0 and same.stdout == ""
    changed = custody("diff", second, third, url)
    assert changed.exit_code == 1
    assert "-At least 12,000 people were killed." in changed.stdout
    assert "+Several people were reported injured." in changed.stdout
    never = custody("history", server.url + "/never.html")
    assert never.exit_code == 8 and never.stderr == \
        f"custody: error: {server.url}/never.html: never captured\n"
    assert custody("diff", first, "20990101T000000Z-00000000").exit_code == 8
    # a manifest gone: what the database says of its capture rests on nothing sealed
    (custody.root / "manifests" / f"{second}.json").unlink()
    gone = custody("diff", first, second)
    assert gone.exit_code == 1 and f"the manifest of {second} is gone" in gone.output
    listed = custody("history", url)
    assert listed.exit_code == 1 and "MANIFEST GONE" in listed.stdout
    rows = json.loads(custody("history", "--json", url).stdout)
    assert [r["manifest_gone"] for r in rows] == [False, True, False]


def test_diff_without_a_url_compares_every_page_both_hold(custody: Custody,
                                                          site: SiteServer) -> None:
    first = custody.archive(site.url + "/en.html", site.url + "/ru.html",
                            extra=("--no-requisites",))["capture_id"]
    second = custody.archive(site.url + "/ru.html", site.url + "/en.html",
                             extra=("--no-requisites",))["capture_id"]
    result = custody("diff", first, second)
    assert result.exit_code == 0, result.output  # the same texts, page by page
    assert "the text is the same" in result.stderr
    other = custody.archive(site.url + "/fa.html", extra=("--no-requisites",))["capture_id"]
    refused = custody("diff", first, other)
    assert refused.exit_code == 8
    assert "share no page" in refused.stderr and "/fa.html" in refused.stderr
    assert "/en.html" in refused.stderr and "Traceback" not in refused.output
