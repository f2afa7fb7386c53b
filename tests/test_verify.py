"""custody verify: passes on an untouched archive, and catches and locates each tampering."""

from __future__ import annotations

import json
import shutil
import sqlite3
import zlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import Custody, capture_id_of
from custody.core import keyfile, sshsig
from custody.testing.site import SiteServer


def failures(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if c["outcome"] == "failed"]


def response_record(runner: Custody, url_suffix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    m = runner.manifest(capture_id_of(runner))
    record = next(r for r in m["records"]
                  if r["type"] == "response" and r["target_uri"].endswith(url_suffix))
    return m, record


def rewrite_member(runner: Custody, record: dict[str, Any], old: bytes, new: bytes) -> None:
    """Change bytes inside one record and recompress it, as a careful forger would."""
    path = runner.root / record["warc_path"]
    data = path.read_bytes()
    start, end = record["offset"], record["offset"] + record["length"]
    plain = zlib.decompress(data[start:end], wbits=31)
    assert old in plain
    plain = plain.replace(old, new, 1)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = packer.compress(plain) + packer.flush()
    path.write_bytes(data[:start] + member + data[end:])


def assert_caught(runner: Custody, check: str, needle: str) -> list[dict[str, Any]]:
    code, report = runner.verify()
    assert code == 1, report
    assert report["status"] == "failed"
    found = [c for c in failures(report) if c["check"] == check and needle in
             (c["subject"] + " " + c["detail"])]
    assert found, failures(report)
    return failures(report)


def test_untouched_copy_passes(sealed: Custody) -> None:
    # `sealed` is a copy in another folder: an archive that moved still verifies
    code, report = sealed.verify()
    assert code == 0, failures(report)
    assert report["format"] == "custody-verify/1" and report["status"] == "passed"
    assert report["summary"]["failed"] == 0 and report["summary"]["unchecked"] == 0
    checks = {c["check"] for c in report["checks"]}
    assert {"signature", "chain", "sha256sums", "warc-file", "warc-records", "record",
            "database"} <= checks


def test_byte_flipped_in_a_record_body(sealed: Custody) -> None:
    _, record = response_record(sealed, "/en.html")
    rewrite_member(sealed, record, b"monstrous scale", b"monstrous scalE")
    found = assert_caught(sealed, "record", record["record_id"])
    assert any("block sha256" in c["detail"] for c in found)
    assert any(c["check"] == "warc-file" for c in found)


def test_byte_flipped_in_an_http_header(sealed: Custody) -> None:
    _, record = response_record(sealed, "/en.html")
    rewrite_member(sealed, record, b"Content-Type: text/html", b"Content-Type: text/htmL")
    assert_caught(sealed, "record", record["record_id"])


def test_byte_flipped_in_a_warc_header(sealed: Custody) -> None:
    _, record = response_record(sealed, "/ru.html")
    rewrite_member(sealed, record, b"WARC-Target-URI: http://127.0.0.1",
                   b"WARC-Target-URI: http://127.0.0.2")
    found = assert_caught(sealed, "record", record["record_id"])
    assert any("WARC-Target-URI" in c["detail"] for c in found)


def test_manifest_field_edited(sealed: Custody) -> None:
    cid = capture_id_of(sealed)
    path = sealed.root / "manifests" / f"{cid}.json"
    data = path.read_bytes()
    assert b'\n  "status": "' in data
    path.write_bytes(data.replace(b'\n  "status": "', b'\n  "status": "X', 1))
    found = assert_caught(sealed, "signature", cid)
    assert any("does not match" in c["detail"] for c in found)


@pytest.mark.parametrize("change", ["drop offset", "offset as text", "records not a list"])
def test_malformed_record_list_fails_cleanly(sealed: Custody, change: str) -> None:
    # whatever a forger writes, verify reports it, names the entry, and never crashes
    cid = capture_id_of(sealed)
    path = sealed.root / "manifests" / f"{cid}.json"
    content = json.loads(path.read_bytes())
    if change == "drop offset":
        del content["records"][2]["offset"]
    elif change == "offset as text":
        content["records"][2]["offset"] = str(content["records"][2]["offset"])
    else:
        content["records"] = {"not": "a list"}
    path.write_text(json.dumps(content, indent=2))
    code, report = sealed.verify()
    assert code == 1
    wanted = "records[2] lacks 'offset'" if change != "records not a list" else "'records'"
    assert any(c["check"] == "manifest" and wanted in c["detail"] for c in failures(report))
    unchecked = [c for c in report["checks"] if c["outcome"] == "unchecked"]
    assert any(c["check"] == "warc-records" and c["subject"] == cid for c in unchecked)


def test_signature_replaced_by_another_key(sealed: Custody) -> None:
    cid = capture_id_of(sealed)
    path = sealed.root / "manifests" / f"{cid}.json"
    forged = sshsig.sign(Ed25519PrivateKey.generate(), path.read_bytes(), "custody-manifest")
    path.with_name(path.name + ".sig").write_text(forged)
    found = assert_caught(sealed, "signature", cid)
    assert any("not in allowed_signers" in c["detail"] for c in found)


def test_signature_over_other_bytes(sealed: Custody) -> None:
    cid = capture_id_of(sealed)
    key = keyfile.load_key(sealed.key)
    sig = sealed.root / "manifests" / f"{cid}.json.sig"
    sig.write_text(sshsig.sign(key, b"something else", "custody-manifest"))
    assert_caught(sealed, "signature", cid)


def test_manifest_removed_from_the_middle_of_the_chain(custody: Custody,
                                                       site: SiteServer) -> None:
    ids = [custody.archive(site.url + p, extra=("--no-requisites",))["capture_id"]
           for p in ("/en.html", "/fa.html", "/ru.html")]
    assert custody.verify()[0] == 0
    for suffix in (".json", ".json.sig", ".SHA256SUMS"):
        (custody.root / "manifests" / f"{ids[1]}{suffix}").unlink()
    found = assert_caught(custody, "chain", ids[2])
    assert any("missing" in c["detail"] for c in found if c["check"] == "chain")
    # the database still knows the removed capture: that shows too
    assert any(c["check"] == "database" and ids[1] in c["detail"] for c in found)


def test_warc_truncated(sealed: Custody) -> None:
    m = sealed.manifest(capture_id_of(sealed))
    path = sealed.root / m["warc_files"][0]["path"]
    path.write_bytes(path.read_bytes()[: -500])
    found = assert_caught(sealed, "warc-file", m["warc_files"][0]["path"])
    assert any(c["check"] in ("record", "warc-records") for c in found)


def test_damage_to_one_record_leaves_the_others_checked(sealed: Custody) -> None:
    # a byte flipped inside one record's compressed bytes breaks that gzip member (its
    # CRC); reading goes on at the next sealed record, so only that record fails
    _, record = response_record(sealed, "/en.html")
    path = sealed.root / record["warc_path"]
    data = bytearray(path.read_bytes())
    data[record["offset"] + record["length"] // 2] ^= 0x20
    path.write_bytes(bytes(data))
    found = assert_caught(sealed, "record", record["record_id"])
    in_this_file = [c for c in sealed.verify()[1]["checks"]
                    if c["check"] == "record" and c["subject"].startswith(record["warc_path"])]
    assert [c["subject"] for c in in_this_file if c["outcome"] == "failed"] == [
        f"{record['warc_path']}@{record['offset']} {record['record_id']}"]
    assert sum(c["outcome"] == "passed" for c in in_this_file) == len(in_this_file) - 1 > 5
    end = record["offset"] + record["length"]
    assert any(c["check"] == "warc-records"
               and f"unreadable from offset {record['offset']} to {end}" in c["detail"]
               for c in found)


def test_document_text_changed_in_the_database(sealed: Custody) -> None:
    with sqlite3.connect(sealed.root / "custody.db") as conn:
        conn.execute("UPDATE documents SET text = replace(text, 'appalled', 'pleased')")
    found = assert_caught(sealed, "database", "text changed")
    assert any("en.html" in c["detail"] for c in found)


def test_record_deleted_from_the_database(sealed: Custody) -> None:
    with sqlite3.connect(sealed.root / "custody.db") as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("DELETE FROM resources WHERE url LIKE '%/site.js'")
    assert_caught(sealed, "database", "missing from the database")


def test_sha256sums_edited(sealed: Custody) -> None:
    cid = capture_id_of(sealed)
    sums = sealed.root / "manifests" / f"{cid}.SHA256SUMS"
    sums.write_text(sums.read_text().replace("a", "b", 1))
    assert_caught(sealed, "sha256sums", cid)


def test_missing_database_is_unchecked_not_passed(sealed: Custody) -> None:
    (sealed.root / "custody.db").unlink()
    code, report = sealed.verify()
    assert code == 6 and report["status"] == "incomplete"
    assert not failures(report)
    sealed.ok("reindex")
    assert sealed.verify()[0] == 0


def test_every_failure_is_reported_not_just_the_first(sealed: Custody) -> None:
    _, en = response_record(sealed, "/en.html")
    _, ru = response_record(sealed, "/ru.html")
    # the later record first, so the earlier one's offset still holds
    edits = [(en, b"monstrous", b"Monstrous"), (ru, b"Content-Type", b"Content-TYPE")]
    for record, old, new in sorted(edits, key=lambda e: -e[0]["offset"]):
        rewrite_member(sealed, record, old, new)
    code, report = sealed.verify()
    subjects = " ".join(c["subject"] for c in failures(report) if c["check"] == "record")
    assert code == 1 and en["record_id"] in subjects and ru["record_id"] in subjects


def test_text_report_names_the_place(sealed: Custody) -> None:
    _, record = response_record(sealed, "/en.html")
    rewrite_member(sealed, record, b"monstrous", b"Monstrous")
    result = sealed("verify")
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    assert any(record["record_id"] in line for line in lines)
    assert result.stdout.splitlines()[-1].startswith("FAILED:")


@pytest.mark.parametrize("name", ["interrupted.warc.gz", "partner.wacz", "old.arc.gz",
                                  "imported/heritrix.warc", "notes.txt", "no-extension"])
def test_unsealed_leftover_is_a_note_not_a_failure(sealed: Custody, name: str) -> None:
    """Any file under archive/ that no manifest seals is named, whatever its kind."""
    m = sealed.manifest(capture_id_of(sealed))
    src = sealed.root / m["warc_files"][0]["path"]
    left = sealed.root / "archive" / name
    left.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, left)
    code, report = sealed.verify()
    assert code == 0
    assert any(n.startswith(f"archive/{name}: not sealed by any manifest")
               for n in report["notes"]), report["notes"]


def test_verify_named_capture_only(sealed: Custody) -> None:
    cid = capture_id_of(sealed)
    code, report = sealed.verify(cid)
    assert code == 0 and report["captures"] == [cid]
    unknown = sealed("verify", "--json", "20990101T000000Z-00000000")
    assert unknown.exit_code == 8  # as show and bundle say of a capture that is not there
    assert "no such capture" in unknown.stderr and "\n" not in unknown.stderr.strip()




def test_reindex_rebuilds_an_identical_database(sealed: Custody) -> None:
    queries = ["select * from captures order by id", "select * from resources order by id",
               "select * from documents order by id", "select * from failures order by id",
               "select * from images order by id"]
    before = [sealed.query(q) for q in queries]
    hits = sealed.ok("search", "--json", "blockade").stdout
    (sealed.root / "custody.db").unlink()
    assert sealed("query", "select 1").exit_code == 3
    sealed.ok("reindex")
    assert [sealed.query(q) for q in queries] == before
    assert sealed.ok("search", "--json", "blockade").stdout == hits
    assert sealed.verify()[0] == 0


def test_ledger_removed_whole_fails(sealed: Custody) -> None:
    """Deleting the whole ledger (leaves, checkpoints, log) is not an unfinished seal."""
    shutil.rmtree(sealed.root / "manifests" / "ledger")
    code, report = sealed.verify()
    assert code == 1
    assert any(c["check"] == "ledger" and c["outcome"] == "failed"
               and "the ledger is missing" in c["detail"] for c in report["checks"]), report


def test_a_torn_last_leaf_is_a_note(sealed: Custody) -> None:
    """The leaves file ending in part of a line (an append cut short) passes, noted;
    the next archive cuts it off."""
    leaves = sealed.root / "manifests" / "ledger" / "leaves"
    whole = leaves.read_bytes()
    lines = whole.splitlines()
    torn = (str(len(lines)).encode() + b" " + lines[-1].split(b" ", 1)[1])[:20]
    leaves.write_bytes(whole + torn)
    code, report = sealed.verify()
    assert code == 0, report
    assert any(f"ends in {len(torn)} bytes of a leaf" in n for n in report["notes"]), report


def test_plain_verify_counts_what_json_lists(sealed: Custody) -> None:
    """Without -v or --json, the records that pass are counted, not kept (memory that does
    not grow with the archive): the same counts as the full report, and a tampered record
    still named."""
    _, full = sealed.verify()
    plain = sealed("verify")
    assert plain.exit_code == 0
    summary = full["summary"]
    assert f"{summary['passed']} passed, 0 failed, 0 unchecked" in plain.stdout
    assert sum(c["check"] == "record" for c in full["checks"]) > 5
    _, record = response_record(sealed, "/en.html")
    rewrite_member(sealed, record, b"monstrous scale", b"monstrous scalE")
    tampered = sealed("verify")
    assert tampered.exit_code == 1
    assert record["record_id"] in tampered.stdout and "block sha256" in tampered.stdout
    _, again = sealed.verify()
    assert f"{again['summary']['passed']} passed, {again['summary']['failed']} failed" \
        in tampered.stdout
