"""Timestamps, the ledger, the custody log, key rotation and evidence bundles."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Custody, capture_id_of, chain_ids, trust_tsa
from custody.seal import ledger, merkle
from custody.seal.bundle import SEALED_WARCS, verify_commands
from custody.testing.site import SiteServer
from custody.testing.tsa import LocalTSA

ids_of = chain_ids


def checks(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if c["check"] == name]


# -- timestamps ------------------------------------------------------------------------------------


def test_timestamps_verify_with_custody_and_openssl(stamped: Custody, tsa: LocalTSA) -> None:
    code, report = stamped.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
    stamps = checks(report, "timestamp")
    assert len(stamps) == 3 and all("genTime" in c["detail"] for c in stamps)
    cid = capture_id_of(stamped)
    manifests = stamped.root / "manifests"
    args = ["openssl", "ts", "-verify", "-data", f"{cid}.json", "-in", f"{cid}.json.tsr",
            "-CAfile", str(tsa.root_pem)]
    ok = subprocess.run(args, cwd=manifests, capture_output=True, text=True)
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stderr
    path = manifests / f"{cid}.json"
    data = path.read_bytes()
    path.write_bytes(data.replace(b"127.0.0.1", b"127.0.0.2", 1))
    assert path.read_bytes() != data
    bad = subprocess.run(args, cwd=manifests, capture_output=True, text=True)
    assert bad.returncode != 0


def test_no_tsa_answers_then_custody_timestamp(custody: Custody, site: SiteServer,
                                              tsa: LocalTSA) -> None:
    trust_tsa(custody, tsa)
    tsa.refuse = True
    try:
        result = custody("archive", "--json", site.url + "/en.html")
    finally:
        tsa.refuse = False
    assert result.exit_code == 0 and "pending" in result.stderr
    cid = json.loads(result.stdout)["capture_id"]
    assert (custody.root / "manifests" / f"{cid}.json.tsr.pending").exists()
    code, report = custody.verify()
    assert code == 6 and any("pending" in c["detail"] for c in checks(report, "timestamp"))
    custody.ok("timestamp")
    assert not (custody.root / "manifests" / f"{cid}.json.tsr.pending").exists()
    assert custody.verify()[0] == 0
    assert "timestamped" in {e["event"] for e in json.loads(custody.ok("log", "--json").stdout)}


def test_expired_tsa_certificate_still_verifies_at_gentime(custody: Custody, site: SiteServer,
                                                          tmp_path: Path) -> None:
    with LocalTSA(tmp_path / "short", tsa_lifetime=dt.timedelta(seconds=3)) as short:
        trust_tsa(custody, short)
        result = custody.archive(site.url + "/en.html", extra=("--no-requisites",))
        time.sleep(4)  # the TSA certificate has now expired
        code, report = custody.verify()
        assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
        cid = result["capture_id"]
        manifests = custody.root / "manifests"
        tsr = subprocess.run(["openssl", "ts", "-reply", "-in", f"{cid}.json.tsr", "-text"],
                             cwd=manifests, capture_output=True, text=True).stdout
        gen = next(line for line in tsr.splitlines() if line.startswith("Time stamp:"))
        when = dt.datetime.strptime(gen.split(": ", 1)[1].strip(), "%b %d %H:%M:%S %Y %Z")
        epoch = str(int(when.replace(tzinfo=dt.UTC).timestamp()))
        base = ["openssl", "ts", "-verify", "-data", f"{cid}.json", "-in", f"{cid}.json.tsr",
                "-CAfile", str(short.root_pem)]
        now = subprocess.run(base, cwd=manifests, capture_output=True, text=True)
        assert now.returncode != 0  # expired today
        then = subprocess.run([*base, "-attime", epoch], cwd=manifests, capture_output=True,
                              text=True)
        assert then.returncode == 0, then.stderr


# -- the ledger ------------------------------------------------------------------------------------


def test_checkpoint_and_proof_commands(stamped: Custody, tmp_path: Path) -> None:
    text = stamped.ok("ledger", "checkpoint").stdout
    checkpoint = ledger.parse_checkpoint(text)
    assert checkpoint.size == 3 and checkpoint.origin.startswith("custody.archive/")
    cid = ids_of(stamped)[1]
    proof = json.loads(stamped.ok("ledger", "proof", cid).stdout)
    data = (stamped.root / "manifests" / f"{cid}.json").read_bytes()
    assert proof["leaf_hash"] == merkle.leaf_hash(data).hex()
    assert merkle.verify_inclusion(proof["leaf_index"], proof["tree_size"],
                                   merkle.leaf_hash(data),
                                   [bytes.fromhex(p) for p in proof["proof"]], checkpoint.root)
    # ssh-keygen checks the checkpoint's SSH signature
    ok = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I",
                         "tester@example.org", "-n", "custody-checkpoint", "-s",
                         "manifests/ledger/checkpoint.sig"], cwd=stamped.root,
                        input=text.encode(), capture_output=True)
    assert ok.returncode == 0, ok.stderr


def test_verify_against_an_older_checkpoint(stamped: Custody, site: SiteServer,
                                            tmp_path: Path) -> None:
    kept = tmp_path / "kept-checkpoint"
    kept.write_text(stamped.ok("ledger", "checkpoint").stdout)
    stamped.archive(site.url + "/letter.html", extra=("--no-requisites",))
    code, report = stamped("verify", "--json", "--against", str(kept)).exit_code, None
    assert code == 0
    result = stamped("verify", "--json", "--against", str(kept))
    report = json.loads(result.stdout)
    (consistency,) = checks(report, "consistency")
    assert consistency["outcome"] == "passed" and "extends" in consistency["detail"]
    # both checkpoints have a trusted date: each was timestamped when it was signed
    assert consistency["detail"].count("was timestamped: genTime") == 2, consistency
    stamped_checkpoints = [c for c in report["checks"] if c["check"] == "checkpoint"
                           and c["subject"].startswith("manifests/ledger/checkpoints/")]
    assert len(stamped_checkpoints) >= 4 and all(c["outcome"] == "passed"
                                                 for c in stamped_checkpoints)


def test_a_changed_checkpoint_token_is_caught(stamped: Custody) -> None:
    tokens = sorted((stamped.root / "manifests" / "ledger" / "checkpoints").glob("*.tsr"))
    assert tokens  # each checkpoint was timestamped
    data = bytearray(tokens[-1].read_bytes())
    data[len(data) // 2] ^= 0x01
    tokens[-1].write_bytes(bytes(data))
    code, report = stamped.verify()
    assert code == 1
    failed = [c for c in report["checks"] if c["outcome"] == "failed"]
    assert failed and all(c["check"] == "checkpoint" for c in failed), failed
    assert any(tokens[-1].name in c["subject"] for c in failed)


def test_removing_the_newest_capture_is_caught_by_an_older_checkpoint(
        stamped: Custody, tmp_path: Path) -> None:
    """The forger removes the last capture everywhere and restores the ledger's previous
    signed checkpoint; only a checkpoint kept by a partner shows it."""
    kept = tmp_path / "kept"
    kept.write_text(stamped.ok("ledger", "checkpoint").stdout)
    newest = ids_of(stamped)[-1]
    manifests = stamped.root / "manifests"
    for path in manifests.glob(f"{newest}*"):
        path.unlink()
    leaves = manifests / "ledger" / "leaves"
    leaves.write_text("".join(leaves.read_text().splitlines(keepends=True)[:-1]))
    shutil.copy(manifests / "ledger" / "checkpoints" / "2", manifests / "ledger" / "checkpoint")
    (manifests / "ledger" / "checkpoints" / "3").unlink()  # and from the history
    import sqlite3

    with sqlite3.connect(stamped.root / "custody.db") as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        for table in ("documents", "failures", "resources"):
            conn.execute(f"DELETE FROM {table} WHERE capture_id = ?", [newest])
        conn.execute("DELETE FROM captures WHERE id = ?", [newest])
    result = stamped("verify", "--json", "--against", str(kept))
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    (consistency,) = checks(report, "consistency")
    assert consistency["outcome"] == "failed" and "removed" in consistency["detail"]


@pytest.mark.parametrize("kept_size", [3, 2])
@pytest.mark.parametrize("change", ["swap", "replace"])
def test_an_older_checkpoint_catches_a_ledger_reordered_or_changed(
        stamped: Custody, site: SiteServer, tmp_path: Path, kept_size: int, change: str) -> None:
    """The consistency proof itself must fail: the leaves reordered or one replaced, the
    tree the same size as the kept checkpoint's or larger."""
    kept = tmp_path / "kept"
    if kept_size == 3:
        kept.write_text(stamped.ok("ledger", "checkpoint").stdout)
    else:
        kept.write_text((stamped.root / "manifests" / "ledger" / "checkpoints" / "2").read_text())
    leaves = stamped.root / "manifests" / "ledger" / "leaves"
    lines = [line.split() for line in leaves.read_text().splitlines()]
    if change == "swap":
        lines[0][1:], lines[1][1:] = lines[1][1:], lines[0][1:]
    else:
        lines[1][2] = "00" * 32
    leaves.write_text("".join(" ".join(line) + "\n" for line in lines))
    result = stamped("verify", "--json", "--against", str(kept))
    assert result.exit_code == 1
    (consistency,) = checks(json.loads(result.stdout), "consistency")
    assert consistency["outcome"] == "failed", consistency
    assert "not those of the old checkpoint" in consistency["detail"] or \
        "extends" not in consistency["detail"]


def test_a_file_that_is_no_checkpoint_is_a_usage_error_not_a_failed_verify(
        stamped: Custody, tmp_path: Path) -> None:
    logged = len(json.loads(stamped.ok("log", "--json").stdout))
    for text in ("<html>a report</html>\n", "", "origin\n12\nnot base64!\n\n— sig\n"):
        wrong = tmp_path / "wrong.txt"
        wrong.write_text(text)
        result = stamped("verify", "--against", str(wrong))
        assert result.exit_code == 2 and "not a checkpoint" in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    assert len(json.loads(stamped.ok("log", "--json").stdout)) == logged  # nothing logged


def test_reordered_ledger_is_caught(stamped: Custody) -> None:
    leaves = stamped.root / "manifests" / "ledger" / "leaves"
    lines = leaves.read_text().splitlines(keepends=True)
    leaves.write_text(lines[1] + lines[0] + "".join(lines[2:]))
    code, report = stamped.verify()
    assert code == 1
    assert any(c["outcome"] == "failed" for c in checks(report, "ledger"))


# -- the custody log and key rotation -----------------------------------------------------------


def test_log_records_events(stamped: Custody) -> None:
    events = json.loads(stamped.ok("log", "--json").stdout)
    kinds = [e["event"] for e in events]
    assert kinds.count("captured") == 3
    stamped.ok("verify")
    events = json.loads(stamped.ok("log", "--json").stdout)
    assert events[-1]["event"] == "verified" and events[-1]["who"] == "tester@example.org"
    assert "capture_ids" not in events[-1]["details"]  # the whole archive
    named = ids_of(stamped)[0]
    stamped.ok("verify", named)
    events = json.loads(stamped.ok("log", "--json").stdout)
    assert events[-1]["details"]["capture_ids"] == [named]  # indexed as this capture's
    assert all(e["key"].startswith("SHA256:") for e in events)


def test_key_rotation_keeps_old_signatures_valid(stamped: Custody, site: SiteServer) -> None:
    old_ids = ids_of(stamped)
    out = stamped.ok("key", "rotate").stdout
    assert "retired" in out
    signers = (stamped.root / "allowed_signers").read_text().splitlines()
    assert len(signers) == 2
    assert "valid-before=" in signers[0] and "valid-after=" in signers[1]
    stamped.archive(site.url + "/labour.html", extra=("--no-requisites",))
    code, report = stamped.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
    fingerprints = {c["detail"].split()[-1] for c in checks(report, "signature")}
    assert len(fingerprints) == 2
    # ssh-keygen agrees, for the old key at the time it signed
    m = stamped.manifest(old_ids[0])
    when = dt.datetime.fromisoformat(m["started_at"].replace("Z", "+00:00"))
    ok = subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", "tester@example.org",
         "-n", "custody-manifest", "-s", f"manifests/{old_ids[0]}.json.sig",
         f"-Overify-time={when:%Y%m%d%H%M%S}"],
        cwd=stamped.root, input=(stamped.root / "manifests" / f"{old_ids[0]}.json").read_bytes(),
        capture_output=True)
    assert ok.returncode == 0, ok.stderr
    assert "key-rotated" in {e["event"] for e in json.loads(stamped.ok("log", "--json").stdout)}


# -- bundles ---------------------------------------------------------------------------------------


def _clean_env_tools(tmp_path: Path) -> dict[str, str]:
    """PATH with the system tools, and a warcio that runs without custody importable."""
    import six
    import warcio

    lib = tmp_path / "clean-lib"
    lib.mkdir()
    package = Path(warcio.__file__).parent
    shutil.copytree(package, lib / "warcio")
    for info in package.parent.glob("warcio-*.dist-info"):  # its CLI reads its own version
        shutil.copytree(info, lib / info.name)
    shutil.copy(six.__file__, lib / "six.py")
    python = Path(sys.base_prefix) / "bin" / "python3"
    shim = tmp_path / "clean-bin"
    shim.mkdir()
    (shim / "warcio").write_text(
        f"#!/bin/sh\nPYTHONPATH={lib} exec {python} -S -c "
        "'import sys; from warcio.cli import main; sys.exit(main())' \"$@\"\n")
    (shim / "warcio").chmod(0o755)
    (shim / "python3").symlink_to(python)
    return {"PATH": f"{shim}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}


def _run_verify_md(bundle: Path, env: dict[str, str], tsa: LocalTSA) -> list[tuple[str, int]]:
    """Run each command VERIFY.md gives, as written, in a clean environment."""
    text = (bundle / "VERIFY.md").read_text().replace("TSA-ROOT.pem", str(tsa.root_pem))
    results = []
    for command in verify_commands(text):
        if command.startswith("openssl ts -reply"):
            continue  # shows genTime; nothing to pass or fail
        proc = subprocess.run(["/bin/sh", "-c", command], cwd=bundle, env=env,
                              capture_output=True)
        results.append((command, proc.returncode))
    return results


def test_bundle_verifies_with_standard_tools_alone(stamped: Custody, tsa: LocalTSA,
                                                   tmp_path: Path) -> None:
    cid = ids_of(stamped)[1]
    out = tmp_path / "bundle"
    stamped.ok("bundle", cid, "-o", str(out))
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for name in ("manifest.json", "manifest.json.sig", "manifest.json.tsr", "tsa-roots.pem",
                 "allowed_signers", "SHA256SUMS", "checkpoint", "checkpoint.sig",
                 "inclusion-proof.json", "verify_inclusion.py", "VERIFY.md"):
        assert name in names, name
    assert any(n.endswith(".warc.gz") for n in names)
    env = _clean_env_tools(tmp_path)
    no_custody = subprocess.run(["python3", "-I", "-c", "import custody"], env=env,
                                capture_output=True)
    assert no_custody.returncode != 0  # custody cannot be imported here
    results = _run_verify_md(out, env, tsa)
    assert len(results) >= 6
    assert not [r for r in results if r[1]], [r for r in results if r[1]]
    assert "bundled" in {e["event"] for e in json.loads(stamped.ok("log", "--json").stdout)}


@pytest.mark.parametrize("target", ["manifest.json", "warc", "checkpoint", "inclusion-proof.json"])
def test_tampered_bundle_fails_standard_tools(stamped: Custody, tsa: LocalTSA, tmp_path: Path,
                                              target: str) -> None:
    out = tmp_path / "bundle"
    stamped.ok("bundle", ids_of(stamped)[0], "-o", str(out))
    if target == "warc":
        # a byte of a record's block (in the middle of the largest response's gzip
        # member): what warcio checks; a byte of a record's headers is sha256sum's alone
        path = next(out.rglob("*.warc.gz"))
        content = json.loads((out / "manifest.json").read_text())
        largest = max((r for r in content["records"] if r["type"] == "response"
                       and Path(r["warc_path"]).name == path.name), key=lambda r: r["length"])
        data = bytearray(path.read_bytes())
        data[largest["offset"] + largest["length"] // 2] ^= 1
        path.write_bytes(bytes(data))
    elif target == "inclusion-proof.json":
        proof = json.loads((out / target).read_text())
        proof["leaf_index"] = (proof["leaf_index"] + 1) % proof["tree_size"]
        (out / target).write_text(json.dumps(proof))
    else:
        path = out / target
        path.write_bytes(path.read_bytes().replace(b"\n", b"\n ", 1))
    env = _clean_env_tools(tmp_path)
    results = dict(_run_verify_md(out, env, tsa))
    failed = [command for command, code in results.items() if code != 0]
    assert any(c.startswith("sha256sum") for c in failed) or target == "inclusion-proof.json"
    if target == "manifest.json":
        assert any(c.startswith("ssh-keygen") and "custody-manifest" in c for c in failed)
        assert any(c.startswith("openssl ts -verify") for c in failed)
        assert any(c.startswith("python3 verify_inclusion.py") for c in failed)
    if target == "checkpoint":
        assert any("custody-checkpoint" in c for c in failed)
    if target == "inclusion-proof.json":
        assert any(c.startswith("python3 verify_inclusion.py") for c in failed)
    if target == "warc":
        assert any(c.startswith("warcio check") for c in failed)



def test_a_forged_warc_with_its_sums_made_again_fails_the_sealed_digests(
        stamped: Custody, tsa: LocalTSA, tmp_path: Path) -> None:
    """A record added to a WARC file with valid digests, and SHA256SUMS written again to
    match: every unsigned check passes; the step that takes the files' digests from the
    signed manifest fails it."""
    from warcio.warcwriter import WARCWriter

    out = tmp_path / "bundle"
    stamped.ok("bundle", ids_of(stamped)[0], "-o", str(out))
    path = next(out.rglob("*.warc.gz"))
    with open(path, "ab") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warc_record(
            "http://example.org/statement", "resource", payload=io.BytesIO(b"we confirm it"),
            warc_content_type="text/plain"))
    (out / "SHA256SUMS").write_text("".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out).as_posix()}\n"
        for p in sorted(out.rglob("*")) if p.is_file() and p.name != "SHA256SUMS"))
    failed = [c for c, code in _run_verify_md(out, _clean_env_tools(tmp_path), tsa) if code]
    assert failed == [SEALED_WARCS], failed


def test_a_token_whose_certificate_version_is_changed_fails_and_says_so(tsa: Any) -> None:
    """One byte of an embedded certificate's version (v3 made "v4") is a damaged token:
    verify fails it, with no traceback (a byte-flip run found cryptography raising
    InvalidVersion, which is no ValueError)."""
    import hashlib

    from cryptography import x509

    from custody.seal.timestamp import check_token, request_token

    message = b"a manifest"
    token = request_token(tsa.url, message)
    version = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT INTEGER 2: X.509 v3
    assert version in token
    damaged = token.replace(version, b"\xa0\x03\x02\x01\x03", 1)
    root = x509.load_pem_x509_certificate(tsa.root_pem.read_bytes())
    found = check_token(damaged, hashlib.sha256(message).digest(), [root])
    assert found.outcome == "failed" and "damaged" in found.detail, found
    assert check_token(token, hashlib.sha256(message).digest(), [root]).outcome == "passed"
