"""The archive's archivists: its first key, the keys that key admits, and rotation.

Each change to who may sign is two writes under the archive's locks: the key's line in
allowed_signers, and the custody log event that proves the change was made by an
archivist -- ``key-added`` or ``key-rotated``, signed by an admitted key (trust.py reads
them back to decide which keys verify).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..core import allowed_signers, keyfile, sshsig
from ..core.archive import Archive, default_operator
from ..core.atomic import write_atomic
from ..core.errors import KeyProblem, UsageError
from .custody_log import CustodyLog
from .trust import check_signing_key


def found(archive: Archive, key: Ed25519PrivateKey, principal: str) -> bool:
    """A new archive's first key: into allowed_signers, and its `key-added` event, the
    custody log's first, makes it the root of trust. False when the key is an archivist
    already; KeyProblem when the archive has archivists and this key is not one."""
    public = key.public_key()
    if archive.principal_for(public) is not None:
        return False
    if allowed_signers.read_allowed_signers(archive.allowed_signers):
        raise KeyProblem(f"this archive has archivists, and {sshsig.fingerprint(public)} is "
                         "not one of them: one of them adds it with `custody key add`",
                         where=str(archive.root))
    with archive.lock(), archive.sealing():
        archive.add_signer(principal, public)
        CustodyLog(archive.manifests_dir).append(
            "key-added", key=key, who=principal,
            details={"key": sshsig.fingerprint(public), "principal": principal, "first": True})
    return True


def admit(archive: Archive, *, key: Ed25519PrivateKey, new: Ed25519PublicKey,
          operator: str) -> str:
    """Admit another archivist's key, signed by ``key`` (an admitted archivist's); the
    admitting principal."""
    principal = check_signing_key(archive, key.public_key())
    with archive.lock(), archive.sealing():
        if not archive.add_signer(operator, new):
            raise UsageError("that key is in allowed_signers already",
                             where=sshsig.fingerprint(new))
        CustodyLog(archive.manifests_dir).append(
            "key-added", key=key, who=principal,
            details={"key": sshsig.fingerprint(new), "principal": operator})
    return principal


def rotate(archive: Archive, key_path: Path, *, passphrase: bytes | None,
           old_passphrase: bytes | None) -> tuple[Ed25519PrivateKey, Ed25519PrivateKey, str]:
    """A new key at ``key_path``; the old one retired beside it and, in allowed_signers,
    valid only before now, so that what it signed still verifies and nothing new can; the
    `key-rotated` event, signed by the old key, admits the new one."""
    with archive.lock(), archive.sealing():
        old = keyfile.load_key(key_path, old_passphrase)
        check_signing_key(archive, old.public_key())  # a retired key rotates nothing
        principal = archive.principal_for(old.public_key()) or default_operator()
        now = datetime.now(UTC)
        stamp = allowed_signers.format_ssh_time(now)
        retired = key_path.with_name(f"{key_path.name}.retired-{stamp}")
        os.replace(key_path, retired)
        pub = key_path.with_name(key_path.name + ".pub")
        if pub.exists():
            os.replace(pub, retired.with_name(retired.name + ".pub"))
        new = keyfile.create_key(key_path, passphrase)
        old_blob = sshsig.public_key_blob(old.public_key())
        lines = []
        for signer in allowed_signers.read_allowed_signers(archive.allowed_signers):
            if sshsig.public_key_blob(signer.public_key) == old_blob \
                    and "valid-before" not in signer.options:
                signer = allowed_signers.AllowedSigner(
                    signer.principals, {**signer.options, "valid-before": stamp}, signer.public_key)
            lines.append(allowed_signers.format_signer(signer))
        lines.append(allowed_signers.format_signer(allowed_signers.AllowedSigner(
            (principal,), {"namespaces": sshsig.ARCHIVIST_NAMESPACES, "valid-after": stamp},
            new.public_key())))
        write_atomic(archive.allowed_signers, "".join(lines).encode())
        CustodyLog(archive.manifests_dir).append(
            "key-rotated", key=old, who=principal,
            details={"old": sshsig.fingerprint(old.public_key()),
                     "new": sshsig.fingerprint(new.public_key())})
        return old, new, principal
