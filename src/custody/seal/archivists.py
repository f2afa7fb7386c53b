"""The archive's archivists: its first key, the keys that key admits, and rotation.

Each change to who may sign is two writes under the archive's locks: the key's line in
allowed_signers, and the custody log event that proves the change was made by an
archivist -- ``key-added`` or ``key-rotated``, signed by an admitted key (trust.py reads
them back to decide which keys verify). An admission killed between the two is completed
by running it again; a rotation, which moves key files too, has a journal (rotation.py).
"""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..core import allowed_signers, faults, sshsig
from ..core.archive import Archive
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
        if not archive.add_signer(operator, new) and _admitted(archive, new):
            raise UsageError("that key is in allowed_signers already",
                             where=sshsig.fingerprint(new))
        # (in allowed_signers without its event: an admission a crash cut short, completed)
        faults.after("key.signer-line")
        CustodyLog(archive.manifests_dir).append(
            "key-added", key=key, who=principal,
            details={"key": sshsig.fingerprint(new), "principal": operator})
    return principal


def _admitted(archive: Archive, public: Ed25519PublicKey) -> bool:
    """Whether a key-added or key-rotated event admits the key (read from the lines the
    history keeps that can admit a key)."""
    from .history import History

    fingerprint = sshsig.fingerprint(public)
    for line in History.open(archive.root).key_lines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        details = entry.get("details") or {}
        if (entry.get("event"), details.get("key")) == ("key-added", fingerprint) or \
                (entry.get("event"), details.get("new")) == ("key-rotated", fingerprint):
            return True
    return False
