"""What the capture stage adds to recovery (custody.seal.recovery): its crawls.

Sealing's recovery completes every interrupted seal from the journal; a crawl is the one
kind of seal it cannot start again by itself, since the manifest is made from the crawl's
working state. ``CrawlSeals`` gives it that: a crawl whose manifest was never renamed is
sealed afresh from its state (which holds every record), and one whose manifest was has
its working folder removed, or kept for ``--resume`` when URLs were left.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..core.archive import Archive
from ..seal import journal, manifest
from ..seal import recovery as sealing_recovery
from .completion import Result, complete, crawls_dir, finish_state, result_of
from .state import CrawlState


class CrawlSeals:
    def __init__(self, archive: Archive, key: Ed25519PrivateKey,
                 collector: dict[str, Any]) -> None:
        self.archive = archive
        self.key = key
        self.collector = collector

    def _state_path(self, entry: journal.Entry) -> Path | None:
        return crawls_dir(self.archive) / entry.crawl / "state.db" if entry.crawl else None

    def finish(self, entry: journal.Entry, path: Path) -> list[str]:
        state_path = self._state_path(entry)
        if state_path is None or not state_path.exists():
            return []
        state = CrawlState(state_path)
        if state.meta("sealed_as") == entry.capture_id:
            state.close()
            return []
        content = manifest.read(path).content or {}
        left = content.get("frontier_left") or 0
        finish_state(state, sealed_as=entry.capture_id,
                     left=left if content.get("status") == "interrupted" else 0)
        return ["its crawl state"]

    def reseal(self, entry: journal.Entry) -> Result | None:
        state_path = self._state_path(entry)
        found = CrawlState(state_path) if state_path is not None and state_path.exists() \
            else None
        if found is None:
            return None
        if found.meta("capture_id") != entry.capture_id:
            found.close()
            return None
        return complete(self.archive, found, key=self.key, collector=self.collector)


def recover(archive: Archive, *, key: Ed25519PrivateKey,
            collector: dict[str, Any]) -> list[Result]:
    """Complete every interrupted seal, crawls included; the captures completed, each
    with a note saying so."""
    done = sealing_recovery.recover(archive, key=key, principal=collector["operator"],
                                    crawls=CrawlSeals(archive, key, collector))
    results = []
    for found in done:
        if isinstance(found.result, Result):
            found.result.notes.insert(0, found.note)
            results.append(found.result)
        elif found.path is not None:
            results.append(result_of(found.path, [found.note]))
    return results


def reindex(archive: Archive, *, key: Ed25519PrivateKey | None
            ) -> tuple[int, list[Result], list[str]]:
    """Complete interrupted seals (with the archivist's key at hand), then rebuild custody.db
    from the manifests and WARC files alone; the captures indexed, those completed, and
    notes (a database that could not be read, set aside)."""
    from ..core.errors import KeyProblem
    from ..seal.collector import collector_of
    from ..seal.reindex import rebuild

    with archive.lock():
        recovered: list[Result] = []
        damaged = _set_aside_if_damaged(archive)
        if key is not None:
            recovered = recover(archive, key=key, collector=collector_of(archive, key))
        elif journal.pending(archive):
            raise KeyProblem("a capture's sealing was interrupted, and completing it needs "
                             "the archivist's key (CUSTODY_KEY)", where=str(archive.root))
        tmp = archive.root / ".custody.db.rebuild"
        tmp.unlink(missing_ok=True)
        count = rebuild(archive, tmp)
        with archive.sealing():
            os.replace(tmp, archive.db_path)
        return count, recovered, [damaged] if damaged else []


def _set_aside_if_damaged(archive: Archive) -> str | None:
    """custody.db renamed custody.db.damaged when SQLite cannot read it (cut short,
    overwritten): the rebuild makes a new one, and completing a seal first has a database
    to index it in. What was done, for a note; None when the database reads well."""
    import sqlite3

    from ..index.query import read_value

    path = archive.db_path
    if not path.exists():
        return None
    try:
        verdict = read_value(path, "PRAGMA quick_check(1)")
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
    if verdict == "ok":
        return None
    aside = path.with_name(path.name + ".damaged")
    for number in range(2, 1000):  # an earlier damaged copy is kept too
        if not aside.exists():
            break
        aside = path.with_name(f"{path.name}.damaged-{number}")
    os.replace(path, aside)
    return f"custody.db could not be read ({verdict}): kept as {aside.name}, and made again"
