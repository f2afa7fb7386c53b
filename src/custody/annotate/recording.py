"""Writing an annotation: one signed event in the custody log, checked first against the
rules and the archive as they stand.

Under the writer's lock and the sealing lock (so no other event, seal or verify sees
half of it), custody.db's index of the log is caught up, the event is held to the rules
(index/annotation.py: the same ones the index applies), and then appended: the log
signs it and its new head, and indexes it. Nothing sealed is touched; a refused event
is never written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.archive import Archive
from ..core.capture_ids import check_capture_id
from ..core.errors import ArchiveError, NotFound, UsageError
from ..index import annotation
from ..index.query import open_readonly
from ..seal.custody_log import CustodyLog
from ..seal.log_events import catch_up
from ..seal.manifest import manifest_path
from . import rules

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

@dataclass(frozen=True)
class Signer:
    """Who writes an annotation: the archivist's key and its principal in allowed_signers
    (the event's ``who``), and, for the workbench, the account of the person who asked."""

    key: Ed25519PrivateKey
    who: str
    account: str | None = None


@dataclass(frozen=True)
class Recorded:
    """An event as the log holds it: its number, time, who, kind and details."""

    seq: int
    at: str
    who: str
    event: str
    details: dict[str, Any]


def require_captures(archive: Archive, capture_ids: list[str]) -> list[str]:
    """The ids, each checked (UsageError) and sealed in this archive (NotFound)."""
    ids = [check_capture_id(c) for c in dict.fromkeys(capture_ids)]
    missing = [c for c in ids if not manifest_path(archive.manifests_dir, c).is_file()]
    if missing:
        raise NotFound("no such capture", where=", ".join(missing[:10]))
    return ids


@contextmanager
def reading(archive: Archive) -> Iterator[sqlite3.Connection]:
    """custody.db opened read-only; ArchiveError when it was made by an earlier custody,
    without the tables annotations and listing need (any command that writes adds them,
    `custody reindex` too)."""
    conn = open_readonly(archive.db_path)
    try:
        if not annotation.has_tables(conn) or not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'capture_facets'").fetchone():
            raise ArchiveError("custody.db was made by an earlier custody and lacks the "
                               "tables of cases, tags, notes and listing: run `custody "
                               "reindex` (or any command that writes) to add them",
                               where=str(archive.db_path))
        yield conn
    finally:
        conn.close()


def record(archive: Archive, signer: Signer, event: str, details: dict[str, Any],
           check: Callable[[sqlite3.Connection], dict[str, Any]] | None = None) -> Recorded:
    """Append the event, signed, once custody.db's index is current and the rules allow it;
    ``check`` (given the database, current) makes the checks that need it first, and
    gives what they add to the details. UsageError, and nothing written, when a rule
    refuses."""
    if not archive.db_path.exists():
        raise ArchiveError("no database (run `custody reindex` to rebuild it)",
                           where=str(archive.db_path))
    if signer.account is not None:
        details = {**details, "account": rules.account(signer.account)}
    with archive.lock(), archive.sealing():
        conn = sqlite3.connect(archive.db_path, timeout=10)
        try:
            with conn:
                catch_up(archive.root, conn)
            if check is not None:
                details = {**details, **check(conn)}
            refused = annotation.refusal(conn, event, details)
        finally:
            conn.close()
        if refused is not None:
            raise UsageError(refused)
        entry = CustodyLog(archive.manifests_dir).append(event, key=signer.key, who=signer.who,
                                                         details=details)
    return Recorded(int(entry["seq"]), str(entry["at"]), str(entry["who"]), event,
                    entry["details"])
