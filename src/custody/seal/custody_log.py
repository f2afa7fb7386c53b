"""The custody log: an append-only, signed record of what happened to the archive.

Each line is a JSON event -- captured, timestamped, verified, bundled, key-rotated --
with who, when and what, the sha256 of the line before it, and an Ed25519
signature by the archivist's key over the rest, so that an edited, removed or
reordered event shows.

Its end is signed too: after each event, ``log.head`` -- a signed note naming the log,
its length and its last line's sha256 -- so that cutting events off the end shows as
well; the ledger's checkpoints also name the log's length when they were signed, so a
removed head shows. An append reads nothing of the log: its number and the hash it
chains to come from what history.py keeps.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..core import faults, sshsig
from ..core.atomic import write_atomic
from ..core.errors import ArchiveError

if TYPE_CHECKING:
    from .history import History

HEAD = "log.head"


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
        from ..core.torn import tail_torn

        return tail_torn(self.path)

    def torn_problem(self) -> str | None:
        """None when the bytes after the last newline could be the start of one event, as
        a write interrupted there leaves them; else what they are: not to be cut."""
        from .torn_lines import log_tail_problem

        return log_tail_problem(self.path)

    def repair(self) -> None:
        """Cut a torn last event off (it was never written whole, so never signed whole);
        ArchiveError when what follows the last newline is anything else."""
        from ..core.torn import cut_torn

        problem = self.torn_problem()
        if problem is not None:
            raise ArchiveError(f"manifests/ledger/log.jsonl {problem}. Nothing is written "
                               "over it (`custody verify` says more)")
        cut_torn(self.path)

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    def reversed_lines(self) -> Iterator[bytes]:
        """The whole lines from the last to the first, read from the end in blocks (a
        torn last line is left out): what the newest events need, at any length."""
        from ..core.torn import tail_torn

        try:
            fh = open(self.path, "rb")  # noqa: SIM115 (closed below, as the reader stops)
        except FileNotFoundError:
            return
        with fh:
            position = fh.seek(0, 2) - tail_torn(self.path)
            rest = b""  # the start of a line whose beginning lies in an earlier block
            while position > 0:
                step = min(65536, position)
                position -= step
                fh.seek(position)
                lines = (fh.read(step) + rest).split(b"\n")
                rest = lines.pop(0)
                yield from (line for line in reversed(lines) if line)
            if rest:
                yield rest

    def reversed_entries(self) -> Iterator[dict[str, Any]]:
        for line in self.reversed_lines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield entry

    def tail(self, count: int) -> list[bytes]:
        """The last ``count`` whole lines, oldest first."""
        found: list[bytes] = []
        for line in self.reversed_lines():
            if len(found) >= count:
                break
            found.append(line)
        return found[::-1]

    def append(self, event: str, *, key: Ed25519PrivateKey, who: str,
               details: dict[str, Any], history: History | None = None) -> dict[str, Any]:
        """Append a signed event and sign the log's new head; ``history`` is the archive's
        kept state (opened here, and kept, when not given; the caller holds the sealing
        lock)."""
        from .history import History

        kept = history if history is not None else \
            History.open(self.path.parent.parent.parent, write=True)
        self.repair()
        entry = {
            "seq": kept.log.count + 1,
            "at": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "event": event,
            "who": who,
            "key": sshsig.fingerprint(key.public_key()),
            "details": details,
            "prev": kept.log.last_sha256,
        }
        entry["sig"] = base64.b64encode(key.sign(canonical(entry))).decode()
        line = canonical(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as fh:
            offset = fh.tell()
            fh.write(line + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        kept.event_appended(line, offset)
        faults.after("log.event")
        self.sign_head(kept, key=key, who=who)
        if history is None:
            kept.save()
        from .log_events import index_after_append

        index_after_append(self.path.parent.parent.parent)
        return entry

    def sign_head(self, history: History, *, key: Ed25519PrivateKey, who: str) -> None:
        """Write ``log.head``: the log's name, length and last line's sha256, signed."""
        from .ledger import Ledger
        from .note import key_name, sign_note

        self.refuse_if_cut(history)
        origin = Ledger(self.path.parent.parent).origin()
        text = sign_note(history.log_head_body(origin), key_name(who), key)
        write_atomic(self.path.with_name(HEAD), text.encode())
        faults.after("log.head")

    def refuse_if_cut(self, history: History) -> None:
        """ArchiveError when ``log.head`` names more of the log than it holds, or another
        last line at its length: events were removed or changed, and a head signed now
        would hide it (none yet, an archive of an earlier custody, is no refusal)."""
        from ..core.errors import ArchiveError

        try:
            text = self.path.with_name(HEAD).read_text()
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            raise ArchiveError(f"log.head cannot be read ({exc}): nothing is signed over it; "
                               "`custody verify` says what is wrong", where=str(self.path)) from exc
        lines = text.split("\n")
        try:
            count, last = int(lines[1]), base64.b64decode(lines[2], validate=True).hex()
        except (IndexError, ValueError) as exc:
            raise ArchiveError("log.head is not a signed head: nothing is signed over it; "
                               "`custody verify` says what is wrong",
                               where=str(self.path)) from exc
        held = history.log.count
        at_head = history.log.last_sha256 if count == held else None
        if count > held or (count == held and (at_head or "") != last):
            raise ArchiveError(
                f"the custody log's signed head names {count} events, and the log holds "
                f"{held}{'' if count > held else ' with another last event'}: events were "
                "removed or changed. Nothing is written over it (`custody verify` names what "
                "changed)", where=str(self.path))

    def head_is_current(self, history: History) -> bool:
        """Whether ``log.head`` names the log's length as it is (False: an append whose
        head was not signed, or no head yet)."""
        from .ledger import Ledger

        try:
            text = self.path.with_name(HEAD).read_text()
        except OSError:
            return False
        origin = Ledger(self.path.parent.parent).read_origin() or ""
        return text.startswith(history.log_head_body(origin) + "\n")

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
