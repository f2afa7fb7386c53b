"""Cases, tags and notes through the library the CLI and the workbench call: each change a
signed event of the custody log naming who, when, what and which capture; everything
refused before it is written; the list of captures filtered by index."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

import pytest

from conftest import Custody, chain_ids
from custody.annotate import (
    CaptureFilters,
    Signer,
    add_note,
    add_to_case,
    close_case,
    create_case,
    list_captures,
    notes_of,
    pages_with,
    remove_from_case,
    rename_case,
    reopen_case,
    retract_note,
    selectors_of_capture,
    selectors_of_case,
    show_case,
    tag_capture,
    untag_capture,
)
from custody.annotate.listing import query_of
from custody.core import keyfile
from custody.core.archive import Archive
from custody.core.errors import NotFound, UsageError
from custody.seal.custody_log import CustodyLog
from test_annotation_index import SELECTORS, contacts_site


def signer(runner: Custody, account: str | None = None) -> Signer:
    return Signer(keyfile.load_key(runner.key, None), "tester@example.org", account)


def log(runner: Custody) -> list[dict[str, Any]]:
    return CustodyLog(runner.root / "manifests").entries()


def test_each_change_is_a_signed_event_naming_who_when_what_and_which_capture(
        stamped: Custody) -> None:
    arch, me = Archive.open(stamped.root), signer(stamped, "alice")
    en, fa, _ = chain_ids(stamped)
    made = create_case(arch, "Protests, Zahedan", signer=me, description="Statements")
    add_to_case(arch, "protests,  ZAHEDAN", [en, fa], signer=me)  # its name, loosely
    tag_capture(arch, en, "Weapons", signer=me)
    note = add_note(arch, en, "Names the unit.", signer=me, quote="monstrous scale of the "
                    "massacre", case=made.id)
    events = log(stamped)[-4:]
    assert [e["event"] for e in events] == ["case-created", "case-added", "tagged",
                                            "note-added"]
    for entry in events:
        assert entry["who"] == "tester@example.org" and entry["at"].endswith("Z")
        assert entry["details"]["account"] == "alice"
    assert events[1]["details"]["capture_ids"] == [en, fa]
    assert events[2]["details"] == {"capture_id": en, "tag": "Weapons", "account": "alice"}
    quote = events[3]["details"]["quote"]
    assert quote["url"].endswith("/en.html") and quote["end"] - quote["start"] == 31
    assert note.quote is not None and note.quote.text_sha256 == quote["text_sha256"]
    assert stamped.manifest(en)["documents"][0]["text_sha256"] == quote["text_sha256"]
    shown = json.loads(stamped.ok("log", "--capture", en, "--json").stdout)
    assert {"case-added", "tagged", "note-added"} <= {e["event"] for e in shown}
    detail = show_case(arch, made.id)
    assert [c.capture_id for c in detail.captures] == [fa, en]  # newest first
    assert detail.case.captures == 2 and detail.case.notes == 1 and len(detail.events) == 2
    code, report = stamped.verify()
    assert code == 0, report


def test_notes_are_superseded_or_retracted_never_edited(stamped: Custody) -> None:
    arch, me = Archive.open(stamped.root), signer(stamped)
    en = chain_ids(stamped)[0]
    first = add_note(arch, en, "The date is 8 January.", signer=me)
    second = add_note(arch, en, "The date is 9 January.", signer=me, supersedes=first.id)
    retract_note(arch, second.id, reason="the video's date is unclear", signer=me)
    with pytest.raises(UsageError, match="retracted already"):
        retract_note(arch, second.id, reason="again", signer=me)
    with pytest.raises(UsageError, match="retracted or superseded"):
        add_note(arch, en, "a third", signer=me, supersedes=first.id)
    found = {n.id: n for n in notes_of(arch, en)}
    assert found[first.id].superseded_by == second.id and not found[first.id].standing
    assert found[second.id].retracted_reason == "the video's date is unclear"
    assert notes_of(arch, en, standing_only=True) == []
    texts = [e["details"].get("text") for e in log(stamped) if e["event"] == "note-added"]
    assert texts == ["The date is 8 January.", "The date is 9 January."]  # both kept


def test_a_quoted_passage_is_found_in_the_sealed_text_or_refused(stamped: Custody) -> None:
    arch, me = Archive.open(stamped.root), signer(stamped)
    en, fa, _ = chain_ids(stamped)
    text = sqlite3.connect(stamped.root / "custody.db").execute(
        "SELECT text FROM documents WHERE capture_id = ?", [fa]).fetchone()[0]
    words = text.split()[5:12]
    loose = "  \n".join(words)  # as copied across a rendered page's lines
    note = add_note(arch, fa, "یادداشت", signer=me, quote=loose)
    assert note.quote is not None and note.quote.start is not None
    placed = text[note.quote.start:note.quote.end]
    assert " ".join(placed.split()) == " ".join(words)
    before = len(log(stamped))
    with pytest.raises(UsageError, match="not in any page's sealed text"):
        add_note(arch, en, "x", signer=me, quote="words the page never held")
    with pytest.raises(UsageError, match="fetched no such page"):
        add_note(arch, en, "x", signer=me, page_url="http://example.org/elsewhere")
    with sqlite3.connect(stamped.root / "custody.db") as conn:  # the index's text altered
        conn.execute("UPDATE documents SET text = text || ' forged' WHERE capture_id = ?", [en])
    with pytest.raises(Exception, match="not the sealed text"):
        add_note(arch, en, "x", signer=me, quote="forged")
    assert len(log(stamped)) == before


@pytest.mark.parametrize("name, words", [
    ("", "empty"), ("a\x07b", "control character U+0007"),
    ("evil\u202eLIVE", "control character U+202E"), ("x" * 201, "at most 200"),
    ("case-0123456789ab", "look like a case id"),
])
def test_names_are_checked_before_they_are_signed(stamped: Custody, name: str,
                                                  words: str) -> None:
    arch = Archive.open(stamped.root)
    before = len(log(stamped))
    with pytest.raises(UsageError, match=re.escape(words)):
        create_case(arch, name, signer=signer(stamped))
    assert len(log(stamped)) == before


def test_what_the_rules_refuse_is_never_written(stamped: Custody) -> None:
    arch, me = Archive.open(stamped.root), signer(stamped)
    en, fa, ru = chain_ids(stamped)
    create_case(arch, "Zahedan", signer=me)
    create_case(arch, "زاهدان ۱۴۰۵", signer=me)  # a Persian name, digits and all
    add_to_case(arch, "Zahedan", [en], signer=me)
    tag_capture(arch, en, "weapons", signer=me)
    before = len(log(stamped))
    refusals = [
        (lambda: create_case(arch, " zahedan ", signer=me), UsageError, "another case"),
        (lambda: add_to_case(arch, "Zahedan", [en], signer=me), UsageError, "already"),
        (lambda: add_to_case(arch, "Zahedan", ["20990101T000000Z-00000000"], signer=me),
         NotFound, "no such capture"),
        (lambda: add_to_case(arch, "nowhere", [en], signer=me), NotFound, "no such case"),
        (lambda: remove_from_case(arch, "Zahedan", [fa], signer=me), UsageError, "not in"),
        (lambda: tag_capture(arch, en, "WEAPONS", signer=me), UsageError, "already"),
        (lambda: tag_capture(arch, en, "a, b", signer=me), UsageError, "comma"),
        (lambda: untag_capture(arch, en, "other", signer=me), UsageError, "no such tag"),
        (lambda: rename_case(arch, "Zahedan", " Zahedan", signer=me), UsageError, "already"),
        (lambda: reopen_case(arch, "Zahedan", signer=me), UsageError, "open"),
        (lambda: add_note(arch, en, "x" * 20_001, signer=me), UsageError, "at most"),
        (lambda: add_note(arch, fa, "x", signer=me, case="Zahedan"), UsageError, "not in case"),
    ]
    for call, error, words in refusals:
        with pytest.raises(error, match=words):
            call()
    close_case(arch, "Zahedan", signer=me, reason="handed over")
    with pytest.raises(UsageError, match="closed"):
        add_to_case(arch, "Zahedan", [fa], signer=me)
    assert len(log(stamped)) == before + 1
    rename_case(arch, "Zahedan", "Zahedan, 2026", signer=me)
    reopen_case(arch, "zahedan, 2026", signer=me)
    add_to_case(arch, "Zahedan, 2026", [fa, ru], signer=me)
    assert show_case(arch, "Zahedan, 2026").case.captures == 3


def test_the_list_filters_and_pages(stamped: Custody) -> None:
    arch, me = Archive.open(stamped.root), signer(stamped)
    en, fa, ru = chain_ids(stamped)
    create_case(arch, "Zahedan", signer=me)
    add_to_case(arch, "Zahedan", [en, ru], signer=me)
    tag_capture(arch, ru, "Translation", signer=me)

    def ids(**filters: Any) -> list[str]:
        return [c.id for c in list_captures(arch, CaptureFilters(**filters)).captures]

    assert ids() == [ru, fa, en]
    assert ids(case="zahedan") == [ru, en]
    assert ids(case="Zahedan", tag="translation") == [ru]
    assert ids(language="fa") == [fa] and ids(language="ru") == [ru]
    assert ids(site="127.0.0.1") == [ru, fa, en] and ids(site="example.org") == []
    assert ids(status="complete") == [ru, fa, en] and ids(imported=True) == []
    started = list_captures(arch).captures[1].started_at
    assert ids(since=started) == [ru, fa] and ids(until=started) == [fa, en]
    assert ids(since=started[:10]) == [ru, fa, en]  # a date takes in the day
    page = list_captures(arch, limit=2, offset=1)
    assert page.total == 3 and [c.id for c in page.captures] == [fa, en]
    first = list_captures(arch, CaptureFilters(case="Zahedan")).captures[0]
    assert first.cases == ["Zahedan"] and first.tags == ["Translation"]
    assert first.title and first.language == "ru"
    for bad in ({"language": "xx"}, {"since": "last week"}, {"status": "fine"},
                {"site": "/"}):
        with pytest.raises(UsageError):
            list_captures(arch, CaptureFilters(**bad))
    with pytest.raises(NotFound):
        list_captures(arch, CaptureFilters(case="nowhere"))


def test_the_list_is_made_of_indexed_lookups(stamped: Custody) -> None:
    """The plan SQLite makes for each filter reads no table whole: a page of 100,000
    captures costs index lookups (scripts/bench_list.py measures it)."""
    arch, me = Archive.open(stamped.root), signer(stamped)
    create_case(arch, "Zahedan", signer=me)
    conn = sqlite3.connect(stamped.root / "custody.db")
    for filters in ({}, {"case": "Zahedan"}, {"tag": "x"}, {"site": "example.org"},
                    {"language": "fa"}, {"status": "complete"},
                    {"since": "2026-01-01", "until": "2026-12-31"}):
        q = query_of(conn, CaptureFilters(**filters))
        plan = " | ".join(row[3] for row in conn.execute(
            f"EXPLAIN QUERY PLAN SELECT c.id FROM {q.source}{q.where} ORDER BY {q.order} "
            "LIMIT 50", q.params))
        scans = [step for step in plan.split(" | ")
                 if step.startswith("SCAN") and "USING" not in step]
        assert not scans, (filters, plan)


def test_selectors_by_capture_by_case_and_across_the_archive(stamped: Custody) -> None:
    arch, me = Archive.open(stamped.root), signer(stamped)
    with contacts_site() as site:
        capture = stamped.archive(site.url + "/contacts.html")["capture_id"]
    found = selectors_of_capture(arch, capture)
    assert {(s.kind, s.value) for s in found} == SELECTORS
    assert all(s.pages[0].url.endswith("/contacts.html") for s in found)
    assert {s.value for s in selectors_of_capture(arch, capture, kind="btc")} == \
        {v for k, v in SELECTORS if k == "btc"}
    create_case(arch, "Donations", signer=me)
    assert selectors_of_case(arch, "Donations") == []
    add_to_case(arch, "Donations", [capture, chain_ids(stamped)[0]], signer=me)
    assert {(s.kind, s.value) for s in selectors_of_case(arch, "Donations")} == SELECTORS
    pages = pages_with(arch, "email", "press@example.org").pages
    assert [p.capture_id for p in pages] == [capture] and pages[0].shown == "press@example.org"
    with pytest.raises(UsageError):
        selectors_of_capture(arch, capture, kind="fax")
