"""A case package's events: the custody log's lines about the case, as the log holds them,
and what lets a partner check them with standard tools alone.

``events/events.jsonl`` holds the lines byte for byte; ``events/places.json`` where each
lies in the archive's log (its number, offset, length and sha256) and the log's signed
head at the time of the export (``events/log.head``). Each event's Ed25519 signature is
laid out for ``openssl pkeyutl -verify``: ``signed/N.msg`` the exact bytes the key
signed (the line without its signature, as canonical JSON; for a security key, what its
token signed over them), ``signed/N.sig`` the signature, ``signed/N.pem`` the key; the
head's likewise. ``check_events.py`` (standard library only) holds each of those files to
the lines and to allowed_signers, so that openssl's "Signature Verified Successfully" is
about the lines themselves; and checks the chain between lines that follow each other.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from ..annotate.caselog import LoggedEvent
from ..core import sshsig
from ..seal.custody_log import canonical
from ..seal.note import key_id

_SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")  # DER of an Ed25519 public key


def pem_of(raw: bytes) -> bytes:
    """An Ed25519 public key's 32 bytes as a PEM public key (SubjectPublicKeyInfo), as
    openssl writes it."""
    b64 = base64.b64encode(_SPKI_ED25519 + raw).decode()
    return f"-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n".encode()


def _signed_by(public: Any, message: bytes, signature: bytes) -> tuple[bytes, bytes]:
    """What openssl checks for a signature by this key over ``message``: the bytes the
    Ed25519 key signed, and its 64-byte signature."""
    if sshsig.key_type(public) == sshsig.SK_KEY_TYPE:
        application = public.application
        flags, counter = signature[64], int.from_bytes(signature[65:69], "big")
        return (hashlib.sha256(application).digest() + bytes([flags])
                + counter.to_bytes(4, "big") + hashlib.sha256(message).digest(),
                signature[:64])
    return message, signature


def write_events(folder: Path, events: list[LoggedEvent], head: str,
                 keys: dict[str, Any]) -> list[str]:
    """Write ``events/`` and ``check_events.py`` into ``folder``; the files, relative to
    it. ``keys``: the archive's keys by fingerprint (allowed_signers)."""
    out = folder / "events"
    (out / "signed").mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def put(name: str, data: bytes) -> None:
        (folder / name).write_bytes(data)
        written.append(name)

    put("events/events.jsonl", b"".join(e.line + b"\n" for e in events))
    for event in events:
        entry = event.entry
        signature = base64.b64decode(entry.pop("sig"))
        public = keys.get(str(entry.get("key")))
        if public is None:
            continue  # check_events.py says the key is not in allowed_signers
        message, raw = _signed_by(public, canonical(entry), signature)
        stem = f"events/signed/{event.seq:08d}"
        put(f"{stem}.msg", message)
        put(f"{stem}.sig", raw)
        put(f"{stem}.pem", pem_of(public.public_bytes_raw()))
    count, last = _head_numbers(head)
    put("events/log.head", head.encode())
    body, _, signatures = head.partition("\n\n")
    for line in signatures.splitlines()[:1]:
        name, blob = line.split(" ")[1], base64.b64decode(line.split(" ")[2])
        for public in keys.values():
            if blob[:4] == key_id(name, public):
                message, raw = _signed_by(public, (body + "\n").encode(), blob[4:])
                put("events/log.head.msg", message)
                put("events/log.head.sig", raw)
                put("events/log.head.pem", pem_of(public.public_bytes_raw()))
    places = {"log": "manifests/ledger/log.jsonl",
              "events": [{"seq": e.seq, "offset": e.offset, "length": len(e.line),
                          "sha256": e.sha256} for e in events],
              "head": {"count": count, "last_sha256": last}}
    put("events/places.json", (json.dumps(places, indent=2) + "\n").encode())
    put("check_events.py", SCRIPT.encode())
    return written


def _head_numbers(head: str) -> tuple[int, str]:
    lines = head.partition("\n\n")[0].split("\n")
    return int(lines[1]), base64.b64decode(lines[2]).hex()


SCRIPT = r'''#!/usr/bin/env python3
"""Check a custody case package's events. Standard library only.

    python3 check_events.py

For each line of events/events.jsonl: that it is the line events/places.json names (its
number, length and sha256), numbered so itself; that a line which follows another in the
log is chained to it (its "prev" is that line's sha256); that the key it names is in
allowed_signers; and that events/signed/N.pem is that key, N.msg exactly the bytes it
signed (the line without "sig", as canonical JSON; for a security key, what its token
signs over them) and N.sig the signature in the line -- so that openssl, which then
checks N.sig over N.msg with N.pem (VERIFY.md), checks the line itself. And that
events/log.head, the log's signed head when the package was made, names at least the
package's last event (its sha256, when it is the log's last), with log.head.msg, .sig and
.pem laid out the same way. Exits 0 when all of it holds, 1 saying what does not.
"""

import base64
import hashlib
import json
import sys
from pathlib import Path

SK = b"sk-ssh-ed25519@openssh.com"
SPKI = bytes.fromhex("302a300506032b6570032100")


def canonical(entry):
    return json.dumps(entry, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()


def field(blob, at):
    size = int.from_bytes(blob[at:at + 4], "big")
    return blob[at + 4:at + 4 + size], at + 4 + size


def keys_of(path):
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        for token in line.split():
            if not token.startswith("AAAA"):
                continue
            try:
                blob = base64.b64decode(token, validate=True)
                kind, at = field(blob, 0)
                raw, at = field(blob, at)
            except ValueError:
                continue
            application = field(blob, at)[0] if kind == SK else b""
            name = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode()
            found[name.rstrip("=")] = (kind, raw, application, blob)
    return found


def pem(raw):
    b64 = base64.b64encode(SPKI + raw).decode()
    return f"-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n".encode()


def signed(key, message, signature):
    kind, raw, application, _ = key
    if kind == SK:
        return (hashlib.sha256(application).digest() + signature[64:69]
                + hashlib.sha256(message).digest(), signature[:64])
    return message, signature


def same(path, data, problems, what):
    try:
        if Path(path).read_bytes() != data:
            problems.append(f"{path} is not {what}")
    except OSError:
        problems.append(f"{path} is missing ({what})")


def main():
    problems = []
    keys = keys_of(Path("allowed_signers"))
    places = json.loads(Path("events/places.json").read_text(encoding="utf-8"))
    lines = Path("events/events.jsonl").read_bytes().split(b"\n")[:-1]
    if len(lines) != len(places["events"]):
        problems.append(f"{len(lines)} lines, places.json names {len(places['events'])}")
    previous = None
    for line, place in zip(lines, places["events"]):
        seq = place["seq"]
        entry = json.loads(line)
        if entry.get("seq") != seq or len(line) != place["length"] or \
                hashlib.sha256(line).hexdigest() != place["sha256"]:
            problems.append(f"event {seq}: not the line places.json names")
        if previous is not None and previous[0] + 1 == seq and \
                entry.get("prev") != hashlib.sha256(previous[1]).hexdigest():
            problems.append(f"event {seq}: not chained to event {previous[0]}")
        previous = (seq, line)
        signature = base64.b64decode(entry.pop("sig"))
        key = keys.get(entry.get("key"))
        if key is None:
            problems.append(f"event {seq}: signed by {entry.get('key')}, not in allowed_signers")
            continue
        message, raw = signed(key, canonical(entry), signature)
        stem = f"events/signed/{seq:08d}"
        same(stem + ".msg", message, problems, f"what event {seq} signed")
        same(stem + ".sig", raw, problems, f"event {seq}'s signature")
        same(stem + ".pem", pem(key[1]), problems, f"the key of event {seq}")
    head = Path("events/log.head").read_text(encoding="utf-8")
    body, _, notes = head.partition("\n\n")
    count, digest = int(body.split("\n")[1]), base64.b64decode(body.split("\n")[2]).hex()
    if places["head"] != {"count": count, "last_sha256": digest}:
        problems.append("places.json does not name the head log.head is")
    last = places["events"][-1] if places["events"] else None
    if last is not None and count < last["seq"]:
        problems.append(f"the head names {count} events, fewer than event {last['seq']}")
    if last is not None and count == last["seq"] and digest != last["sha256"]:
        problems.append(f"the head's last event is not event {last['seq']}")
    name, blob = notes.split("\n")[0].split(" ")[1], base64.b64decode(notes.split()[2])
    for key in keys.values():
        kind = b"\xff" + key[3] if key[0] == SK else b"\x01" + key[1]
        if hashlib.sha256(name.encode() + b"\n" + kind).digest()[:4] == blob[:4]:
            message, raw = signed(key, (body + "\n").encode(), blob[4:])
            same("events/log.head.msg", message, problems, "what the head's key signed")
            same("events/log.head.sig", raw, problems, "the head's signature")
            same("events/log.head.pem", pem(key[1]), problems, "the head's key")
            break
    else:
        problems.append("the head is not signed by a key of allowed_signers")
    for problem in problems:
        print("FAILED:", problem)
    if problems:
        return 1
    print(f"{len(lines)} events: each the line places.json names, signed by a key of "
          f"allowed_signers, laid out for openssl; the head names {count} events")
    if last is not None and count > last["seq"]:
        print(f"(the log went on for {count - last['seq']} more events, of other matters, "
              "before the head: their chain is checked against the archive's log itself)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''
