"""Completing what a crash interrupted, before a command writes anything new.

Every command that seals or writes to the log first calls ``recover`` under the writer's
lock. It reads the sealing journal (journal.py) and nothing else of the history: each
entry names a seal that did not finish.

- Its manifest exists: only the steps after the manifest's rename are left, each done
  only if it is not done (sealing.publish: the leaf, the checkpoint, the log event),
  then its rows in the database, then what the kind of seal leaves to finish (a crawl's
  working folder: ``Crawls.finish``). The manifest is never written again.
- It does not: nothing was sealed. What the interrupted seal wrote beside the manifest's
  temporary name is discarded; a crawl is sealed afresh from its working state
  (``Crawls.reseal``, which captures hold every record of), an import's copy removed
  (the file is imported again when asked).

Then what any writer may have left: a torn last line of the ledger or the log (cut
off: never signed whole), a checkpoint behind the leaves (signed), a log head behind
the log (signed), a database lacking captures (its count of captures, compared with the
ledger's size, says so at the cost of one query: only then is every manifest read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import journal, manifest
from .custody_log import CustodyLog
from .history import History
from .ledger import Ledger
from .sealing import discard_unsealed, publish

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..core.archive import Archive


@dataclass
class Recovered:
    capture_id: str
    path: Path | None  # the manifest, when the capture is sealed
    note: str
    result: Any = None  # what Crawls.reseal gave, for a crawl sealed afresh
    steps: list[str] = field(default_factory=list)


class Crawls(Protocol):
    """What the capture stage does for its own seals: recovery knows the journal and the
    seal, not crawls."""

    def finish(self, entry: journal.Entry, path: Path) -> list[str]:
        """After a sealed capture's later steps: its crawl's working folder (removed, or
        kept for --resume); what was done, for the note."""
        ...

    def reseal(self, entry: journal.Entry) -> Any | None:
        """Seal afresh, from its working state, a crawl whose manifest was never renamed
        (the caller holds the writer's lock, not the sealing lock); None when it has no
        working state to seal from."""
        ...


def recover(archive: Archive, *, key: Ed25519PrivateKey, principal: str,
            crawls: Crawls | None) -> list[Recovered]:
    """Complete every interrupted seal, then what any writer may have left; what was
    completed, each with a note. Without ``crawls`` (a command that cannot capture), a
    crawl whose seal must start again is left in the journal for one that can."""
    done = []
    for entry in journal.pending(archive):
        found = _complete(archive, entry, key, principal, crawls)
        if found is not None:
            done.append(found)
    with archive.sealing():
        history = History.open(archive.root, write=True)
        heal(archive, history, key=key, principal=principal)
    return done


def _complete(archive: Archive, entry: journal.Entry, key: Ed25519PrivateKey, principal: str,
              crawls: Crawls | None) -> Recovered | None:
    capture_id = entry.capture_id
    path = manifest.manifest_path(archive.manifests_dir, capture_id)
    if path.exists():
        with archive.sealing():
            history = History.open(archive.root, write=True)
            steps = publish(archive, history, capture_id, key=key, principal=principal)
            if entry.kind == journal.IMPORT and log_imported(archive, history, path, key=key,
                                                             principal=principal):
                steps.append("its `imported` event")
            if index_rows(archive, path):
                steps.append("its database rows")
            if entry.kind == journal.CAPTURE and crawls is not None:
                steps += crawls.finish(entry, path)
            journal.end(archive, capture_id)
        what = ", ".join(steps) or "nothing left to do"
        return Recovered(capture_id, path, f"completed the sealing of {capture_id}, "
                         f"interrupted after its manifest was written ({what})", steps=steps)
    if entry.kind == journal.CAPTURE and crawls is not None:
        with archive.sealing():
            discard_unsealed(archive, capture_id)
        result = crawls.reseal(entry)
        if result is not None:
            return Recovered(capture_id, None, f"completed the sealing of {capture_id}, "
                             "interrupted before its manifest was written", result)
    elif entry.kind == journal.CAPTURE:
        return None  # a command that captures seals it afresh
    with archive.sealing():  # nothing to seal it from: it never was sealed
        discard_unsealed(archive, capture_id)
        if entry.kind == journal.IMPORT:
            _remove_copy(archive, capture_id)
        journal.end(archive, capture_id)
    what = "import" if entry.kind == journal.IMPORT else "capture"
    return Recovered(capture_id, None, f"the {what} {capture_id} was interrupted before its "
                     "manifest was written: nothing of it was sealed, and what it left is "
                     "removed")


def log_imported(archive: Archive, history: History, path: Path, *, key: Ed25519PrivateKey,
                 principal: str) -> bool:
    """An import's `imported` event (what was imported, from where, the check's verdict,
    the records), after its `captured` one, unless the log holds it; whether it was
    written. Its details are the manifest's, so recovery writes what the import would."""
    sealed = manifest.read_head(path)  # its head: the records are not read
    item = (sealed.head.get("imported") or [{}])[0]
    log = CustodyLog(archive.manifests_dir)
    for entry in log.reversed_entries():
        details = entry.get("details") or {}
        if details.get("capture_id") != sealed.capture_id:
            continue
        if entry.get("event") == "imported":
            return False
        if entry.get("event") == "captured":
            break  # the imported event comes after it: not there
    details = {"capture_id": sealed.capture_id, "source": item.get("source"),
               "verdict": (item.get("check") or {}).get("status"),
               "records": item.get("records_listed")}
    if item.get("overlap"):
        details["overlap"] = item["overlap"]
    log.append("imported", key=key, who=principal, details=details, history=history)
    history.save()
    return True


def publish_unfinished(archive: Archive, history: History, *, key: Ed25519PrivateKey,
                       principal: str) -> list[str]:
    """Publish, in chain order, the manifests the journal names that the ledger lacks: a
    writer that died between a manifest's rename and its leaf. With many writers
    (custody.queue) the next seal may be another's, which must not come before it; a
    live writer holds the seal lock from before its rename to its leaf, so under the
    lock every such manifest is a dead writer's. The capture ids published."""
    from .sealing import in_ledger

    found = []
    for entry in journal.pending(archive):
        path = manifest.manifest_path(archive.manifests_dir, entry.capture_id)
        if path.exists():
            sealed = manifest.read_head(path)
            if not in_ledger(archive, history, sealed):
                found.append((sealed.sequence or 0, entry.capture_id))
    for _, capture_id in sorted(found):
        publish(archive, history, capture_id, key=key, principal=principal)
    return [capture_id for _, capture_id in sorted(found)]


def _remove_copy(archive: Archive, capture_id: str) -> None:
    """An import's copy, never sealed: its folder under archive/imported/."""
    import shutil

    folder = archive.archive_dir / "imported" / capture_id
    if folder.is_dir():
        shutil.rmtree(folder)


def index_rows(archive: Archive, path: Path) -> bool:
    """Index the sealed capture unless the database has it; whether it was indexed."""
    from ..index import db
    from .reindex import index_sealed

    database = db.connect(archive.db_path)
    try:
        if database.execute("SELECT 1 FROM captures WHERE id = ?",
                            [path.stem]).fetchone() is not None:
            return False
        index_sealed(archive, database, manifest.read(path))
        return True
    finally:
        database.conn.close()


def heal(archive: Archive, history: History, *, key: Ed25519PrivateKey,
         principal: str) -> list[str]:
    """What any writer may have left unfinished, outside a seal; under the sealing lock.
    What was done, for a note."""
    done = []
    ledger = Ledger(archive.manifests_dir)
    log = CustodyLog(archive.manifests_dir)
    if ledger.torn():
        ledger.repair(history.ledger.size)
        done.append("cut a torn leaf line")
    if log.torn():
        log.repair()
        done.append("cut a torn log line")
    if history.rebuilt and not archive.mirrored:
        done += _ledger_lacks(archive, history, key=key, principal=principal)
    if history.ledger.size and not ledger.current(history.ledger.size):
        ledger.checkpoint_now(history, key=key, principal=principal)
        done.append("signed a checkpoint over every leaf")
    if history.log.count and not log.head_is_current(history):
        log.sign_head(history, key=key, who=principal)
        done.append("signed the custody log's head")
    if not archive.mirrored and _database_lacks(archive, history):
        from ..index import db
        from .reindex import heal_index

        database = db.connect(archive.db_path)
        try:
            healed = heal_index(archive, database)
        finally:
            database.conn.close()
        if healed:
            done.append(f"indexed {len(healed)} sealed capture(s) the database lacked")
    if archive.db_path.exists():
        from .log_events import index_after_append

        index_after_append(archive.root)  # events written while the database was away
    history.save()
    return done


def _ledger_lacks(archive: Archive, history: History, *, key: Ed25519PrivateKey,
                  principal: str) -> list[str]:
    """Sealed manifests the ledger lacks, appended in chain order: an archive made before
    the ledger existed. Read only when the history is built afresh (the first command of
    this custody on an archive), since a seal now always finishes through the journal."""
    manifests = manifest.paths(archive.manifests_dir)
    if len(manifests) <= history.ledger.size:
        return []
    known = Ledger(archive.manifests_dir).leaf_ids()
    lacking = [m for m in manifest.read_all(archive.manifests_dir, lazy=True)
               if m.readable and m.capture_id not in known]
    ledger = Ledger(archive.manifests_dir)
    for sealed in lacking:
        ledger.append(history, sealed.capture_id, sealed.leaf_hash)
        history.sealed(sealed.capture_id, history.ledger.size, sealed.sha256)
    return [f"appended {len(lacking)} sealed manifest(s) to the ledger"] if lacking else []


def _database_lacks(archive: Archive, history: History) -> bool:
    """Whether custody.db holds fewer captures than the ledger (one query)."""
    import sqlite3

    from ..index.query import read_value

    if not history.ledger.size:
        return False
    if not archive.db_path.exists():
        return True
    try:
        count = read_value(archive.db_path, "SELECT count(*) FROM captures")
    except sqlite3.Error:
        return False  # unreadable: verify says so; reindex rebuilds it
    return bool(count < history.ledger.size)
