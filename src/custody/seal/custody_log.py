"""The custody log: an append-only, signed record of what happened to the archive.

Each line is a JSON event -- captured, timestamped, verified, bundled, key-rotated --
with who, when and what, the sha256 of the line before it, and an Ed25519
signature by the archivist's key over the rest, so that an edited, removed or
reordered event shows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..core import sshsig


def canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class LogProblem:
    line: int
    detail: str


class CustodyLog:
    def __init__(self, manifests_dir: Path) -> None:
        self.path = manifests_dir / "ledger" / "log.jsonl"

    def _split(self) -> tuple[list[bytes], int]:
        """The complete lines, and the bytes of a last line an interrupted append left
        without its newline."""
        if not self.path.exists():
            return [], 0
        data = self.path.read_bytes()
        cut = data.rfind(b"\n") + 1
        return [line for line in data[:cut].split(b"\n") if line], len(data) - cut

    def lines(self) -> list[bytes]:
        return self._split()[0]

    def torn(self) -> int:
        """Bytes of a last event cut short by an interrupted write (0: none)."""
        return self._split()[1]

    def repair(self) -> None:
        """Cut a torn last event off (it was never written whole, so never signed whole)."""
        torn = self.torn()
        if torn:
            with open(self.path, "r+b") as fh:
                fh.truncate(self.path.stat().st_size - torn)
                os.fsync(fh.fileno())

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    def append(self, event: str, *, key: Ed25519PrivateKey, who: str,
               details: dict[str, Any]) -> dict[str, Any]:
        self.repair()
        lines = self.lines()
        entry = {
            "seq": len(lines) + 1,
            "at": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "event": event,
            "who": who,
            "key": sshsig.fingerprint(key.public_key()),
            "details": details,
            "prev": hashlib.sha256(lines[-1]).hexdigest() if lines else None,
        }
        entry["sig"] = base64.b64encode(key.sign(canonical(entry))).decode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as fh:
            fh.write(canonical(entry) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        return entry

    def check(self, keys: dict[str, Ed25519PublicKey]) -> list[LogProblem]:
        """Every line signed by a known key, numbered in order, chained to the one before."""
        problems = []
        previous: bytes | None = None
        for number, line in enumerate(self.lines(), start=1):
            try:
                entry = json.loads(line)
                signature = base64.b64decode(entry.pop("sig"))
            except (ValueError, KeyError) as exc:
                problems.append(LogProblem(number, f"unreadable entry ({exc})"))
                previous = line
                continue
            if entry.get("seq") != number:
                problems.append(LogProblem(number, f"numbered {entry.get('seq')}, is {number}"))
            want = hashlib.sha256(previous).hexdigest() if previous is not None else None
            if entry.get("prev") != want:
                problems.append(LogProblem(number, "does not follow the entry before it"))
            public = keys.get(entry.get("key", ""))
            if public is None:
                problems.append(LogProblem(number, f"signed by unknown key {entry.get('key')}"))
            else:
                try:
                    public.verify(signature, canonical(entry))
                except InvalidSignature:
                    problems.append(LogProblem(number, "signature does not match the entry"))
            previous = line
        return problems
