"""An import decides before it seals: records the archive holds already, in another
container, are refused unless asked for, and a partial overlap is imported with the
overlap recorded; the database holds the same record in two sealed captures; and an
import killed at any step leaves an archive that verifies and is completed (or undone)
by the next command that writes."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from conftest import Custody, capture_id_of
from test_export import tool
from test_import import WARC, WARCPROX, imported

CUSTODY = str(Path(sys.executable).with_name("custody"))


def members(path: Path) -> list[bytes]:
    """The inflated gzip members of a file, one record each."""
    data, out = path.read_bytes(), []
    while data:
        inflater = zlib.decompressobj(31)
        out.append(inflater.decompress(data))
        data = inflater.unused_data
    return out


def regzipped(source: Path, target: Path, keep: slice = slice(None)) -> Path:
    """The same records (or some of them) in another container: gzipped again, at
    another level, so that no byte of the file is the same where it matters."""
    target.write_bytes(b"".join(gzip.compress(m, compresslevel=1, mtime=1)
                                for m in members(source)[keep]))
    return target


def responses(custody: Custody, cid: str) -> list[str]:
    return [r["record_id"] for r in custody.manifest(cid)["records"] if r["type"] == "response"]


def test_the_same_records_in_another_container_are_refused_unless_asked(
        custody: Custody, tmp_path: Path) -> None:
    first = imported(custody, WARC)[0]
    assert first["status"] == "imported"
    again = regzipped(WARC, tmp_path / "again.warc.gz")
    assert again.read_bytes() != WARC.read_bytes()
    manifests = sorted(p.name for p in (custody.root / "manifests").iterdir())
    refused = custody("import", str(again))
    assert refused.exit_code == 1 and "in the archive already" in refused.stderr
    assert first["capture_id"] in refused.stderr and "--allow-overlap" in refused.stderr
    assert sorted(p.name for p in (custody.root / "manifests").iterdir()) == manifests
    assert custody.verify()[0] == 0  # nothing was sealed: nothing is half sealed
    done = imported(custody, again, extra=("--allow-overlap",))[0]
    assert done["status"] == "imported" and "in the archive already" in done["message"]
    overlap = custody.manifest(done["capture_id"])["imported"][0]["overlap"]
    assert overlap["records_held"] == overlap["records_checked"] > 0
    assert overlap["captures"] == {first["capture_id"]: overlap["records_held"]}
    # one record, two sealed containers: both in the database, and all of it verifies
    shared = responses(custody, first["capture_id"])[0]
    rows = custody.query(f"select capture_id from resources where record_id = '{shared}'")
    assert {r["capture_id"] for r in rows} == {first["capture_id"], done["capture_id"]}
    code, report = custody.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
    custody.ok("reindex")
    assert custody.verify()[0] == 0
    events = [json.loads(line) for line in
              (custody.root / "manifests/ledger/log.jsonl").read_text().splitlines()]
    imported_events = [e for e in events if e["event"] == "imported"]
    assert imported_events[-1]["details"]["overlap"]["records_held"] > 0


def test_a_wacz_packing_a_warc_imported_before_is_an_overlap(custody: Custody,
                                                             tmp_path: Path) -> None:
    imported(custody, WARC)
    package = tmp_path / "packed.wacz"
    made = subprocess.run([tool("wacz"), "create", "-o", str(package), str(WARC)],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    refused = custody("import", str(package))
    assert refused.exit_code == 1 and "in the archive already" in refused.stderr


def test_an_export_brought_back_is_an_overlap(sealed: Custody, tmp_path: Path) -> None:
    out = tmp_path / "back.wacz"
    sealed.ok("export", capture_id_of(sealed), "-o", str(out))
    refused = sealed("import", str(out))
    assert refused.exit_code == 1 and capture_id_of(sealed) in refused.stderr
    done = imported(sealed, out, extra=("--allow-overlap",))[0]
    assert done["status"] == "imported"
    assert sealed.verify()[0] == 0


def test_a_partial_overlap_is_imported_with_it_listed(custody: Custody,
                                                      tmp_path: Path) -> None:
    records = members(WARCPROX)  # many responses, each with its request
    half = regzipped(WARCPROX, tmp_path / "half.warc.gz", slice(0, len(records) // 2))
    first = imported(custody, half)[0]
    done = imported(custody, regzipped(WARCPROX, tmp_path / "all.warc.gz"))[0]
    assert done["status"] == "imported", done
    overlap = custody.manifest(done["capture_id"])["imported"][0]["overlap"]
    assert 0 < overlap["records_held"] < overlap["records_checked"]
    assert list(overlap["captures"]) == [first["capture_id"]]
    assert custody.verify()[0] == 0


def run_killed(custody: Custody, fault: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key),
               CUSTODY_TEST_FAULT=fault)
    return subprocess.run([CUSTODY, *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("fault", ["import.copy", "seal.signature", "seal.manifest",
                                   "seal.ledger-leaf", "seal.checkpoint", "log.event",
                                   "seal.log", "log.head@2", "seal.database"])
def test_an_import_killed_at_each_step(custody: Custody, fault: str) -> None:
    killed = run_killed(custody, fault, "import", str(WARC))
    assert killed.returncode == -signal.SIGKILL, (killed.stdout, killed.stderr)
    code, report = custody.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
    assert report["notes"], "an interrupted import leaves something to say"
    done = custody("import", "--json", str(WARC))
    assert done.exit_code == 0, done.output
    (result,) = json.loads(done.stdout)
    assert result["status"] in ("imported", "already")
    code, report = custody.verify()
    assert code == 0 and not report["notes"], report
    events = [json.loads(line) for line in
              (custody.root / "manifests/ledger/log.jsonl").read_text().splitlines()]
    cid = result["capture_id"]
    named = [e["event"] for e in events if (e.get("details") or {}).get("capture_id") == cid]
    assert named.count("captured") == 1 and named.count("imported") == 1, named
    assert len(list((custody.root / "archive" / "imported").iterdir())) == 1
    assert not list((custody.root / ".custody" / "sealing").glob("*.json"))


def test_a_whole_file_gzip_of_records_held_is_refused_and_ids_alone_prove_nothing(
        custody: Custody, tmp_path: Path) -> None:
    """The records are the same whatever holds them: a WARC gzipped whole (its records
    not reachable by offset) of records the archive holds is refused as a copy of them.
    And a record is held only with its payload: a file that reuses the archive's
    WARC-Record-IDs over other payloads is no copy -- it is imported, the collision said
    and sealed in its manifest, never claimed as an overlap."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    first = imported(custody, WARC)[0]
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(b"".join(members(WARC)), compresslevel=9))
    refused = custody("import", "--accept-damaged", str(whole))
    assert refused.exit_code == 1 and "in the archive already" in refused.stderr, \
        refused.stderr
    assert first["capture_id"] in refused.stderr

    forged = tmp_path / "forged.warc.gz"
    with open(WARC, "rb") as source, open(forged, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for record in ArchiveIterator(source):
            if record.rec_type != "response":
                continue
            http = record.http_headers
            body = b"FORGED " + record.content_stream().read()
            copy = writer.create_warc_record(
                record.rec_headers.get_header("WARC-Target-URI"), "response",
                payload=io.BytesIO(body), http_headers=http,
                warc_headers_dict={"WARC-Record-ID":
                                   record.rec_headers.get_header("WARC-Record-ID")})
            copy.http_headers.replace_header("Content-Length", str(len(body)))
            writer.write_record(copy)
    done = custody("import", "--json", str(forged))
    assert done.exit_code == 0, done.output
    (result,) = json.loads(done.stdout)
    manifest = custody.manifest(result["capture_id"])
    overlap = manifest["imported"][0]["overlap"]
    assert overlap["records_held"] == 0 and overlap["records_same_id_other_payload"] > 0
    assert "with another payload: not copies of them" in result["message"]
    assert custody.verify()[0] == 0


def test_records_twice_in_a_file_are_each_counted(custody: Custody, tmp_path: Path) -> None:
    """A file holding each of the archive's records twice holds nothing else: refused as
    a copy, every record counted."""
    first = imported(custody, WARC)[0]
    twice = tmp_path / "twice.warc.gz"
    twice.write_bytes(WARC.read_bytes() * 2)
    refused = custody("import", str(twice))
    assert refused.exit_code == 1 and "in the archive already" in refused.stderr, \
        refused.output
    assert first["capture_id"] in refused.stderr
    done = custody("import", "--json", "--allow-overlap", str(twice))
    (result,) = json.loads(done.stdout)
    overlap = custody.manifest(result["capture_id"])["imported"][0]["overlap"]
    assert overlap["records_held"] == overlap["records_checked"] == 2 * len(
        responses(custody, first["capture_id"]))


ARC = Path(__file__).parent / "data" / "corpora" / "webrecorder-warcio" / "example.arc.gz"


def test_an_arc_file_of_another_crawl_is_no_copy_of_one_imported(
        custody: Custody, tmp_path: Path) -> None:
    """An ARC record has no WARC-Record-ID: check names it by its offset, which names it
    in its own file only. Another crawl's ARC file (another date, the records at the same
    offsets) was refused as a copy of the first; a re-compressed copy of the first is
    still found to be one."""
    raw = gzip.decompress(ARC.read_bytes())
    later = tmp_path / "later.arc"
    later.write_bytes(raw.replace(b"20140216050221", b"20190101000000")
                      .replace(b"live-web-example.arc.gz", b"other-crawl-2019.arc.gz"))
    copy = tmp_path / "copy.arc"
    copy.write_bytes(raw)
    first = imported(custody, ARC)[0]
    assert first["status"] == "imported", first
    done = imported(custody, later)[0]
    assert done["status"] == "imported", done
    assert "in the archive already" not in done["message"]
    assert "another payload" not in done["message"]
    again = custody("import", str(copy))
    assert again.exit_code == 1 and "in the archive already" in again.stderr, again.stderr
    assert first["capture_id"] in again.stderr
