"""The sealing journal: which captures are between the end of their crawl and sealed whole.

A capture's end is a sequence of durable writes (the WARC file's rename, the manifest
and what vouches for it, the ledger, the log, the database; see completion.py). Before
the first of them custody writes ``.custody/sealing/<capture-id>.json``, naming the
crawl's working folder, and removes it after the last. A journal entry left behind says
that a process died in between: the next ``custody archive``, ``--resume`` or
``reindex`` completes that capture from where it stopped, and ``verify`` meanwhile
reports what is still to be done as notes, not as tampering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import fsync_dir, write_atomic

if TYPE_CHECKING:
    from .archive import Archive


@dataclass(frozen=True)
class Entry:
    capture_id: str
    crawl: str  # the crawl's folder under .custody/crawls/

    @property
    def path(self) -> str:
        return f".custody/sealing/{self.capture_id}.json"


def folder(archive: Archive) -> Path:
    return archive.root / ".custody" / "sealing"


def begin(archive: Archive, capture_id: str, crawl: str) -> None:
    path = folder(archive) / f"{capture_id}.json"
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps({"capture_id": capture_id, "crawl": crawl}) + "\n").encode())


def end(archive: Archive, capture_id: str) -> None:
    path = folder(archive) / f"{capture_id}.json"
    if path.exists():
        path.unlink()
        fsync_dir(path.parent)


def pending(archive: Archive) -> list[Entry]:
    """The captures whose sealing is not complete, by capture id."""
    from .capture_ids import check_capture_id
    from .errors import UsageError

    entries = []
    for path in sorted(folder(archive).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entry = Entry(str(data["capture_id"]), str(data["crawl"]))
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
