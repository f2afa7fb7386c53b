"""SSHSIG and keys, checked against the real ssh-keygen in both directions."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

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


# -- the SSH wire format, read from what anyone can edit -------------------------------


def armored(blob: bytes) -> str:
    import base64

    return ("-----BEGIN SSH SIGNATURE-----\n" + base64.b64encode(blob).decode()
            + "\n-----END SSH SIGNATURE-----\n")


def sshsig_blob(tmp_path: Path, *, token: bool = False) -> tuple[bytes, bytes]:
    """A real signature's bytes (by ssh-keygen, or by a security key through its agent),
    and the message it signs."""
    import base64

    message = b"manifest bytes"
    if token:
        from custody.testing.softtoken import SoftToken

        soft = SoftToken(tmp_path)
        raw = soft.sign(sshsig._signed_data(__import__("hashlib").sha512(message).digest(),
                                            "custody-manifest"))
        from custody.core.sshwire import Reader, string, uint32

        fields = Reader(raw)
        fields.string()
        ed25519, rest = fields.string(), fields.rest()
        blob = (b"SSHSIG" + uint32(1) + string(soft.public.blob())
                + string(b"custody-manifest") + string(b"") + string(b"sha512")
                + string(sshsig.signature_blob(sshsig.SK_KEY_TYPE, ed25519 + rest)))
        return blob, message
    keyfile.create_key(tmp_path / "k")
    (tmp_path / "m").write_bytes(message)
    keygen("-Y", "sign", "-f", str(tmp_path / "k"), "-n", "custody-manifest", str(tmp_path / "m"))
    text = (tmp_path / "m.sig").read_text()
    body = "".join(text.strip().splitlines()[1:-1])
    return base64.b64decode(body), message


def length_fields(blob: bytes, start: int, end: int) -> list[int]:
    """Where each SSH string's length is, in the strings from ``start`` to ``end`` and in
    those a string holds wholly (a key blob, a signature blob)."""
    found, at = [], start
    while at + 4 <= end:
        size = int.from_bytes(blob[at : at + 4], "big")
        if at + 4 + size > end:
            break
        found.append(at)
        inner = length_fields(blob, at + 4, at + 4 + size)
        if inner and size > 8:
            found += inner
        at += 4 + size
    return found


@pytest.mark.parametrize("token", [False, True], ids=["ed25519", "security-key"])
def test_every_cut_stretch_and_flip_of_a_signature_is_a_value_error(tmp_path: Path,
                                                                    token: bool) -> None:
    import random

    from custody.core.sshwire import WireError

    blob, message = sshsig_blob(tmp_path, token=token)
    assert sshsig.parse_signature(armored(blob)).verifies(message)
    for cut in range(len(blob)):  # every truncation, SSHSIG + fewer than 4 bytes among them
        with pytest.raises(ValueError):
            sshsig.parse_signature(armored(blob[:cut]))
    with pytest.raises(WireError, match="unexpected bytes"):
        sshsig.parse_signature(armored(blob + b"\0"))
    # every length field claiming more than there is, or absurdly much
    lengths = length_fields(blob, 10, len(blob))
    assert len(lengths) == (5 + 3 + 2 if token else 5 + 2 + 2), lengths
    for at in lengths:
        for claim in (len(blob), 0xFFFFFFFF, 0x7FFFFFFF):
            stretched = blob[:at] + claim.to_bytes(4, "big") + blob[at + 4 :]
            with pytest.raises(WireError):
                sshsig.parse_signature(armored(stretched))
    rng = random.Random(27)
    for _ in range(2000):  # random bytes changed: read, or refused, never a crash
        changed = bytearray(blob)
        for _ in range(rng.randint(1, 4)):
            changed[rng.randrange(len(changed))] = rng.randrange(256)
        try:
            parsed = sshsig.parse_signature(armored(bytes(changed)))
        except ValueError:
            continue
        parsed.verifies(message)


def test_a_security_key_signature_of_the_wrong_size_is_a_wire_error() -> None:
    from custody.core.skkey import split
    from custody.core.sshwire import WireError

    assert split(bytes(64) + b"\x01" + (7).to_bytes(4, "big")) == (bytes(64), 1, 7)
    for size in (0, 64, 65, 68, 70):
        with pytest.raises(WireError):
            split(bytes(size))


def test_a_truncated_signature_is_a_failed_row_in_verify(sealed: Any) -> None:
    from conftest import capture_id_of

    path = sealed.root / "manifests" / f"{capture_id_of(sealed)}.json.sig"
    for blob in (b"SSHSIG", b"SSHSIG\0\0", b"SSHSIG\0\0\0\x01\xff\xff\xff\xff"):
        path.write_text(armored(blob))
        result = sealed("verify")
        assert result.exit_code == 1, result.output
        row = next(line for line in result.output.splitlines()
                   if line.startswith("FAILED") and path.name in line)
        assert "not a usable SSH signature" in row, row
        assert "truncated" in row or "claims 4294967295 bytes" in row, row
        assert "Traceback" not in result.output


def test_an_agent_that_answers_garbage_is_a_key_problem(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers cut short, overlong or of the wrong shape, from a socket that speaks the
    agent's framing: one KeyProblem each, never a struct.error or an IndexError."""
    import socket
    import threading

    from custody.core.agent import agent_key
    from custody.core.sshwire import string, uint32

    answers = [
        b"\x0c",  # the identities answer without its count
        b"\x0c" + uint32(3) + string(b"\0\0\0\x0bssh-ed25519"),  # three keys, one half there
        b"\x0c" + uint32(1) + uint32(0xFFFFFFF0),  # a key blob longer than the message
        b"",  # an empty message
    ]
    sock_path = tmp_path / "agent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen()

    def serve() -> None:
        for answer in [*answers, None]:
            conn, _ = server.accept()
            with conn:
                conn.recv(1024)
                if answer is None:
                    conn.sendall(uint32(1 << 30))  # a gigabyte announced
                else:
                    conn.sendall(string(answer))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setenv("SSH_AUTH_SOCK", str(sock_path))
    for _ in range(len(answers) + 1):
        with pytest.raises(KeyProblem):
            agent_key("SHA256:" + "A" * 43)
    thread.join(5)
    server.close()
