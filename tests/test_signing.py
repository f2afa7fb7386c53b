"""SSHSIG and keys, checked against the real ssh-keygen in both directions."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from custody.core import allowed_signers, keyfile, sshsig
from custody.core.errors import KeyProblem


def keygen(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:  # noqa: E501
    return subprocess.run(["ssh-keygen", *args], input=stdin, capture_output=True, cwd=cwd)


def test_ssh_keygen_verifies_custody_signatures(tmp_path: Path) -> None:
    key = keyfile.create_key(tmp_path / "k")
    message = "manifest bytes, ünïcode and all\n".encode()
    (tmp_path / "m").write_bytes(message)
    (tmp_path / "m.sig").write_text(sshsig.sign(key, message, "custody-manifest"))
    (tmp_path / "signers").write_text(
        allowed_signers.allowed_signers_line("me@example.org", key.public_key(),
                                             "custody-manifest"))
    ok = keygen("-Y", "verify", "-f", "signers", "-I", "me@example.org", "-n", "custody-manifest",
                "-s", "m.sig", stdin=message, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    bad = keygen("-Y", "verify", "-f", "signers", "-I", "me@example.org", "-n", "custody-manifest",
                 "-s", "m.sig", stdin=message + b"x", cwd=tmp_path)
    assert bad.returncode != 0
    other_ns = keygen("-Y", "verify", "-f", "signers", "-I", "me@example.org", "-n", "file",
                      "-s", "m.sig", stdin=message, cwd=tmp_path)
    assert other_ns.returncode != 0


def test_custody_verifies_ssh_keygen_signatures(tmp_path: Path) -> None:
    key = keyfile.create_key(tmp_path / "k")
    (tmp_path / "m").write_bytes(b"hello")
    made = keygen("-Y", "sign", "-f", str(tmp_path / "k"), "-n", "custody-manifest",
                  str(tmp_path / "m"))
    assert made.returncode == 0, made.stderr
    sig = sshsig.parse_signature((tmp_path / "m.sig").read_text())
    assert sig.namespace == "custody-manifest"
    assert sig.verifies(b"hello") and not sig.verifies(b"hellO")
    assert sshsig.public_key_blob(sig.public_key) == sshsig.public_key_blob(key.public_key())


def test_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    key = keyfile.create_key(tmp_path / "k")
    listed = keygen("-l", "-f", str(tmp_path / "k.pub")).stdout.decode()
    assert sshsig.fingerprint(key.public_key()) == listed.split()[1]


def test_key_file_is_private_and_passphrase_protected(tmp_path: Path) -> None:
    path = tmp_path / "k"
    keyfile.create_key(path, b"correct horse")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert keyfile.key_is_encrypted(path)
    with pytest.raises(KeyProblem, match="passphrase"):
        keyfile.load_key(path)
    keyfile.load_key(path, b"correct horse")
    # ssh-keygen reads it with the same passphrase: it is a standard OpenSSH key
    assert keygen("-y", "-P", "correct horse", "-f", str(path)).returncode == 0
    os.chmod(path, 0o644)
    with pytest.raises(KeyProblem, match="readable by others"):
        keyfile.load_key(path, b"correct horse")


def test_allowed_signers_with_options_parse(tmp_path: Path) -> None:
    key = keyfile.create_key(tmp_path / "k")
    line = sshsig.public_key_line(key.public_key())
    options = 'namespaces="custody-manifest,file",valid-after="20260101"'
    (tmp_path / "s").write_text(f"# comment\nalice@x,bob@x {options} {line}\n")
    (signer,) = allowed_signers.read_allowed_signers(tmp_path / "s")
    assert signer.principals == ("alice@x", "bob@x")
    assert signer.allows_namespace("file") and not signer.allows_namespace("git")
    assert signer.options["valid-after"] == "20260101"


def test_a_security_key_reads_and_prints_as_ssh_keygen_does(tmp_path: Path) -> None:
    from cryptography.exceptions import InvalidSignature

    from custody.core.skkey import SkEd25519PublicKey
    from custody.testing.softtoken import SoftToken

    token = SoftToken(tmp_path, application=b"ssh:custody")
    pub = tmp_path / "sk.pub"
    pub.write_text(token.line + " desk\n")
    printed = keygen("-lf", str(pub)).stdout.decode().split()
    assert printed[1] == sshsig.fingerprint(token.public) and printed[-1] == "(ED25519-SK)"
    read = sshsig.parse_public_key_line(pub.read_text())
    assert isinstance(read, SkEd25519PublicKey) and read == token.public
    assert read.application == b"ssh:custody"
    # a signature over a message, as the token makes it, and one with its flags changed
    signed = token.sign(b"message")
    raw = signed[-(64 + 5 + 4):]
    assert read.verify(raw[4:], b"message") is None
    bad = raw[4:68] + bytes([raw[68] ^ 0x04]) + raw[69:]
    with pytest.raises(InvalidSignature):
        read.verify(bad, b"message")
