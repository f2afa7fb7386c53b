"""Tamper matrix: each mutation, made without the key, is caught and located by verify.

Every case works on a fresh copy of an archive of three timestamped captures, changes
one thing, and expects `custody verify` to fail with a failed check of the named kind
whose subject or detail names the place. The untouched copy passes (no false alarm).
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import Custody, chain_ids
from custody.core import sshsig
from test_verify import rewrite_member

ids = chain_ids


def mid(runner: Custody) -> str:
    return ids(runner)[1]


def manifests(runner: Custody) -> Path:
    return runner.root / "manifests"


def record(runner: Custody, rec_type: str = "response", suffix: str = ".html") -> dict:
    m = runner.manifest(mid(runner))
    return next(r for r in m["records"] if r["type"] == rec_type
                and (r["target_uri"] or "").endswith(suffix))


def warc_path(runner: Custody) -> Path:
    return runner.root / runner.manifest(mid(runner))["warc_files"][0]["path"]


def splice(path: Path, start: int, end: int, new: bytes) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:start] + new + data[end:])


def db(runner: Custody, sql: str, *params: object) -> None:
    with sqlite3.connect(runner.root / "custody.db") as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute(sql, params)


def edit(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert old in data, (path, old)
    path.write_bytes(data.replace(old, new, 1))


# -- the mutations: name -> (change, check that must fail, text that must locate it) --------------


def warc_body(r: Custody) -> None:
    rec = record(r)
    rewrite_member(r, rec, b"</html>", b"</htmL>")


def warc_http_header(r: Custody) -> None:
    rewrite_member(r, record(r), b"Content-Type:", b"Content-type:")


def warc_warc_header(r: Custody) -> None:
    rewrite_member(r, record(r), b"WARC-IP-Address: 127.0.0.1", b"WARC-IP-Address: 127.0.0.9")


def warc_truncated(r: Custody) -> None:
    path = warc_path(r)
    path.write_bytes(path.read_bytes()[:-100])


def warc_garbage_appended(r: Custody) -> None:
    with open(warc_path(r), "ab") as fh:
        fh.write(zlib.compress(b"WARC/1.1\r\n\r\n"))


def warc_record_removed(r: Custody) -> None:
    rec = record(r, "request")
    splice(warc_path(r), rec["offset"], rec["offset"] + rec["length"], b"")


def warc_records_swapped(r: Custody) -> None:
    m = r.manifest(mid(r))
    a, b = m["records"][1], m["records"][2]
    path = warc_path(r)
    data = path.read_bytes()
    first = data[a["offset"]: a["offset"] + a["length"]]
    second = data[b["offset"]: b["offset"] + b["length"]]
    path.write_bytes(data[: a["offset"]] + second + first + data[b["offset"] + b["length"]:])


def warc_deleted(r: Custody) -> None:
    warc_path(r).unlink()


def warc_compressed_byte(r: Custody) -> None:
    rec = record(r)
    path = warc_path(r)
    data = bytearray(path.read_bytes())
    data[rec["offset"] + rec["length"] // 2] ^= 0x40
    path.write_bytes(bytes(data))


def warc_gzip_header(r: Custody) -> None:
    # the member's MTIME field: not covered by its CRC, so the member still inflates
    rec = record(r)
    path = warc_path(r)
    data = bytearray(path.read_bytes())
    data[rec["offset"] + 5] ^= 0x01
    path.write_bytes(bytes(data))


def manifest_field(r: Custody) -> None:
    edit(manifests(r) / f"{mid(r)}.json", b'"status": "complete"', b'"status": "partial"')


def manifest_reformatted(r: Custody) -> None:
    path = manifests(r) / f"{mid(r)}.json"
    path.write_text(json.dumps(json.loads(path.read_text()), indent=1, sort_keys=True))


def manifest_swapped(r: Custody) -> None:
    first, second = ids(r)[0], ids(r)[1]
    shutil.copy(manifests(r) / f"{first}.json", manifests(r) / f"{second}.json")


def manifest_removed(r: Custody) -> None:
    for path in manifests(r).glob(f"{mid(r)}*"):
        path.unlink()


def signature_removed(r: Custody) -> None:
    (manifests(r) / f"{mid(r)}.json.sig").unlink()


def signature_other_key(r: Custody) -> None:
    path = manifests(r) / f"{mid(r)}.json"
    forged = sshsig.sign(Ed25519PrivateKey.generate(), path.read_bytes(), "custody-manifest")
    path.with_name(path.name + ".sig").write_text(forged)


def signature_garbled(r: Custody) -> None:
    edit(manifests(r) / f"{mid(r)}.json.sig", b"U1NIU0lH", b"U1NIU0lI")


def allowed_signers_replaced(r: Custody) -> None:
    other = sshsig.public_key_line(Ed25519PrivateKey.generate().public_key())
    path = r.root / "allowed_signers"
    line = path.read_text().split("ssh-ed25519")[0]
    path.write_text(f"{line}{other}\n")


def timestamp_removed(r: Custody) -> None:
    (manifests(r) / f"{mid(r)}.json.tsr").unlink()


def timestamp_byte(r: Custody) -> None:
    path = manifests(r) / f"{mid(r)}.json.tsr"
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x01  # inside the signature value
    path.write_bytes(bytes(data))


def timestamp_swapped(r: Custody) -> None:
    shutil.copy(manifests(r) / f"{ids(r)[0]}.json.tsr", manifests(r) / f"{mid(r)}.json.tsr")


def ledger_leaf_removed(r: Custody) -> None:
    leaves = manifests(r) / "ledger" / "leaves"
    lines = leaves.read_text().splitlines(keepends=True)
    leaves.write_text(lines[0] + "".join(lines[2:]))


def ledger_reordered(r: Custody) -> None:
    leaves = manifests(r) / "ledger" / "leaves"
    lines = leaves.read_text().splitlines(keepends=True)
    leaves.write_text(lines[1] + lines[0] + "".join(lines[2:]))


def ledger_leaf_hash(r: Custody) -> None:
    leaves = manifests(r) / "ledger" / "leaves"
    lines = leaves.read_text().splitlines(keepends=True)
    index, cid, _ = lines[1].split()
    lines[1] = f"{index} {cid} {'0' * 64}\n"
    leaves.write_text("".join(lines))


def checkpoint_root(r: Custody) -> None:
    path = manifests(r) / "ledger" / "checkpoint"
    lines = path.read_text().split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()
    path.write_text("\n".join(lines))


def checkpoint_rolled_back(r: Custody) -> None:
    ledger = manifests(r) / "ledger"
    shutil.copy(ledger / "checkpoints" / "2", ledger / "checkpoint")


def checkpoint_sig_removed(r: Custody) -> None:
    (manifests(r) / "ledger" / "checkpoint.sig").unlink()


def log_edited(r: Custody) -> None:
    edit(manifests(r) / "ledger" / "log.jsonl", b'"event":"captured"', b'"event":"imported"')


def log_line_removed(r: Custody) -> None:
    path = manifests(r) / "ledger" / "log.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"".join(lines[2:]))


def db_text(r: Custody) -> None:
    db(r, "UPDATE documents SET text = text || ' (amended)' WHERE capture_id = ?", mid(r))


def db_resource_removed(r: Custody) -> None:
    db(r, "DELETE FROM resources WHERE id = (SELECT min(id) FROM resources "
          "WHERE capture_id = ? AND url LIKE '%.css')", mid(r))


def db_capture_status(r: Custody) -> None:
    db(r, "UPDATE captures SET status = 'failed' WHERE id = ?", mid(r))


def db_capture_added(r: Custody) -> None:
    db(r, "INSERT INTO captures (id, seed_url, status) VALUES ('20260101T000000Z-forged00', "
          "'http://forged.example/', 'complete')")


MATRIX: dict[str, tuple[Callable[[Custody], None], str, Callable[[Custody], str]]] = {
    "warc: body byte": (warc_body, "record", lambda r: record(r)["record_id"]),
    "warc: HTTP header byte": (warc_http_header, "record", lambda r: record(r)["record_id"]),
    "warc: WARC header byte": (warc_warc_header, "record", lambda r: record(r)["record_id"]),
    "warc: truncated": (warc_truncated, "warc-file", lambda r: mid(r)),
    "warc: garbage appended": (warc_garbage_appended, "warc-file", lambda r: mid(r)),
    "warc: record removed": (warc_record_removed, "warc-records", lambda r: mid(r)),
    "warc: records swapped": (warc_records_swapped, "warc-records", lambda r: mid(r)),
    "warc: file deleted": (warc_deleted, "warc-file", lambda r: mid(r)),
    "warc: compressed byte": (warc_compressed_byte, "record", lambda r: record(r)["record_id"]),
    "warc: gzip header byte": (warc_gzip_header, "record", lambda r: record(r)["record_id"]),
    "manifest: field edited": (manifest_field, "signature", lambda r: mid(r)),
    "manifest: reformatted": (manifest_reformatted, "signature", lambda r: mid(r)),
    "manifest: another's copied in": (manifest_swapped, "signature", lambda r: mid(r)),
    "manifest: removed from the chain": (manifest_removed, "chain", lambda r: ids(r)[-1]),
    "signature: removed": (signature_removed, "signature", lambda r: mid(r)),
    "signature: another key": (signature_other_key, "signature", lambda r: mid(r)),
    "signature: garbled": (signature_garbled, "signature", lambda r: mid(r)),
    "allowed_signers: key replaced": (allowed_signers_replaced, "signature", lambda r: mid(r)),
    "timestamp: removed": (timestamp_removed, "timestamp", lambda r: mid(r)),
    "timestamp: byte flipped": (timestamp_byte, "timestamp", lambda r: mid(r)),
    "timestamp: another's token": (timestamp_swapped, "timestamp", lambda r: mid(r)),
    "ledger: leaf removed": (ledger_leaf_removed, "ledger", lambda r: "leaves"),
    "ledger: leaves reordered": (ledger_reordered, "ledger", lambda r: "leaves"),
    "ledger: leaf hash changed": (ledger_leaf_hash, "ledger", lambda r: mid(r)),
    "checkpoint: root changed": (checkpoint_root, "checkpoint", lambda r: "checkpoint"),
    "checkpoint: rolled back": (checkpoint_rolled_back, "checkpoint", lambda r: "rolled back"),
    "checkpoint: signature removed": (checkpoint_sig_removed, "checkpoint",
                                      lambda r: "checkpoint.sig"),
    "log: event edited": (log_edited, "log", lambda r: "line"),
    "log: event removed": (log_line_removed, "log", lambda r: "line"),
    "database: text changed": (db_text, "database", lambda r: mid(r)),
    "database: resource removed": (db_resource_removed, "database", lambda r: mid(r)),
    "database: capture status": (db_capture_status, "database", lambda r: mid(r)),
    "database: forged capture": (db_capture_added, "database", lambda r: "forged"),
}


def test_matrix_is_large_enough() -> None:
    assert len(MATRIX) >= 25
    kinds = {name.split(":")[0] for name in MATRIX}
    assert {"warc", "manifest", "signature", "timestamp", "ledger", "checkpoint", "log",
            "database"} <= kinds


def test_untouched_archive_has_no_false_alarm(stamped: Custody) -> None:
    code, report = stamped.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]


@pytest.mark.parametrize("name", list(MATRIX))
def test_mutation_is_caught_and_located(stamped: Custody, name: str) -> None:
    mutate, check, where = MATRIX[name]
    place = where(stamped)  # before the change: the change may remove what names it
    mutate(stamped)
    code, report = stamped.verify()
    failed = [c for c in report["checks"] if c["outcome"] == "failed"]
    assert code == 1 and report["status"] == "failed", name
    located = [c for c in failed if c["check"] == check
               and place in (c["subject"] + " " + c["detail"] + " " + (c["capture_id"] or ""))]
    assert located, (name, failed)
