"""Rotating an archivist's key so that a crash at any step is completed, not stranded.

A rotation changes four things: the custody log (a ``key-rotated`` event, signed by the
old key, admits the new one), allowed_signers (the old key valid only before now, the
new one after), and two key files (the old one retired beside the key, the new one in
its place). Killed between two of them, the archivist would be left with a key nothing
admits, or with none. So the new key is made first under a temporary name, and a
journal (``.custody/rotating.json``) names every step's target before any is taken;
each step is then done only if it is not done already, and running ``custody key
rotate`` again completes an interrupted rotation instead of starting another.

    key.new       the new key written at KEY.new (and .pub)
    key.journal   the journal written: from here the rotation completes
    key.event     the key-rotated event in the custody log
    key.signers   allowed_signers rewritten
    key.retired   the old key file moved to KEY.retired-STAMP
    key.swap      the new key moved to KEY
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..core import allowed_signers, faults, keyfile, sshsig
from ..core.archive import Archive, default_operator
from ..core.atomic import write_atomic
from .custody_log import CustodyLog
from .history import History
from .trust import check_signing_key

JOURNAL = Path(".custody") / "rotating.json"


@dataclass
class Rotated:
    old: str  # the retired key's fingerprint
    new: Ed25519PublicKey
    principal: str
    completed: bool  # an interrupted rotation completed, not a new one


def journal_path(archive: Archive) -> Path:
    return archive.root / JOURNAL


def interrupted(archive: Archive) -> bool:
    return journal_path(archive).exists()


def rotate(archive: Archive, key_path: Path, *, passphrase: bytes | None,
           old_passphrase: bytes | None) -> Rotated:
    """Rotate the key at ``key_path`` (or complete the rotation a crash interrupted)."""
    with archive.lock(), archive.sealing():
        plan = _read(archive)
        completed = plan is not None
        if plan is None:
            plan = _begin(archive, key_path, passphrase, old_passphrase)
        _finish(archive, plan, old_passphrase)
        return Rotated(plan["old"], sshsig.parse_public_key_line(plan["new_public"]),
                       plan["principal"], completed)


def _read(archive: Archive) -> dict[str, Any] | None:
    try:
        plan = json.loads(journal_path(archive).read_text())
    except FileNotFoundError:
        return None
    return plan if isinstance(plan, dict) else None


def _begin(archive: Archive, key_path: Path, passphrase: bytes | None,
           old_passphrase: bytes | None) -> dict[str, Any]:
    old = keyfile.load_key(key_path, old_passphrase)
    check_signing_key(archive, old.public_key())  # a retired key rotates nothing
    principal = archive.principal_for(old.public_key()) or default_operator()
    # allowed_signers' times are whole seconds: the old key retires at the next one, so
    # that what it signed in this second stays valid (the rotation waits for it, below)
    stamp = allowed_signers.format_ssh_time(
        datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1))
    new_path = key_path.with_name(key_path.name + ".new")
    for leftover in (new_path, _pub(new_path), new_path.with_name(new_path.name + ".tmp")):
        leftover.unlink(missing_ok=True)  # a rotation killed before its journal: unrecorded
    new = keyfile.create_key(new_path, passphrase)
    faults.after("key.new")
    plan = {"key": str(key_path), "new_key": str(new_path),
            "retired": str(key_path.with_name(f"{key_path.name}.retired-{stamp}")),
            "stamp": stamp, "principal": principal,
            "old": sshsig.fingerprint(old.public_key()),
            "old_public": sshsig.public_key_line(old.public_key()),
            "new": sshsig.fingerprint(new.public_key()),
            "new_public": sshsig.public_key_line(new.public_key())}
    journal_path(archive).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(journal_path(archive), json.dumps(plan, indent=2).encode())
    faults.after("key.journal")
    return plan


def _finish(archive: Archive, plan: dict[str, Any], old_passphrase: bytes | None) -> None:
    key_path, new_path, retired = Path(plan["key"]), Path(plan["new_key"]), Path(plan["retired"])
    if not _logged(archive, plan["new"]):
        old = _old_key(key_path, retired, plan["old"], old_passphrase)
        CustodyLog(archive.manifests_dir).append(
            "key-rotated", key=old, who=plan["principal"],
            details={"old": plan["old"], "new": plan["new"]})
    faults.after("key.event")
    _rewrite_signers(archive, plan)
    faults.after("key.signers")
    if new_path.exists():  # the key file still the old one (or already moved aside)
        if key_path.exists():  # (its .pub first: once the key is gone, nothing moves it)
            if _pub(key_path).exists():
                os.replace(_pub(key_path), _pub(retired))
            os.replace(key_path, retired)
        faults.after("key.retired")
        if _pub(new_path).exists():
            os.replace(_pub(new_path), _pub(key_path))
        os.replace(new_path, key_path)
    faults.after("key.swap")
    wait = (allowed_signers.parse_ssh_time(plan["stamp"]) - datetime.now(UTC)).total_seconds()
    if wait > 0:  # the new key is valid from the stamp on
        time.sleep(wait)
    journal_path(archive).unlink()


def _old_key(key_path: Path, retired: Path, fingerprint: str,
             passphrase: bytes | None) -> Ed25519PrivateKey:
    """The old key, wherever the rotation left it (it signs the key-rotated event)."""
    for path in (key_path, retired):
        if path.exists():
            key = keyfile.load_key(path, passphrase)
            if sshsig.fingerprint(key.public_key()) == fingerprint:
                return key
    from ..core.errors import KeyProblem

    raise KeyProblem(f"the rotation of {fingerprint} was interrupted and its key is gone: "
                     "it cannot be completed", where=str(key_path))


def _logged(archive: Archive, new_fingerprint: str) -> bool:
    """Whether the log holds the event that admits the new key (read from the lines the
    history keeps that can admit a key, not the whole log)."""
    for line in History.open(archive.root).key_lines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "key-rotated" and \
                (entry.get("details") or {}).get("new") == new_fingerprint:
            return True
    return False


def _rewrite_signers(archive: Archive, plan: dict[str, Any]) -> None:
    old_blob = sshsig.public_key_blob(sshsig.parse_public_key_line(plan["old_public"]))
    new_public = sshsig.parse_public_key_line(plan["new_public"])
    new_blob = sshsig.public_key_blob(new_public)
    signers = allowed_signers.read_allowed_signers(archive.allowed_signers)
    if any(sshsig.public_key_blob(s.public_key) == new_blob for s in signers):
        return  # rewritten already
    lines = []
    for signer in signers:
        if sshsig.public_key_blob(signer.public_key) == old_blob \
                and "valid-before" not in signer.options:
            signer = allowed_signers.AllowedSigner(
                signer.principals, {**signer.options, "valid-before": plan["stamp"]},
                signer.public_key)
        lines.append(allowed_signers.format_signer(signer))
    lines.append(allowed_signers.format_signer(allowed_signers.AllowedSigner(
        (plan["principal"],),
        {"namespaces": sshsig.ARCHIVIST_NAMESPACES, "valid-after": plan["stamp"]}, new_public)))
    write_atomic(archive.allowed_signers, "".join(lines).encode())


def _pub(path: Path) -> Path:
    return path.with_name(path.name + ".pub")
