"""custody.db's derived tables: cases, tags and notes as the log's events make them (the
rules decide, in the log's order), and the selectors and sites filled into a database
made before they existed."""

from __future__ import annotations

import sqlite3
from typing import Any

from conftest import Custody
from custody.index import annotation
from custody.testing.site import Page, SiteServer

# a page whose text holds one selector of each kind, and as many that only look like one
CONTACTS = """<html><head><title>Contacts</title></head><body><article>
<h1>How to reach the committee</h1>
<p>Write to press@example.org, or call +98 21 1234 5678 (or, from inside the country,
۰۰۹۸ ۹۱۲ ۱۲۳ ۴۵۶۷). We are @committee_news on most platforms, and
https://twitter.com/CommitteeNews/status/12 and t.me/committee_news.</p>
<p>Donations: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa, bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4
and 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed.</p>
<p>Not selectors: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb (a bad checksum),
0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD (a bad EIP-55 case),
bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5, +999 123 4567, x.com/home, user@localhost.</p>
</article></body></html>"""
SELECTORS = {
    ("email", "press@example.org"), ("phone", "+982112345678"), ("phone", "+989121234567"),
    ("handle", "@committee_news"), ("profile", "https://x.com/committeenews"),
    ("profile", "https://t.me/committee_news"), ("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    ("btc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
    ("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
}


def contacts_site() -> SiteServer:
    return SiteServer({"/contacts.html": Page(CONTACTS.encode(), "text/html; charset=utf-8")})


def event(kind: str, /, **details: Any) -> dict[str, Any]:
    return {"event": kind, "at": "2026-11-21T10:00:00Z", "who": "a@example.org",
            "details": details}


def play(*events: dict[str, Any]) -> tuple[sqlite3.Connection, list[str | None]]:
    conn = sqlite3.connect(":memory:")
    annotation.ensure(conn)
    said = [annotation.apply(conn, seq, e) for seq, e in enumerate(events, start=1)]
    return conn, said


def test_the_rules_decide_what_each_event_does() -> None:
    case = "case-000000000001"
    conn, said = play(
        event("case-created", case_id=case, name="Zahedan"),
        event("case-created", case_id="case-000000000002", name="  zahedan "),  # same name
        event("case-added", case_id=case, name="Zahedan", capture_ids=["A", "B"]),
        event("case-added", case_id="case-00000000000f", name="?", capture_ids=["A"]),
        event("tagged", capture_id="A", tag="Weapons"),
        event("tagged", capture_id="A", tag="weapons"),  # the same tag: no change
        event("note-added", note_id="note-000000000001", capture_id="A", text="first"),
        event("note-added", note_id="note-000000000002", capture_id="B", text="x",
              supersedes="note-000000000001"),  # another capture's note
        event("note-added", note_id="note-000000000003", capture_id="A", text="second",
              supersedes="note-000000000001", account="alice"),
        event("note-retracted", note_id="note-000000000003", capture_id="A", reason="no"),
        event("note-retracted", note_id="note-000000000003", capture_id="A", reason="again"),
        event("case-closed", case_id=case, name="Zahedan", reason="handed over"),
        event("case-removed", case_id=case, name="Zahedan", capture_ids=["B"]),  # closed
        event("case-renamed", case_id=case, name="Zahedan 2026", previous="Zahedan"),
        event("captured", capture_id="C"),  # not an annotation event
        event("tagged", capture_id="A"),  # no tag
    )
    refused = {n: reason for n, reason in enumerate(said, start=1) if reason}
    assert set(refused) == {2, 4, 8, 11, 13, 16}, refused
    assert "another case" in refused[2] and "closed" in refused[13]
    assert conn.execute("SELECT name, status, reason, created_seq, changed_seq FROM cases"
                        ).fetchall() == [("Zahedan 2026", "closed", "handed over", 1, 14)]
    assert conn.execute("SELECT capture_id FROM case_captures ORDER BY 1").fetchall() == \
        [("A",), ("B",)]
    assert conn.execute("SELECT seq FROM case_events ORDER BY seq").fetchall() == \
        [(1,), (3,), (12,), (14,)]
    assert conn.execute("SELECT tag, tag_key, seq FROM tags").fetchall() == \
        [("Weapons", "weapons", 5)]
    notes = conn.execute("SELECT id, superseded_by, retracted_seq, retracted_reason, account "
                         "FROM notes ORDER BY id").fetchall()
    assert notes == [("note-000000000001", "note-000000000003", None, None, None),
                     ("note-000000000003", None, 10, "no", "alice")]


def tables(path: Any, names: tuple[str, ...]) -> dict[str, list[Any]]:
    with sqlite3.connect(path) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall())
                for t in names}


def test_a_database_made_before_the_tables_gets_them(sealed: Custody, site: SiteServer,
                                                     tmp_path: Any) -> None:
    derived = ("selectors", "capture_facets")
    with contacts_site() as contacts:
        sealed.archive(contacts.url + "/contacts.html")
    before = tables(sealed.root / "custody.db", derived)
    assert {(row[2], row[3]) for row in before["selectors"]} == SELECTORS
    assert before["capture_facets"], "the sample's captures have sites and languages"
    with sqlite3.connect(sealed.root / "custody.db") as conn:  # as version 5 made it
        for table in (*derived, *annotation.TABLES):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("PRAGMA user_version = 5")
    sealed.archive(site.url + "/ru.html", extra=("--no-requisites",))  # a command that writes
    after = tables(sealed.root / "custody.db", derived)
    for table in derived:
        assert set(before[table]) <= set(after[table]), table
    sealed.ok("reindex")
    assert tables(sealed.root / "custody.db", derived) == after
    code, report = sealed.verify()
    assert code == 0, report
