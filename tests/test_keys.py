"""Keys and signers: who may sign for an archive, and how each key's admission is proven.

The trust model (trust.py): the key that signed the custody log's first event is the
root; any other key is admitted by a key-added or key-rotated event signed by an
admitted key; allowed_signers' namespaces and validity windows bound each key.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import Custody, capture_id_of
from custody.capture.run import start
from custody.capture.settings import Settings
from custody.core import allowed_signers, keyfile, sshsig
from custody.core.archive import Archive
from custody.testing.site import SiteServer
from test_cli import one_line_error
from test_evidence import _clean_env_tools, _run_verify_md


def failed(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if c["outcome"] == "failed"]


def forged_capture(custody: Custody, key_path: Path, url: str) -> str:
    """A capture sealed with the key at ``key_path``, as an attacker with write access to
    the archive folder would make one: custody's library, without the CLI's key check."""
    key = keyfile.load_key(key_path)
    result = start(Archive.open(custody.root), [url], key=key, settings=Settings())
    return result.capture_id


def test_archive_refuses_a_key_not_in_allowed_signers(custody: Custody, site: SiteServer,
                                                      tmp_path: Path) -> None:
    other = tmp_path / "other" / "id_ed25519"
    keyfile.create_key(other)
    before = len(site.requests)
    result = Custody(custody.root, other)("archive", site.url + "/en.html")
    assert result.exit_code == 4
    message = one_line_error(result.output)
    assert "not in allowed_signers" in message and "custody key add" in message
    assert len(site.requests) == before  # refused before anything was fetched
    assert not list((custody.root / "manifests").glob("*.json"))


def test_a_key_slipped_into_allowed_signers_signs_nothing_that_verifies(
        custody: Custody, site: SiteServer, tmp_path: Path) -> None:
    custody.archive(site.url + "/en.html")
    kept = tmp_path / "kept"
    kept.write_text(custody.ok("ledger", "checkpoint").stdout)
    intruder = tmp_path / "intruder" / "id_ed25519"
    key = keyfile.create_key(intruder)
    with open(custody.root / "allowed_signers", "a") as fh:  # no key-added event
        fh.write(allowed_signers.allowed_signers_line("tester@example.org", key.public_key(),
                                              sshsig.ARCHIVIST_NAMESPACES))
    refused = Custody(custody.root, intruder)("archive", site.url + "/ru.html")
    assert refused.exit_code == 4 and "admits it" in refused.output
    forged = forged_capture(custody, intruder, site.url + "/ru.html")
    for args in ((), ("--against", str(kept))):
        result = custody("verify", "--json", *args)
        report = json.loads(result.stdout)
        assert result.exit_code == 1
        bad = failed(report)
        assert any(c["check"] == "signature" and c["capture_id"] == forged
                   and "admits it" in c["detail"] for c in bad), bad
        assert any(c["check"] == "log" and "not admitted" in c["detail"] for c in bad)
        assert any(c["check"] == "checkpoint" for c in bad)


def test_a_key_added_by_an_archivist_is_admitted(custody: Custody, site: SiteServer,
                                                 tmp_path: Path) -> None:
    colleague = tmp_path / "colleague" / "id_ed25519"
    keyfile.create_key(colleague)
    pub = colleague.with_name("id_ed25519.pub")
    added = custody("key", "add", str(pub), "--operator", "B. Researcher <br@example.org>")
    assert added.exit_code == 0, added.output
    theirs = Custody(custody.root, colleague)
    theirs.archive(site.url + "/en.html")
    custody.archive(site.url + "/ru.html")
    code, report = custody.verify()
    assert code == 0, failed(report)
    principals = {c["detail"].rsplit(" ", 1)[0] for c in report["checks"]
                  if c["check"] == "signature"}
    assert principals == {"tester@example.org", "B. Researcher <br@example.org>"}
    # the intruder cannot admit a key: key add needs an archivist's key
    intruder = tmp_path / "intruder" / "id_ed25519"
    keyfile.create_key(intruder)
    again = Custody(custody.root, intruder)("key", "add", str(pub), "--operator", "x@y")
    assert again.exit_code == 4


def test_a_retired_key_signs_nothing_new(stamped: Custody, site: SiteServer) -> None:
    stamped.ok("key", "rotate")
    retired = next(stamped.key.parent.glob("id_ed25519.retired-*[0-9Z]"))
    refused = Custody(stamped.root, retired)("archive", site.url + "/en.html")
    assert refused.exit_code == 4 and "validity" in refused.output
    forged = forged_capture(stamped, retired, site.url + "/en.html")
    code, report = stamped.verify()
    assert code == 1
    assert any(c["check"] == "signature" and c["capture_id"] == forged
               and "outside its validity" in c["detail"] for c in failed(report))


def test_a_key_whose_namespaces_leave_out_manifests_signs_none(sealed: Custody) -> None:
    path = sealed.root / "allowed_signers"
    path.write_text(path.read_text().replace(f'namespaces="{sshsig.ARCHIVIST_NAMESPACES}"',
                                             'namespaces="custody-checkpoint"'))
    code, report = sealed.verify()
    assert code == 1
    assert any(c["check"] == "signature" and "namespaces" in c["detail"]
               for c in failed(report)), failed(report)


@pytest.mark.parametrize("operator", ["A. Investigator <ai@example.org>",
                                      "مریم احمدی <maryam@example.org>", "Анна Петрова",
                                      "Seán O'Brien", "#hash at the start"])
def test_operator_names_that_ssh_keygen_reads_back(tmp_path: Path, site: SiteServer,
                                                   operator: str, tsa: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = Custody(tmp_path / "evidence", tmp_path / "keys" / "id_ed25519")
    runner.ok("init", "--no-tsa", "--operator", operator)
    (signer,) = allowed_signers.read_allowed_signers(runner.root / "allowed_signers")
    assert signer.principals == (operator,)
    runner.archive(site.url + "/en.html", extra=("--no-requisites",))
    code, report = runner.verify()
    assert code == 0, failed(report)
    cid = capture_id_of(runner)
    manifest = runner.root / "manifests" / f"{cid}.json"
    ok = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", operator,
                         "-n", "custody-manifest", "-s", str(manifest) + ".sig"],
                        cwd=runner.root, input=manifest.read_bytes(), capture_output=True)
    assert ok.returncode == 0, ok.stderr
    out = tmp_path / "bundle"
    runner.ok("bundle", cid, "-o", str(out))
    results = _run_verify_md(out, _clean_env_tools(tmp_path), tsa)
    assert not [r for r in results if r[1]], results


@pytest.mark.parametrize("operator", ['A. "Sam" Investigator', "a,b", "wild*card", "new\nline"])
def test_operator_names_ssh_keygen_cannot_carry_are_refused(tmp_path: Path, operator: str,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = Custody(tmp_path / "evidence", tmp_path / "keys" / "id_ed25519")
    result = runner("init", "--no-tsa", "--operator", operator)
    assert result.exit_code == 2
    assert "ssh-keygen" in one_line_error(result.output)


def test_a_key_inside_the_archive_folder_is_refused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = Custody(tmp_path / "evidence", tmp_path / "evidence" / "keys" / "id_ed25519")
    result = runner("init", "--no-tsa", "--operator", "t@example.org")
    assert result.exit_code == 4
    assert "inside the archive folder" in one_line_error(result.output)
    assert not (tmp_path / "evidence" / "keys" / "id_ed25519").exists()


def test_a_wrong_passphrase_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("CUSTODY_KEY_PASSPHRASE", "right horse battery")
    runner = Custody(tmp_path / "evidence", tmp_path / "keys" / "id_ed25519")
    runner.ok("init", "--no-tsa", "--operator", "t@example.org", "--passphrase")
    monkeypatch.setenv("CUSTODY_KEY_PASSPHRASE", "wrong horse")
    result = runner("archive", "http://127.0.0.1:9/")
    assert result.exit_code == 4
    assert "wrong passphrase" in one_line_error(result.output)


@pytest.fixture
def agent(tmp_path: Path) -> Any:
    """A real ssh-agent on a socket of its own, holding one new ssh-ed25519 key whose
    private file is then deleted: custody can only sign through the agent."""
    import os
    import time

    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        key = tmp_path / "agent_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "held by the agent",
                        "-f", str(key)], check=True)
        env = dict(os.environ, SSH_AUTH_SOCK=str(sock))
        subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, capture_output=True)
        key.unlink()  # the private key is in the agent only
        listed = subprocess.run(["ssh-keygen", "-lf", str(key) + ".pub"], check=True,
                                capture_output=True, text=True).stdout.split()[1]
        yield sock, listed, (key.with_name("agent_key.pub")).read_text().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def agent_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sock: Path,
              fingerprint: str) -> tuple[Path, dict[str, str], Any]:
    """The archive folder, the environment (CUSTODY_KEY names the agent's key) and a
    function running custody's commands in it, with SSH_AUTH_SOCK at ``sock``."""
    from click.testing import CliRunner

    from custody.cli import main

    monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    root = tmp_path / "evidence"
    env = {"CUSTODY_ROOT": str(root), "CUSTODY_KEY": f"agent:{fingerprint}"}

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return root, env, run


def test_signing_with_a_key_held_by_ssh_agent(tmp_path: Path, site: SiteServer, agent: Any,
                                              monkeypatch: pytest.MonkeyPatch, tsa: Any) -> None:
    sock, fingerprint, public_line = agent
    root, env, run = agent_cli(tmp_path, monkeypatch, sock, fingerprint)
    operator = "A. Investigator <ai@example.org>"
    made = run("init", "--no-tsa", "--operator", operator)
    assert made.exit_code == 0 and "in ssh-agent" in made.output, made.output
    assert public_line.split()[1] in (root / "allowed_signers").read_text()
    shown = run("key", "show").output
    assert shown.startswith(" ".join(public_line.split()[:2])) and fingerprint in shown
    archived = run("archive", "--json", "--no-requisites", site.url + "/en.html")
    assert archived.exit_code == 0, archived.output
    verified = run("verify", "--json")
    assert verified.exit_code == 0, verified.output
    cid = json.loads(archived.stdout)["capture_id"]
    manifest = root / "manifests" / f"{cid}.json"
    ok = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", operator,
                         "-n", "custody-manifest", "-s", str(manifest) + ".sig"],
                        cwd=root, input=manifest.read_bytes(), capture_output=True)
    assert ok.returncode == 0, ok.stderr
    out = tmp_path / "bundle"
    assert run("bundle", cid, "-o", str(out)).exit_code == 0
    results = _run_verify_md(out, _clean_env_tools(tmp_path), tsa)
    assert not [r for r in results if r[1]], results
    assert not list((tmp_path / "config").rglob("id_ed25519*"))  # no key file was made

    # a key the agent does not hold, and no agent at all: one line, exit 4
    env["CUSTODY_KEY"] = "agent:SHA256:" + "A" * 43
    missing = run("archive", site.url + "/en.html")
    assert missing.exit_code == 4 and "ssh-agent holds no ssh-ed25519 key" in missing.output
    env["CUSTODY_KEY"] = f"agent:{fingerprint}"
    monkeypatch.delenv("SSH_AUTH_SOCK")
    gone = run("archive", site.url + "/en.html")
    assert gone.exit_code == 4 and "SSH_AUTH_SOCK" in gone.output, gone.output


def test_signing_with_a_security_key_that_an_agent_speaks_for(
        tmp_path: Path, site: SiteServer, monkeypatch: pytest.MonkeyPatch, tsa: Any) -> None:
    """An sk-ssh-ed25519 key (its token in software: no FIDO hardware here) signs every
    manifest, log event and checkpoint through the agent; custody verify and the real
    ssh-keygen -Y verify accept what it signed, and a changed counter or flag fails both."""
    import base64
    import struct

    from custody.testing.softtoken import SoftToken

    with SoftToken(tmp_path) as token:
        root, _, run = agent_cli(tmp_path, monkeypatch, token.socket, token.fingerprint)
        operator = "Rights Desk <desk@example.org>"
        made = run("init", "--no-tsa", "--operator", operator)
        assert made.exit_code == 0, made.output
        assert token.line.split()[1] in (root / "allowed_signers").read_text()
        archived = run("archive", "--json", "--no-requisites", site.url + "/en.html")
        assert archived.exit_code == 0, archived.output
        assert token.signatures >= 3  # the manifest, the log, the checkpoint
        verified = run("verify", "--json")
        assert verified.exit_code == 0, verified.output
        cid = json.loads(archived.stdout)["capture_id"]
        (signed,) = [c for c in json.loads(verified.stdout)["checks"]
                     if c["check"] == "signature" and cid in c["subject"]]
        assert "security key: touched" in signed["detail"], signed
        manifest = root / "manifests" / f"{cid}.json"
        sig = manifest.with_name(manifest.name + ".sig")
        checkpoint = root / "manifests" / "ledger" / "checkpoint"

        def keygen_verifies(path: Path, signature: Path, namespace: str) -> bool:
            done = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", "allowed_signers",
                                   "-I", operator, "-n", namespace, "-s", str(signature)],
                                  cwd=root, input=path.read_bytes(), capture_output=True)
            return done.returncode == 0 and b"ED25519-SK" in done.stdout + done.stderr

        assert keygen_verifies(manifest, sig, "custody-manifest")
        assert keygen_verifies(checkpoint, checkpoint.with_name("checkpoint.sig"),
                               "custody-checkpoint")
        # the token's counter (the signature's last four bytes), one higher: both refuse it
        armored = sig.read_text()
        body = base64.b64decode("".join(armored.strip().splitlines()[1:-1]))
        counter = struct.unpack(">I", body[-4:])[0]
        forged = body[:-4] + struct.pack(">I", counter + 1)
        text = base64.b64encode(forged).decode()
        sig.write_text("-----BEGIN SSH SIGNATURE-----\n" + "\n".join(
            text[i : i + 70] for i in range(0, len(text), 70)) + "\n-----END SSH SIGNATURE-----\n")
        assert not keygen_verifies(manifest, sig, "custody-manifest")
        refused = run("verify", "--json")
        assert refused.exit_code == 1
        failed = [c for c in json.loads(refused.stdout)["checks"] if c["outcome"] == "failed"]
        assert any(c["check"] == "signature" and cid in c["subject"] for c in failed), failed
        sig.write_text(armored)
        assert run("verify").exit_code == 0
        # the bundle checks with the standard tools alone, as VERIFYING.md says
        out = tmp_path / "bundle"
        assert run("bundle", cid, "-o", str(out)).exit_code == 0
        results = _run_verify_md(out, _clean_env_tools(tmp_path), tsa)
        assert not [r for r in results if r[1]], results
