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
    assert custody("history", server.url + "/never.html").exit_code == 8
    assert custody("diff", first, "20990101T000000Z-00000000").exit_code == 8
