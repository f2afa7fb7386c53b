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
from typing import Any

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


# -- a timestamp token, byte class by byte class (RFC 3161 / CMS SignedData) -------------


def _tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, where its content starts, where it ends) of the DER element at ``pos``."""
    length, start = buf[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        length, start = int.from_bytes(buf[pos + 2 : pos + 2 + count], "big"), pos + 2 + count
    return buf[pos], start, start + length


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, end) of each element between start and end."""
    out, pos = [], start
    while pos < end:
        tag, content, stop = _tlv(buf, pos)
        out.append((tag, pos, content, stop))
        pos = stop
    return out


def token_parts(data: bytes) -> dict[str, tuple[int, int, int, int] | list[Any]]:
    """Where each part of a TimeStampResp lies."""
    _, start, end = _tlv(data, 0)
    status, token = _children(data, start, end)[:2]
    content = _children(data, token[2], token[3])[1]  # [0] EXPLICIT
    signed = _children(data, content[2], content[3])[0]
    parts = _children(data, signed[2], signed[3])
    encap = parts[2]
    econtent = _children(data, encap[2], encap[3])[1]  # [0] EXPLICIT OCTET STRING
    octets = _children(data, econtent[2], econtent[3])[0]
    tst = _children(data, octets[2], octets[3])[0]
    fields = _children(data, tst[2], tst[3])
    certificates = next(p for p in parts[3:] if p[0] == 0xA0)
    signer = _children(data, parts[-1][2], parts[-1][3])[0]
    signer_fields = _children(data, signer[2], signer[3])
    return {"status": status, "gen_time": next(f for f in fields if f[0] == 0x18),
            "certificates": _children(data, certificates[2], certificates[3]),
            "certificate_set": certificates,
            "signed_attrs": next(f for f in signer_fields if f[0] == 0xA0),
            "signature": next(f for f in signer_fields if f[0] == 0x04)}


def token_path(r: Custody) -> Path:
    return manifests(r) / f"{mid(r)}.json.tsr"


def token_byte(part: str, back: int = 3) -> Callable[[Custody], None]:
    def mutate(r: Custody) -> None:
        path = token_path(r)
        data = bytearray(path.read_bytes())
        where = token_parts(bytes(data))[part]
        assert isinstance(where, tuple)
        data[where[3] - back] ^= 0x01
        path.write_bytes(bytes(data))
    return mutate


def token_certificate_byte(r: Custody) -> None:
    """A byte in the first embedded certificate: outside what the TSA signed."""
    path = token_path(r)
    data = bytearray(path.read_bytes())
    first = token_parts(bytes(data))["certificates"][0]
    data[first[3] - 5] ^= 0x01  # in its signature value: it still parses
    path.write_bytes(bytes(data))


def token_certificates_reordered(r: Custody) -> None:
    """The certificate set in another order: the same certificates, unsigned bytes."""
    path = token_path(r)
    data = path.read_bytes()
    certs = token_parts(data)["certificates"]
    assert isinstance(certs, list) and len(certs) >= 2
    first, last = certs[0][1], certs[-1][3]
    chunks = [data[c[1] : c[3]] for c in certs]
    path.write_bytes(data[:first] + b"".join(reversed(chunks)) + data[last:])


def token_status(r: Custody) -> None:
    """PKIStatus granted (0) made grantedWithMods (1): outside the signed token."""
    path = token_path(r)
    data = bytearray(path.read_bytes())
    status = token_parts(bytes(data))["status"]
    assert isinstance(status, tuple)
    integer = _children(bytes(data), status[2], status[3])[0]
    data[integer[3] - 1] = 1
    path.write_bytes(bytes(data))


def token_truncated(r: Custody) -> None:
    path = token_path(r)
    path.write_bytes(path.read_bytes()[:-40])


def signature_rewrapped(r: Custody) -> None:
    """The armoured signature re-wrapped: it still verifies; its bytes are not the ones
    sealed."""
    path = manifests(r) / f"{mid(r)}.json.sig"
    text = path.read_text()
    lines = text.splitlines()
    body = "".join(lines[1:-1])
    path.write_text("\n".join([lines[0], *(body[i : i + 64] for i in range(0, len(body), 64)),
                              lines[-1]]) + "\n")


def sums_edited(r: Custody) -> None:
    path = manifests(r) / f"{mid(r)}.SHA256SUMS"
    path.write_bytes(path.read_bytes().replace(b"  ", b" *", 1))


def sums_removed(r: Custody) -> None:
    (manifests(r) / f"{mid(r)}.SHA256SUMS").unlink()


def manifest_newline_removed(r: Custody) -> None:
    path = manifests(r) / f"{mid(r)}.json"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))


def log_reordered(r: Custody) -> None:
    path = manifests(r) / "ledger" / "log.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2] + lines[1] + b"".join(lines[3:]))


def log_forged(r: Custody) -> None:
    """An event appended, signed by a key the archive does not know."""
    from custody.seal.custody_log import CustodyLog

    CustodyLog(manifests(r)).append("exported", key=Ed25519PrivateKey.generate(),
                                    who="intruder", details={"capture_id": mid(r)})


def checkpoint_sig_garbled(r: Custody) -> None:
    path = manifests(r) / "ledger" / "checkpoint.sig"
    lines = path.read_text().splitlines()
    middle = lines[len(lines) // 2]
    lines[len(lines) // 2] = middle[:10] + ("A" if middle[10] != "A" else "B") + middle[11:]
    path.write_text("\n".join(lines) + "\n")


def warc_gzip_trailer(r: Custody) -> None:
    """A byte of a member's CRC-32: its bytes inflate, its check fails."""
    rec = record(r)
    path = warc_path(r)
    data = bytearray(path.read_bytes())
    data[rec["offset"] + rec["length"] - 6] ^= 0x01
    path.write_bytes(bytes(data))


def db_title(r: Custody) -> None:
    db(r, "UPDATE documents SET title = 'Another title' WHERE capture_id = ?", mid(r))


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
    "timestamp: genTime changed (signed content)": (token_byte("gen_time"), "timestamp",
                                                    lambda r: mid(r)),
    "timestamp: signed attribute byte": (token_byte("signed_attrs", 10), "timestamp",
                                         lambda r: mid(r)),
    "timestamp: signature value byte": (token_byte("signature", 8), "timestamp",
                                        lambda r: mid(r)),
    "timestamp: certificate byte (unsigned)": (token_certificate_byte, "timestamp",
                                               lambda r: mid(r)),
    "timestamp: certificates reordered (unsigned)": (token_certificates_reordered,
                                                     "timestamp", lambda r: mid(r)),
    "timestamp: status changed (unsigned)": (token_status, "timestamp", lambda r: mid(r)),
    "timestamp: truncated": (token_truncated, "timestamp", lambda r: mid(r)),
    "signature: armour re-wrapped": (signature_rewrapped, "signature", lambda r: mid(r)),
    "sha256sums: edited": (sums_edited, "sha256sums", lambda r: mid(r)),
    "sha256sums: removed": (sums_removed, "sha256sums", lambda r: mid(r)),
    "manifest: final newline removed": (manifest_newline_removed, "signature",
                                        lambda r: mid(r)),
    "ledger: leaf removed": (ledger_leaf_removed, "ledger", lambda r: "leaves"),
    "ledger: leaves reordered": (ledger_reordered, "ledger", lambda r: "leaves"),
    "ledger: leaf hash changed": (ledger_leaf_hash, "ledger", lambda r: mid(r)),
    "checkpoint: root changed": (checkpoint_root, "checkpoint", lambda r: "checkpoint"),
    "checkpoint: rolled back": (checkpoint_rolled_back, "checkpoint", lambda r: "rolled back"),
    "checkpoint: signature removed": (checkpoint_sig_removed, "checkpoint",
                                      lambda r: "checkpoint.sig"),
    "log: event edited": (log_edited, "log", lambda r: "line"),
    "log: event removed": (log_line_removed, "log", lambda r: "line"),
    "log: events reordered": (log_reordered, "log", lambda r: "line"),
    "log: event forged by an unknown key": (log_forged, "log", lambda r: "line"),
    "checkpoint: signature garbled": (checkpoint_sig_garbled, "checkpoint",
                                      lambda r: "checkpoint"),
    "warc: gzip trailer byte": (warc_gzip_trailer, "record", lambda r: record(r)["record_id"]),
    "database: title changed": (db_title, "database", lambda r: mid(r)),
    "database: text changed": (db_text, "database", lambda r: mid(r)),
    "database: resource removed": (db_resource_removed, "database", lambda r: mid(r)),
    "database: capture status": (db_capture_status, "database", lambda r: mid(r)),
    "database: forged capture": (db_capture_added, "database", lambda r: "forged"),
}


def test_matrix_is_large_enough() -> None:
    assert len(MATRIX) >= 45
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


@pytest.mark.parametrize("name", ["timestamp: certificates reordered (unsigned)",
                                  "signature: armour re-wrapped"])
def test_bytes_no_signature_covers_are_held_to_the_log(stamped: Custody, name: str) -> None:
    """Changes that leave every signature valid: only the custody log's record of the
    file's sha256 shows them."""
    mutate, check, _ = MATRIX[name]
    mutate(stamped)
    code, report = stamped.verify()
    failed = [c for c in report["checks"] if c["outcome"] == "failed"]
    assert code == 1 and len(failed) == 1, failed
    assert failed[0]["check"] == check and "custody log recorded" in failed[0]["detail"]


def test_a_token_the_log_never_recorded_is_a_note(stamped: Custody) -> None:
    """`custody timestamp` interrupted after writing a token, before logging it: the
    token is judged by its own signature, and said to be unrecorded."""
    log = manifests(stamped) / "ledger" / "log.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    events = [json.loads(line) for line in lines]
    cid = mid(stamped)
    token = f"{cid}.json.tsr"
    shutil.copy(token_path(stamped), manifests(stamped) / f"{cid}.json.2.tsr")
    code, report = stamped.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
    assert any(f"{cid}.json.2.tsr: a token the custody log does not record" in n
               for n in report["notes"]), report["notes"]
    assert any(token in json.dumps(e) for e in events)
