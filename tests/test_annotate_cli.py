"""The CLI of cases, tags, notes, the list and selectors, end to end on a real archive:
what the workbench does, scripted; bad input as one line and a documented exit code."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import Custody
from custody.cli import main
from custody.testing.site import SiteServer
from test_annotation_index import SELECTORS, contacts_site
from test_cli import one_line_error


def ids_of(result: Any) -> list[str]:
    return result.stdout.split()


def test_the_workbench_scripted(custody: Custody, site: SiteServer, tmp_path: Path) -> None:
    en = custody.archive(site.url + "/en.html")["capture_id"]
    fa = custody.archive(site.url + "/fa.html")["capture_id"]
    with contacts_site() as contacts:
        shop = custody.archive(contacts.url + "/contacts.html")["capture_id"]

    listed = json.loads(custody.ok("list", "--json").stdout)
    assert listed["format"] == "custody-list/1" and listed["total"] == 3
    assert [c["id"] for c in listed["captures"]] == [shop, fa, en]
    assert listed["captures"][1]["language"] == "fa" and listed["captures"][1]["title"]

    assert "Zahedan" in custody.ok("case", "create", "Zahedan", "--description",
                                   "Statements").stdout
    ids = custody.ok("list", "--site", "127.0.0.1", "--lang", "en", "--ids").stdout
    runner = CliRunner()
    env = {"CUSTODY_ROOT": str(custody.root), "CUSTODY_KEY": str(custody.key)}
    added = runner.invoke(main, ["case", "add", "Zahedan", "-"], input=ids, env=env)
    assert added.exit_code == 0 and "2 captures added" in added.stdout, added.output
    custody.ok("case", "add", "zahedan", fa)
    custody.ok("case", "remove", "Zahedan", shop, "--reason", "another matter")
    custody.ok("tag", en, "weapons", "needs translation")
    custody.ok("untag", en, "Needs Translation")
    assert "weapons" in custody.ok("tags").stdout
    noted = json.loads(custody.ok("note", en, "Names the unit.", "--quote",
                                  "monstrous scale\n of the massacre", "--page",
                                  site.url + "/en.html", "--case", "Zahedan",
                                  "--json").stdout)["note"]
    assert noted["quote"]["url"] == site.url + "/en.html" and noted["case_id"]
    first = json.loads(custody.ok("note", fa, "یادداشت اول", "--json").stdout)["note"]["id"]
    custody.ok("note", fa, "یادداشت دوم", "--supersedes", first, "--account", "alice")
    custody.ok("retract", first, "--reason", "superseded, and wrong")
    shown = json.loads(custody.ok("case", "show", "Zahedan", "--json").stdout)
    assert [c["capture_id"] for c in shown["captures"]] == [fa, en]
    assert shown["tags"][en] == ["weapons"] and len(shown["notes"]) == 3
    text = custody.ok("case", "show", "Zahedan").stdout
    assert "monstrous scale" in text and "[retracted]" in text
    assert [c["id"] for c in json.loads(custody.ok("list", "--case", "Zahedan", "--tag",
                                                   "WEAPONS", "--json").stdout)["captures"]] \
        == [en]
    notes = json.loads(custody.ok("notes", "--case", "Zahedan", "--standing",
                                  "--json").stdout)["notes"]
    assert [n["text"] for n in notes] == ["Names the unit.", "یادداشت دوم"]
    assert notes[1]["account"] == "alice"

    found = json.loads(custody.ok("selectors", shop, "--json").stdout)["selectors"]
    assert {(s["kind"], s["value"]) for s in found} == SELECTORS
    assert custody.ok("selectors", "--case", "Zahedan").stderr.strip() == "no selectors"
    pages = json.loads(custody.ok("selectors", "--kind", "phone", "--value", "+982112345678",
                                  "--json").stdout)["selectors"][0]["pages"]
    assert [p["capture_id"] for p in pages] == [shop]

    custody.ok("case", "rename", "Zahedan", "Zahedan, 2026")
    custody.ok("case", "close", "Zahedan, 2026", "--reason", "handed to counsel")
    closed = custody("case", "add", "Zahedan, 2026", shop)
    assert closed.exit_code == 2 and "closed" in one_line_error(closed.output)
    cases = json.loads(custody.ok("case", "list", "--json").stdout)["cases"]
    assert [(c["name"], c["status"], c["captures"]) for c in cases] == \
        [("Zahedan, 2026", "closed", 2)]

    out = tmp_path / "handover"
    exported = custody.ok("case", "export", "Zahedan, 2026", "-o", str(out))
    assert "2 captures" in exported.stdout
    checked = subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", "tester@example.org",
         "-n", "custody-manifest", "-s", "manifest.json.sig"],
        stdin=(out / "manifest.json").open("rb"), cwd=out, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert subprocess.run(["python3", "check_events.py"], cwd=out).returncode == 0
    for warc in out.glob("captures/*/archive/**/*.warc.gz"):
        custody.ok("check", str(warc))
    events = [e["event"] for e in json.loads(custody.ok("log", "--json").stdout)]
    for kind in ("case-created", "case-added", "case-removed", "tagged", "untagged",
                 "note-added", "note-retracted", "case-renamed", "case-closed",
                 "case-exported"):
        assert kind in events, kind
    code, report = custody.verify()
    assert code == 0, report


@pytest.mark.parametrize("args, code, words", [
    (("case", "create", "a\tb"), 2, "control character U+0009"),
    (("case", "show", "nowhere"), 8, "no such case"),
    (("case", "add", "Zahedan", "20990101T000000Z-00000000"), 8, "no such capture"),
    (("case", "add", "Zahedan", "../etc/passwd"), 2, "not a capture id"),
    (("tag", "20990101T000000Z-00000000", "x"), 8, "no such capture"),
    (("note", "{en}", "x", "--quote", "never written there"), 2, "not in any page"),
    (("note", "{en}", "x", "--page", "http://example.org/"), 2, "fetched no such page"),
    (("note", "{en}", "x", "--supersedes", "nonsense"), 2, "not a note id"),
    (("retract", "note-0123456789ab", "--reason", "x"), 8, "no such note"),
    (("list", "--lang", "xx"), 2, "not a language"),
    (("list", "--since", "yesterday"), 2, "is not a date"),
    (("list", "--case", "nowhere"), 8, "no such case"),
    (("selectors",), 2, "give a capture id"),
    (("selectors", "--value", "x"), 2, "needs --kind"),
])
def test_bad_input_is_one_line_and_a_documented_exit_code(custody: Custody, site: SiteServer,
                                                          args: tuple[str, ...], code: int,
                                                          words: str) -> None:
    en = custody.archive(site.url + "/en.html")["capture_id"]
    custody.ok("case", "create", "Zahedan")
    before = (custody.root / "manifests" / "ledger" / "log.jsonl").read_bytes()
    result = custody(*(a.replace("{en}", en) for a in args))
    assert result.exit_code == code, result.output
    assert words in one_line_error(result.output)
    assert (custody.root / "manifests" / "ledger" / "log.jsonl").read_bytes() == before


def test_a_key_that_is_no_archivist_may_not_annotate(custody: Custody, site: SiteServer,
                                                     tmp_path: Path) -> None:
    en = custody.archive(site.url + "/en.html")["capture_id"]
    stranger = Custody(custody.root, tmp_path / "stranger" / "id_ed25519")
    from custody.core import keyfile

    keyfile.create_key(stranger.key, None)
    result = stranger("tag", en, "x")
    assert result.exit_code == 4 and "archivists" in one_line_error(result.output)


def test_a_database_of_an_earlier_custody_is_named(custody: Custody, site: SiteServer) -> None:
    import sqlite3

    custody.archive(site.url + "/en.html")
    with sqlite3.connect(custody.root / "custody.db") as conn:
        conn.execute("DROP TABLE capture_facets")
    result = custody("list")
    assert result.exit_code == 3 and "custody reindex" in one_line_error(result.output)
    custody.ok("reindex")
    assert json.loads(custody.ok("list", "--json").stdout)["total"] == 1
