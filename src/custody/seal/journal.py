"""The sealing journal: which captures are between the start of their seal and sealed whole.

A seal is a sequence of durable writes (for a crawl, the WARC file's rename; then the
manifest and what vouches for it, the ledger, the log, the database; see sealing.py).
Before the first of them custody writes ``.custody/sealing/<capture-id>.json``, naming
what is being sealed -- a crawl's working folder, or an imported file's copy -- and
removes it after the last. An entry left behind says that a process died in between:
the next command that writes completes that seal from where it stopped
(recovery.py), reading the entries and nothing else, and ``verify`` meanwhile reports
what is still to be done as notes, not as tampering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.atomic import fsync_dir, write_atomic

if TYPE_CHECKING:
    from ..core.archive import Archive

CAPTURE, IMPORT = "capture", "import"


@dataclass(frozen=True)
class Entry:
    capture_id: str
    crawl: str  # a capture's: its crawl's folder under .custody/crawls/
    kind: str = CAPTURE
    source: str = ""  # an import's: the file imported (its copy is under archive/imported/)

    @property
    def path(self) -> str:
        return f".custody/sealing/{self.capture_id}.json"


def folder(archive: Archive) -> Path:
    return archive.root / ".custody" / "sealing"


def begin(archive: Archive, capture_id: str, crawl: str = "", *, kind: str = CAPTURE,
          source: str = "") -> None:
    path = folder(archive) / f"{capture_id}.json"
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"capture_id": capture_id, "crawl": crawl, "kind": kind, "source": source}
    write_atomic(path, (json.dumps(entry) + "\n").encode())


def end(archive: Archive, capture_id: str) -> None:
    path = folder(archive) / f"{capture_id}.json"
    if path.exists():
        path.unlink()
        fsync_dir(path.parent)


def pending(archive: Archive) -> list[Entry]:
    """The captures whose sealing is not complete, by capture id."""
    from ..core.capture_ids import check_capture_id
    from ..core.errors import UsageError

    entries = []
    for path in sorted(folder(archive).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entry = Entry(str(data["capture_id"]), str(data["crawl"]),
                          str(data.get("kind") or CAPTURE), str(data.get("source") or ""))
        except (OSError, ValueError, KeyError, TypeError):
            entry = Entry(path.stem, "")  # unreadable: the name still says which
        try:
            check_capture_id(entry.capture_id)
            if entry.crawl:
                check_capture_id(entry.crawl)
        except UsageError:
            continue  # not a journal entry custody wrote
        entries.append(entry)
    return entries
