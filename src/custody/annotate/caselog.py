"""A case's events, as the custody log holds them: the lines themselves and where they lie,
for a case package to carry as evidence.

They are the case's own events (created, renamed, closed, captures added and removed),
and, for each capture it holds, the events about that capture a court needs: its seal
(``captured`` or ``imported``), its later timestamps, its tags, its notes, less those
written for another case, and the changes a watch found between it and another capture.
Found through custody.db's index of the log, and each line read from the log and held to
the sha256 the index kept for it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..core.archive import Archive
from ..core.errors import ArchiveError
from ..seal.log_events import placed_events
from .recording import reading

CAPTURE_EVENTS = ("captured", "imported", "timestamped", "tagged", "untagged", "note-added",
                  "note-retracted", "watch-changed")


@dataclass(frozen=True)
class LoggedEvent:
    seq: int
    offset: int  # of the line in manifests/ledger/log.jsonl
    line: bytes  # without its newline

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.line).hexdigest()

    @property
    def entry(self) -> dict[str, Any]:
        found = json.loads(self.line)
        return found if isinstance(found, dict) else {}


def case_log(archive: Archive, case_id: str) -> list[LoggedEvent]:
    """The case's events in the log's order (ArchiveError when the log does not hold the
    lines custody.db indexed: verify says why)."""
    with reading(archive) as conn:
        seqs = {r[0] for r in conn.execute(
            "SELECT seq FROM case_events WHERE case_id = ?", [case_id])}
        marks = ", ".join("?" * len(CAPTURE_EVENTS))
        seqs |= {r[0] for r in conn.execute(
            "SELECT e.seq FROM case_captures cc JOIN log_event_captures x ON x.capture_id = "
            f"cc.capture_id JOIN log_events e ON e.seq = x.seq WHERE cc.case_id = ? AND "
            f"e.event IN ({marks})", [case_id, *CAPTURE_EVENTS])}
        others = set()
        for seq, retracted in conn.execute(
                "SELECT seq, retracted_seq FROM notes WHERE case_id IS NOT NULL AND "
                "case_id != ?", [case_id]):
            others |= {seq, retracted}
    wanted = sorted(seqs - others)
    found = placed_events(archive.root, wanted) if wanted else {}
    if len(found) != len(wanted):
        raise ArchiveError("the custody log does not hold the events custody.db indexed "
                           "for this case (run custody verify)", where=case_id)
    return [LoggedEvent(e.seq, e.offset, e.line) for e in (found[s] for s in wanted)]


def log_head(archive: Archive) -> str:
    """The log's signed head as it is (ArchiveError without one: an archive of an earlier
    custody, whose next write signs it)."""
    path = archive.manifests_dir / "ledger" / "log.head"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ArchiveError("the custody log has no signed head yet", where=str(path)) from exc
