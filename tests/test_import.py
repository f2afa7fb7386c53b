"""custody import: files from other tools brought under custody -- copied byte for byte,
sealed with their check verdict, in the ledger and the log, searchable beside custody's
own captures; refused when damaged unless asked; never imported twice."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
from pathlib import Path

import pytest

from conftest import Custody, capture_id_of, chain_ids

CORPORA = Path(__file__).parent / "data" / "corpora"
WARC = CORPORA / "webrecorder-warcio" / "example.warc.gz"
PLAIN = CORPORA / "webrecorder-py-wacz" / "example-iana.warc"  # gzip, named .warc
WACZ = CORPORA / "harvard-lil-scoop" / "example.com.wacz"
ARC = CORPORA / "webrecorder-warcio" / "example.arc.gz"
WARCPROX = CORPORA / "harvard-lil-js-wacz" / "lil-projects.warc.gz"
DAMAGED = CORPORA / "webrecorder-warcio" / "example-trunc.warc"


def imported(custody: Custody, *files: Path, extra: tuple[str, ...] = ()) -> list[dict]:
    result = custody("import", "--json", *extra, *map(str, files))
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_imported_files_are_sealed_indexed_and_verify(custody: Custody) -> None:
    done = imported(custody, WARC, PLAIN, WACZ, ARC, WARCPROX)
    assert [d["status"] for d in done] == ["imported"] * 5, done
    assert all(d["verdict"] == "passed" for d in done)
    code, report = custody.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
    assert not [n for n in report["notes"] if "not sealed" in n], report["notes"]

    for item in done:
        cid = item["capture_id"]
        content = custody.manifest(cid)
        entry = content["imported"][0]
        source = Path(item["file"])
        copy = custody.root / entry["path"]
        assert copy.read_bytes() == source.read_bytes()  # byte for byte
        assert entry["path"].startswith(f"archive/imported/{cid}/")
        assert entry["source"] == str(source.resolve())
        assert entry["imported_by"]["operator"] == "tester@example.org"
        assert entry["check"]["status"] == "passed" and entry["check"]["format"] in (
            "warc", "arc", "wacz")
        assert content["kind"] == "import" and content["status"] == "imported"

    # the pages are searched, and their history told, beside custody's own captures
    hits = json.loads(custody.ok("search", "--json", "Example Domain").stdout)
    assert {h["capture_id"] for h in hits} >= {done[0]["capture_id"], done[2]["capture_id"]}
    assert all(h["imported"] for h in hits)
    assert "(imported)" in custody.ok("search", "Example Domain").output
    history = custody.ok("history", "https://example.com/").output
    assert history.count("imported") == 2, history
    first, second = done[1]["capture_id"], done[2]["capture_id"]
    assert custody("diff", first, second, "https://example.com/").exit_code in (0, 1)
    # the record's own time, not the time of the import
    rows = custody.query("select fetched_at from resources where url = 'http://example.com/'")
    assert rows and rows[0]["fetched_at"].startswith("2017-")
    # an ARC's HTTP response is a page too
    arc_docs = custody.query(f"select url from documents where capture_id = "
                             f"'{done[3]['capture_id']}'")
    assert arc_docs == [{"url": "http://example.com/"}]

    log = (custody.root / "manifests" / "ledger" / "log.jsonl").read_text()
    events = [json.loads(line) for line in log.splitlines()]
    assert sum(e["event"] == "imported" for e in events) == 5


def test_the_same_file_twice_is_imported_once(custody: Custody) -> None:
    first = imported(custody, WARC)[0]
    before = sorted(p.name for p in (custody.root / "manifests").iterdir())
    again = imported(custody, WARC)[0]
    assert again["status"] == "already" and again["capture_id"] == first["capture_id"]
    assert "already in the archive" in custody.ok("import", str(WARC)).output
    assert sorted(p.name for p in (custody.root / "manifests").iterdir()) == before


def test_a_files_row_made_up_in_the_database_turns_nothing_away(custody: Custody) -> None:
    """custody.db's files table tells an import which files the archive holds; it is
    derived, and anyone may edit it: verify holds it to the manifests, and an import
    believes it only where the capture's manifest says so too."""
    first = imported(custody, WARCPROX)[0]["capture_id"]
    digest = hashlib.sha256(WARC.read_bytes()).hexdigest()
    with sqlite3.connect(custody.root / "custody.db") as conn:
        conn.execute("INSERT INTO files VALUES (?, 'archive/2026/12/fake.warc.gz', 5, ?, 1)",
                     [first, digest])
        conn.execute("UPDATE files SET bytes = 7 WHERE path LIKE '%lil-projects%'")
    code, report = custody.verify()
    assert code == 1
    (bad,) = [c for c in report["checks"] if c["outcome"] == "failed"]
    assert bad["subject"] == f"files/{first}"
    assert "archive/2026/12/fake.warc.gz in the database but not in the manifest" in \
        bad["detail"] and "bytes is 7 in the database" in bad["detail"], bad
    done = imported(custody, WARC)[0]
    assert done["status"] == "imported" and done["capture_id"] != first
    # a capture's rows taken out, rows of a capture there is not put in their place: the
    # manifests are read, and the copy is known
    with sqlite3.connect(custody.root / "custody.db") as conn:
        conn.execute("DELETE FROM files WHERE capture_id = ?", [first])
        conn.execute("INSERT INTO files VALUES ('bogus', 'archive/x.warc.gz', 1, '00', 1)")
    again = imported(custody, WARCPROX)[0]
    assert again["status"] == "already" and again["capture_id"] == first, again


def test_a_damaged_file_is_refused_unless_accepted(custody: Custody) -> None:
    before = sorted(p.name for p in (custody.root / "manifests").iterdir())
    result = custody("import", str(DAMAGED))
    assert result.exit_code == 1 and "fails check" in result.output, result.output
    assert "--accept-damaged" in result.output
    assert sorted(p.name for p in (custody.root / "manifests").iterdir()) == before
    assert not (custody.root / "archive" / "imported").exists()

    done = imported(custody, DAMAGED, extra=("--accept-damaged",))[0]
    assert done["status"] == "imported" and done["verdict"] == "failed"
    content = custody.manifest(done["capture_id"])
    assert content["status"] == "imported-damaged"
    verdict = content["imported"][0]["check"]
    assert verdict["status"] == "failed" and any(
        "not followed by CRLF CRLF" in p for p in verdict["problems"])
    code, report = custody.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]


def test_a_byte_changed_in_an_imported_file_fails_verify(custody: Custody) -> None:
    done = imported(custody, WACZ, PLAIN)
    path = custody.root / custody.manifest(done[0]["capture_id"])["imported"][0]["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.chmod(0o644)  # sealed copies are read-only: whoever changes one must change that
    path.write_bytes(bytes(data))
    code, report = custody.verify()
    assert code == 1
    failed = [c for c in report["checks"] if c["outcome"] == "failed"]
    assert failed and all(c["subject"] == custody.manifest(done[0]["capture_id"])[
        "imported"][0]["path"] for c in failed), failed
    assert any("the imported file was changed" in c["detail"] for c in failed)


def test_reindex_rebuilds_imported_rows(custody: Custody) -> None:
    imported(custody, WACZ, PLAIN, ARC)
    query = ("select capture_id, url, text_sha256 from documents order by capture_id, url")
    before = custody.query(query)
    assert before
    (custody.root / "custody.db").unlink()
    custody.ok("reindex")
    assert custody.query(query) == before
    assert custody.verify()[0] == 0


def test_custody_export_comes_back_with_a_passing_verdict(sealed: Custody,
                                                          custody: Custody,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "partner.wacz"
    sealed.ok("export", capture_id_of(sealed), "-o", str(out))
    done = imported(custody, out)[0]
    assert done["status"] == "imported" and done["verdict"] == "passed"
    content = custody.manifest(done["capture_id"])
    assert any(r["type"] == "response" for r in content["records"])
    assert custody.verify()[0] == 0
    conn = sqlite3.connect(custody.root / "custody.db")
    texts = conn.execute("select count(*) from documents where capture_id = ?",
                         [done["capture_id"]]).fetchone()[0]
    assert texts >= 3  # the exported pages' text, found in the WARC inside the WACZ
    # an imported package is handed over as the file it is, not exported again
    again = custody("export", done["capture_id"], "-o", str(tmp_path / "again.wacz"))
    assert again.exit_code == 2 and "imported WACZ" in again.output


def test_import_needs_files_that_exist_and_are_archives(custody: Custody,
                                                        tmp_path: Path) -> None:
    result = custody("import", str(tmp_path / "missing.warc"))
    assert result.exit_code == 2 and "no such file" in result.output
    text = tmp_path / "notes.txt"
    text.write_text("not a WARC at all")
    result = custody("import", str(text))
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == f"custody: error: {text}: not a WARC, ARC or WACZ file: not " \
                            "imported\n"
    result = custody("import", "--json", str(text), str(WARC))  # the rest still imported
    assert result.exit_code == 1 and result.stderr.startswith(f"custody: error: {text}: ")
    assert [r["status"] for r in json.loads(result.stdout)] == ["refused", "imported"]
    assert len(chain_ids(custody)) == 1


def test_a_sealed_copy_has_a_fixed_read_only_mode(custody: Custody, tmp_path: Path) -> None:
    """Not its source's: a set-id, world-writable file becomes a plain read-only one."""
    source = tmp_path / "odd-mode.warc.gz"
    source.write_bytes(WARC.read_bytes())
    source.chmod(0o4777)
    (done,) = imported(custody, source)
    copy = custody.root / custody.manifest(done["capture_id"])["imported"][0]["path"]
    assert stat.S_IMODE(copy.stat().st_mode) == 0o444
    assert stat.S_IMODE(source.stat().st_mode) == 0o4777  # the source is left as it was
    assert custody.verify()[0] == 0


def test_a_file_name_that_is_not_utf8_or_holds_a_line_break_is_shown_escaped(
        custody: Custody, tmp_path: Path) -> None:
    """A name made on another system (bytes that are not UTF-8) and a name with line
    breaks: check and import say what they did in one line each, the name escaped, never
    a traceback and never a forged line of output; the manifest keeps the name as text."""
    import os
    import shutil
    import subprocess
    import sys

    custody_bin = str(Path(sys.executable).with_name("custody"))
    env = {**os.environ, "CUSTODY_ROOT": str(custody.root), "CUSTODY_KEY": str(custody.key)}
    latin = tmp_path / os.fsdecode(b"d\xe9claration.warc.gz")  # Latin-1, from Windows
    forged = tmp_path / "a\ncustody: error: forged line\nb.warc.gz"
    shutil.copyfile(WARC, latin)
    shutil.copyfile(DAMAGED, forged)
    for name in (latin, forged):
        checked = subprocess.run([custody_bin, "check", str(name)], env=env,
                                 capture_output=True, text=True)
        assert "Traceback" not in checked.stderr and checked.returncode in (0, 1), \
            checked.stderr
        assert not any(line.startswith("custody: error: forged")
                       for line in checked.stdout.splitlines())
    done = subprocess.run([custody_bin, "import", "--json", str(latin)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    [item] = json.loads(done.stdout)
    assert item["file"].endswith("d\\xe9claration.warc.gz")
    [entry] = custody.manifest(item["capture_id"])["imported"]
    assert entry["source_name"] == "d\\xe9claration.warc.gz"
    refused = subprocess.run([custody_bin, "import", str(forged)], env=env,
                             capture_output=True, text=True)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "a\\ncustody: error: forged line\\nb.warc.gz" in refused.stderr
    assert custody.verify()[0] == 0


@pytest.mark.parametrize("moment", ["import.hashed", "import.checked"])
def test_a_file_that_changes_while_it_is_imported_is_refused_and_the_others_imported(
        custody: Custody, tmp_path: Path, moment: str) -> None:
    """Changed after it was hashed, before its copy: the file is refused (exit 1, one
    line), nothing of it is left (no journal entry, no folder), and the next file of the
    same command is imported. Changed after its copy was checked: what is sealed is the
    copy, the bytes hashed and checked, whatever the source holds now."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    custody_bin = str(Path(sys.executable).with_name("custody"))
    changing, other = tmp_path / "changing.warc.gz", tmp_path / "other.warc.gz"
    shutil.copyfile(WARC, changing)
    shutil.copyfile(WARCPROX, other)
    env = {**os.environ, "CUSTODY_ROOT": str(custody.root), "CUSTODY_KEY": str(custody.key),
           "CUSTODY_TEST_FAULT": f"{moment}:stop"}
    proc = subprocess.Popen([custody_bin, "import", str(changing), str(other)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert proc.poll() is None and time.monotonic() < deadline, "it did not stop"
        time.sleep(0.05)
    data = bytearray(changing.read_bytes())
    data[1000] ^= 0xFF
    changing.write_bytes(bytes(data))
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    if moment == "import.checked":
        assert proc.returncode == 0, err
        sealed = sorted((custody.root / "archive" / "imported").glob("*/changing.warc.gz"))
        assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in sealed] == \
            [hashlib.sha256(WARC.read_bytes()).hexdigest()]
        assert custody.verify()[0] == 0
        return
    assert proc.returncode == 1, err
    assert err.count("\n") == 1 and "changed while it was imported" in err, err
    assert "other.warc.gz: imported as" in out
    assert not list((custody.root / ".custody" / "sealing").glob("*.json"))
    assert [p.name for p in (custody.root / "archive" / "imported").iterdir()] == \
        [custody.query("select id from captures")[0]["id"]]
    code, report = custody.verify()
    assert code == 0 and not report.get("notes"), report.get("notes")


def test_a_file_that_only_begins_as_a_zip_is_no_wacz_even_damaged(
        custody: Custody, tmp_path: Path) -> None:
    """--accept-damaged imports a damaged WARC, ARC or WACZ; a file that begins with
    "PK" and a ZIP with no datapackage.json are neither, and are refused as such."""
    import zipfile

    pk = tmp_path / "pk.bin"
    pk.write_bytes(b"PK\x03\x04this is not a zip at all")
    plain = tmp_path / "photos.zip"
    with zipfile.ZipFile(plain, "w") as package:
        package.writestr("a.txt", "not an archive")
    for path in (pk, plain):
        result = custody("import", "--accept-damaged", str(path))
        assert result.exit_code == 1, result.output
        assert "not a WARC, ARC or WACZ file" in result.stderr
    assert not (custody.root / "archive" / "imported").exists()


def test_a_wacz_cut_short_is_still_imported_as_damaged(custody: Custody,
                                                       tmp_path: Path) -> None:
    """A download of a WACZ cut off has no central directory: it is still a WACZ (its
    entries' own headers say so), refused as failing check, and imported with
    --accept-damaged."""
    source = CORPORA / "webrecorder-py-wacz" / "valid_example_1.wacz"
    cut = tmp_path / "cut.wacz"
    cut.write_bytes(source.read_bytes()[: int(source.stat().st_size * 0.8)])
    refused = custody("import", str(cut))
    assert refused.exit_code == 1 and "fails check" in refused.stderr, refused.stderr
    done = imported(custody, cut, extra=("--accept-damaged",))[0]
    assert done["status"] == "imported" and done["verdict"] == "failed", done
    assert custody.verify()[0] == 0
