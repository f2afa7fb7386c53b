"""Which keys may sign for an archive: allowed_signers, with each key's admission proven.

A line in allowed_signers proves nothing by itself: anyone who can write to the
archive folder can add one. custody's trust model:

- The archive's root of trust is the key that signed the custody log's first event
  (``custody init`` writes it: ``key-added``, the key admitting itself). A partner
  compares that key's fingerprint with one obtained from the archivist directly.
- Every other key is admitted by a signed event in the custody log: ``key-added``
  (``custody key add``) or ``key-rotated`` (``custody key rotate``), signed by a key
  already admitted at that point of the log.
- A key's lines in allowed_signers still bound what it may sign: its namespaces, and
  its validity window (valid-after, valid-before) at the time the manifest was sealed.

verify fails every signature -- manifest, checkpoint, log event -- by a key whose
admission the log does not prove; without a custody log no admission can be proven,
and signatures are reported unchecked.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core import allowed_signers, sshsig

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from .history import History

ADMITTING_EVENTS = {"key-added": "key", "key-rotated": "new"}


@dataclass
class Admission:
    """The keys the custody log admits, by fingerprint, with how each was admitted."""

    keys: dict[str, str] = field(default_factory=dict)  # fingerprint -> how it was admitted
    since: dict[str, int] = field(default_factory=dict)  # fingerprint -> the line admitting it
    have_log: bool = False
    # log lines validly signed by a key that was not admitted when they were written
    unadmitted_lines: dict[int, str] = field(default_factory=dict)

    def admits(self, fingerprint: str) -> bool:
        return fingerprint in self.keys

    def why_not(self, fingerprint: str) -> str:
        if not self.have_log:
            return (f"{fingerprint} is in allowed_signers, but with no custody log its "
                    "admission cannot be proven")
        return (f"{fingerprint} is in allowed_signers, but no key-added or key-rotated event "
                "in the custody log, signed by an admitted key, admits it")


def admitted(log_lines: list[bytes], signers: list[allowed_signers.AllowedSigner]) -> Admission:
    """Walk the custody log in order: the signer of its first event is the root of trust;
    each admitting event signed (validly) by an admitted key admits the key it names."""
    return admitted_by(enumerate(log_lines, start=1), signers)


def admitted_by(numbered: Iterable[tuple[int, bytes]],
                signers: list[allowed_signers.AllowedSigner]) -> Admission:
    """``admitted`` over the log's lines given with their numbers: all of them (verify),
    or only those that can admit a key (the first, key-added, key-rotated: what
    history.py keeps for writers), which admit the same keys."""
    from cryptography.exceptions import InvalidSignature

    from .custody_log import canonical

    keys = {sshsig.fingerprint(s.public_key): s.public_key for s in signers}
    result = Admission()
    for number, line in numbered:
        result.have_log = True
        try:
            entry: dict[str, Any] = json.loads(line)
            signature = base64.b64decode(entry.pop("sig"))
            signer = str(entry.get("key", ""))
        except (ValueError, KeyError, TypeError):
            continue
        public = keys.get(signer)
        if public is None:
            continue
        try:
            public.verify(signature, canonical(entry))
        except InvalidSignature:
            continue
        if number == 1:
            result.keys.setdefault(signer, "signed the custody log's first event")
            result.since.setdefault(signer, 1)
        if not result.admits(signer):
            result.unadmitted_lines[number] = signer
            continue
        event = entry.get("event")
        if event in ADMITTING_EVENTS:
            new = (entry.get("details") or {}).get(ADMITTING_EVENTS[event])
            if isinstance(new, str) and new not in result.keys:
                result.keys[new] = f"{event} at log line {number}, signed by {signer}"
                result.since[new] = number
    return result


def admission_of(manifests_dir: Path, signers: list[allowed_signers.AllowedSigner]) -> Admission:
    """From the whole log (verify's reading)."""
    from .custody_log import CustodyLog

    return admitted(CustodyLog(manifests_dir).lines(), signers)


def admission_kept(history: History, signers: list[allowed_signers.AllowedSigner]) -> Admission:
    """From the lines that can admit a key, where history.py found them (a writer's
    reading: it costs the keys' events, not the log)."""
    numbers = [number for number, _, _ in history.log.key_lines]
    return admitted_by(zip(numbers, history.key_lines(), strict=True), signers)


def check_signing_key(archive: Any, public: Any) -> str:
    """The principal the archivist's key signs as; KeyProblem, before anything is fetched,
    when what it signed could never verify: the key is not in allowed_signers, the log
    does not admit it, or its validity window there is closed."""
    from datetime import UTC, datetime

    from ..core.errors import KeyProblem

    fp = sshsig.fingerprint(public)
    blob = sshsig.public_key_blob(public)
    signers = allowed_signers.read_allowed_signers(archive.allowed_signers)
    lines = [s for s in signers if sshsig.public_key_blob(s.public_key) == blob
             and s.allows_namespace(sshsig.MANIFEST_NAMESPACE)]
    how = ("if the archive is yours, `custody init --operator NAME` adds the first key; "
           "otherwise an archivist of this archive adds yours with `custody key add`, or, "
           "if it replaces theirs, `custody key rotate` with the old key")
    if (archive.root / ".custody" / "rotating.json").exists():  # (rotation.JOURNAL)
        how = "a key rotation was interrupted: run `custody key rotate` again to complete it"
    if not lines:
        raise KeyProblem(f"the signing key {fp} is not in allowed_signers, so nothing it "
                         f"signs would verify: {how}", where=str(archive.root))
    if not any(allowed_signers.valid_at(s, datetime.now(UTC)) for s in lines):
        raise KeyProblem(f"the signing key {fp} is outside its validity in allowed_signers "
                         "(retired by `custody key rotate`?): " + (
                             how if "interrupted" in how else "sign with the current key"),
                         where=str(archive.root))
    from .history import History

    admission = admission_kept(History.open(archive.root), signers)
    if admission.have_log and not admission.admits(fp):
        raise KeyProblem(f"{admission.why_not(fp)}, so nothing it signs would verify: {how}",
                         where=str(archive.root))
    return lines[0].principals[0]
