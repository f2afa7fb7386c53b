"""verify covers the annotations: custody.db's cases, tags and notes must be what the
custody log's events make them, its selectors what the sealed text gives, its facets
what the captures' rows give; a row edited by hand, or an event of the log, fails; and
reindex rebuilds all of them identically."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import Custody, chain_ids
from custody.annotate import (
    add_note,
    add_to_case,
    create_case,
    retract_note,
    tag_capture,
    untag_capture,
)
from custody.core.archive import Archive
from test_annotate import signer
from test_annotation_index import contacts_site
from test_keys import failed

DERIVED = ("cases", "case_captures", "case_events", "tags", "notes", "selectors",
           "capture_facets")


@pytest.fixture
def annotated(stamped: Custody) -> Custody:
    """Three captures and a contacts page, a case of two, tags, notes (one quoted, one
    superseded, one retracted)."""
    with contacts_site() as site:
        contacts = stamped.archive(site.url + "/contacts.html")["capture_id"]
    en, fa, _ = chain_ids(stamped)[:3]
    arch, me = Archive.open(stamped.root), signer(stamped)
    create_case(arch, "Zahedan", signer=me)
    add_to_case(arch, "Zahedan", [en, contacts], signer=me)
    tag_capture(arch, en, "weapons", signer=me)
    tag_capture(arch, en, "translation", signer=me)
    untag_capture(arch, en, "translation", signer=me)
    add_note(arch, en, "Names the unit.", signer=me, quote="monstrous scale of the massacre")
    first = add_note(arch, fa, "8 January", signer=me)
    second = add_note(arch, fa, "9 January", signer=me, supersedes=first.id)
    retract_note(arch, second.id, reason="unclear", signer=me)
    return stamped


def dump(root: Path) -> dict[str, list[Any]]:
    with sqlite3.connect(root / "custody.db") as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in DERIVED}


def checks(report: dict[str, Any], subject: str) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if c["subject"].startswith(subject)]


def test_an_annotated_archive_verifies(annotated: Custody) -> None:
    code, report = annotated.verify()
    assert code == 0, failed(report)
    for subject in ("annotations", "selectors", "capture_facets"):
        (one,) = checks(report, subject)
        assert one["outcome"] == "passed", one
    assert "9 selectors" in checks(report, "selectors")[0]["detail"]


EDITS = {
    "note text": "UPDATE notes SET text = 'Names another unit.' WHERE quote IS NOT NULL",
    "note unretracted": "UPDATE notes SET retracted_seq = NULL, retracted_at = NULL",
    "note removed": "DELETE FROM notes WHERE quote IS NOT NULL",
    "note injected": "INSERT INTO notes (id, seq, capture_id, text) VALUES "
                     "('note-00000000beef', 1, 'x', 'made up')",
    "quote moved": "UPDATE notes SET quote_start = quote_start + 1 WHERE quote IS NOT NULL",
    "tag added": "INSERT INTO tags (capture_id, tag_key, tag, seq) SELECT capture_id, "
                 "'innocent', 'innocent', seq FROM tags",
    "tag removed": "DELETE FROM tags",
    "tag author": "UPDATE tags SET who = 'someone else'",
    "capture out of a case": "DELETE FROM case_captures WHERE capture_id = (SELECT "
                             "min(capture_id) FROM case_captures)",
    "capture into a case": "INSERT INTO case_captures (case_id, capture_id, seq) SELECT id, "
                           "'20990101T000000Z-00000000', 1 FROM cases",
    "case closed": "UPDATE cases SET status = 'closed'",
    "case renamed": "UPDATE cases SET name = 'Elsewhere', name_key = 'elsewhere'",
    "case event removed": "DELETE FROM case_events WHERE seq = (SELECT max(seq) FROM "
                          "case_events)",
    "selector added": "INSERT INTO selectors SELECT document_id, capture_id, kind, "
                      "'someone@else.org', shown, position, count FROM selectors LIMIT 1",
    "selector removed": "DELETE FROM selectors WHERE kind = 'btc'",
    "selector count": "UPDATE selectors SET count = count + 1 WHERE kind = 'eth'",
    "facet removed": "DELETE FROM capture_facets WHERE kind = 'lang' AND value = 'fa'",
    "facet added": "INSERT INTO capture_facets SELECT 'site', 'org.example.', started_at, "
                   "capture_id FROM capture_facets LIMIT 1",
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_a_row_edited_by_hand_fails(annotated: Custody, name: str) -> None:
    with sqlite3.connect(annotated.root / "custody.db") as conn:
        assert conn.execute(EDITS[name]).rowcount > 0, "the edit must change something"
    code, report = annotated.verify()
    assert code == 1, name
    bad = failed(report)
    assert bad and all(c["check"] == "database" for c in bad), bad
    assert {c["subject"].split(" ")[0] for c in bad} <= {"annotations", "selectors",
                                                         "capture_facets"}, bad


def test_a_note_changed_in_the_log_fails(annotated: Custody) -> None:
    log = annotated.root / "manifests" / "ledger" / "log.jsonl"
    lines = log.read_bytes().split(b"\n")
    number = next(i for i, line in enumerate(lines) if b'"Names the unit."' in line)
    lines[number] = lines[number].replace(b'"Names the unit."', b'"Names no unit."')
    log.write_bytes(b"\n".join(lines))
    code, report = annotated.verify()
    assert code == 1
    subjects = {c["subject"].split(":")[0] for c in failed(report)}
    assert {"manifests/ledger/log.jsonl", "log_events", "annotations"} <= subjects, \
        failed(report)
    annotated.ok("reindex")  # an index made from the changed log agrees with it...
    code, report = annotated.verify()
    assert code == 1  # ...and its line's signature still fails
    assert any("signature does not match" in c["detail"] for c in failed(report))


def test_verify_of_a_capture_checks_its_selectors(annotated: Custody) -> None:
    contacts = chain_ids(annotated)[-1]
    code, report = annotated.verify(contacts)
    assert code == 0, failed(report)
    with sqlite3.connect(annotated.root / "custody.db") as conn:
        conn.execute("DELETE FROM selectors WHERE kind = 'phone'")
    code, report = annotated.verify(contacts)
    assert code == 1 and any(c["subject"] == "selectors" for c in failed(report))


def test_reindex_rebuilds_every_derived_table_identically(annotated: Custody) -> None:
    before = dump(annotated.root)
    assert all(before[t] for t in DERIVED), {t: len(r) for t, r in before.items()}
    annotated.ok("reindex")
    assert dump(annotated.root) == before
    (annotated.root / "custody.db").unlink()
    annotated.ok("reindex")
    assert dump(annotated.root) == before


def test_events_written_while_the_index_was_behind_are_caught_up(annotated: Custody,
                                                                 tmp_path: Path) -> None:
    shutil.copy(annotated.root / "custody.db", tmp_path / "older.db")
    en = chain_ids(annotated)[0]
    arch, me = Archive.open(annotated.root), signer(annotated)
    tag_capture(arch, en, "late", signer=me)
    add_note(arch, en, "written later", signer=me)
    after = dump(annotated.root)
    shutil.copy(tmp_path / "older.db", annotated.root / "custody.db")  # as if it missed them
    code, report = annotated.verify()
    assert code == 0, failed(report)
    assert any("not in custody.db's index yet" in n for n in report["notes"]), report["notes"]
    tag_capture(arch, en, "later still", signer=me)  # a write catches the index up first
    caught = dump(annotated.root)
    assert set(after["notes"]) <= set(caught["notes"])
    assert {r[1] for r in caught["tags"]} >= {"late", "later still", "weapons"}
    code, report = annotated.verify()
    assert code == 0, failed(report)
    assert not any("index yet" in n for n in report["notes"])
