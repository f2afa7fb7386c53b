"""Checks that another would catch first, each tested on its own: the verification that
stands behind another is still a verification (a mutation audit found these unguarded)."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from conftest import Custody, capture_id_of
from custody.core import keyfile, sshsig
from custody.core.archive import Archive
from custody.core.errors import ArchiveError
from custody.seal import manifest
from custody.seal.trust import admission_of
from custody.verify.report import Report
from custody.verify.seals import check_seal, read_signers


def judged(runner: Custody, cid: str) -> list[tuple[str, str, str]]:
    """check_seal alone on the capture: the signature's own checks, nothing around them
    (the custody log's record of the signature's bytes would catch a changed .sig
    first)."""
    archive = Archive.open(runner.root)
    report = Report(str(archive.root))
    signers = read_signers(archive, report)
    sealed = manifest.read(manifest.manifest_path(archive.manifests_dir, cid))
    check_seal(archive, sealed, signers, admission_of(archive.manifests_dir, signers or []),
               report)
    return [(c.check, c.outcome, c.detail) for c in report.checks if c.check == "signature"]


def test_a_manifest_signed_in_another_namespace_fails(sealed: Custody) -> None:
    cid = capture_id_of(sealed)
    path = sealed.root / "manifests" / f"{cid}.json"
    key = keyfile.load_key(sealed.key)
    (path.with_name(path.name + ".sig")).write_text(
        sshsig.sign(key, path.read_bytes(), sshsig.CHECKPOINT_NAMESPACE))
    (found,) = judged(sealed, cid)
    assert found[1] == "failed" and "namespace" in found[2], found


def test_a_manifest_naming_another_key_fails(sealed: Custody, tmp_path: Path) -> None:
    """Signed, validly, by an admitted key that is not the one the manifest names."""
    cid = capture_id_of(sealed)
    path = sealed.root / "manifests" / f"{cid}.json"
    content = json.loads(path.read_bytes())
    other = keyfile.create_key(tmp_path / "other")
    content["collector"]["key_fingerprint"] = sshsig.fingerprint(other.public_key())
    path.write_bytes(manifest.to_bytes(content))
    key = keyfile.load_key(sealed.key)
    (path.with_name(path.name + ".sig")).write_text(
        sshsig.sign(key, path.read_bytes(), sshsig.MANIFEST_NAMESPACE))
    (found,) = judged(sealed, cid)
    assert found[1] == "failed" and "names key" in found[2], found


def test_a_sealed_manifest_is_never_written_again(sealed: Custody) -> None:
    """The seal's own guard, reached directly: no path of recovery may go round it."""
    from custody.seal.history import History
    from custody.seal.sealing import seal

    archive = Archive.open(sealed.root)
    cid = capture_id_of(sealed)
    before = (sealed.root / "manifests" / f"{cid}.json").read_bytes()
    key = keyfile.load_key(sealed.key)
    with archive.lock(), archive.sealing(), pytest.raises(FileExistsError):
        seal(archive, History.open(archive.root, write=True), cid, [b"{}\n"], [],
             key=key, principal="tester@example.org", tsa=[])
    assert (sealed.root / "manifests" / f"{cid}.json").read_bytes() == before
    assert sealed.verify()[0] == 0


def test_an_event_appended_without_a_valid_signature_fails(sealed: Custody) -> None:
    """A line after the log's signed head (an interrupted append is a note) still fails
    when its signature does not hold: a forged event, chained and numbered right."""
    log = sealed.root / "manifests" / "ledger" / "log.jsonl"
    lines = log.read_bytes().splitlines()
    last = json.loads(lines[-1])
    forged = {"seq": last["seq"] + 1, "at": last["at"], "event": "note-added",
              "who": last["who"], "key": last["key"],
              "details": {"capture_id": capture_id_of(sealed), "text": "fabricated"},
              "prev": hashlib.sha256(lines[-1]).hexdigest(),
              "sig": base64.b64encode(b"\x00" * 64).decode()}
    with open(log, "ab") as fh:
        fh.write(json.dumps(forged, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    code, report = sealed.verify()
    assert code == 1
    assert any(c["check"] == "log" and c["outcome"] == "failed" and "signature" in c["detail"]
               for c in report["checks"]), report["checks"]


def test_the_query_connection_cannot_write_even_without_its_authorizer(
        sealed: Custody) -> None:
    """custody query refuses writes twice over: its authorizer, and a connection opened
    read-only underneath it."""
    from custody.index.query import open_readonly

    conn = open_readonly(sealed.root / "custody.db")
    try:
        assert conn.execute("PRAGMA query_only").fetchone()[0] == 1
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only"):
            conn.execute("CREATE TABLE planted (x)")
        conn.execute("PRAGMA query_only = OFF")  # one layer off: the other still holds
        with pytest.raises(sqlite3.OperationalError, match="readonly database"):
            conn.execute("CREATE TABLE planted (x)")
    finally:
        conn.close()
    with pytest.raises(ArchiveError):
        open_readonly(sealed.root / "no-such.db")
