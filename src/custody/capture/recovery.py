"""Completing what a crash interrupted, before a command writes anything new.

Every command that writes to an archive -- ``archive``, ``archive --resume``,
``reindex`` -- first calls ``recover`` under the writer's lock. It completes each
capture the sealing journal names (completion.py gives the steps): one whose manifest
exists gets only its missing later steps; one whose manifest does not is sealed
afresh from its crawl state, after what an interrupted seal left beside the manifest's
temporary name is discarded. Then the ledger, the log and the database are brought up
to date with the manifests, whatever interrupted them: nothing sealed is rewritten.
"""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..core import journal
from ..core.archive import Archive
from ..index import db
from ..index.rebuild import heal_index, index_sealed
from ..seal import manifest
from ..seal.custody_log import CustodyLog
from ..seal.sealing import discard_unsealed, heal_ledger, publish
from .completion import Result, collector_of, complete, crawls_dir, finish_state, result_of
from .state import CrawlState


def recover(archive: Archive, *, key: Ed25519PrivateKey,
            collector: dict[str, Any]) -> list[Result]:
    """Complete every interrupted seal; bring ledger, log and database up to date. The
    captures completed, each with a note saying so."""
    results = []
    for entry in journal.pending(archive):
        result = _complete_entry(archive, entry, key, collector)
        if result is not None:
            results.append(result)
    with archive.sealing():
        principal = collector["operator"]
        heal_ledger(archive, key=key, principal=principal)
        CustodyLog(archive.manifests_dir).repair()
        database = db.connect(archive.db_path)
        try:
            heal_index(archive, database)
        finally:
            database.conn.close()
    return results


def _complete_entry(archive: Archive, entry: journal.Entry, key: Ed25519PrivateKey,
                    collector: dict[str, Any]) -> Result | None:
    capture_id = entry.capture_id
    path = manifest.manifest_path(archive.manifests_dir, capture_id)
    state_path = crawls_dir(archive) / entry.crawl / "state.db" if entry.crawl else None
    if path.exists():  # sealed: only the steps after the manifest's rename are left
        with archive.sealing():
            done = publish(archive, capture_id, key=key, principal=collector["operator"])
            database = db.connect(archive.db_path)
            try:
                if capture_id not in db.capture_ids(database):
                    index_sealed(archive, database, manifest.read(path))
                    done.append("its database rows")
            finally:
                database.conn.close()
            if state_path is not None and state_path.exists():
                state = CrawlState(state_path)
                if state.meta("sealed_as") != capture_id:
                    content = manifest.read(path).content or {}
                    left = content.get("frontier_left") or 0
                    finish_state(state, sealed_as=capture_id,
                                 left=left if content.get("status") == "interrupted" else 0)
                    done.append("its crawl state")
                else:
                    state.close()
            journal.end(archive, capture_id)
        steps = ", ".join(done) or "nothing left to do"
        return result_of(path, [f"completed the sealing of {capture_id}, interrupted after "
                                f"its manifest was written ({steps})"])
    found = CrawlState(state_path) if state_path is not None and state_path.exists() else None
    if found is None or found.meta("capture_id") != capture_id:
        if found is not None:
            found.close()
        with archive.sealing():  # nothing to seal it from: it never was sealed
            discard_unsealed(archive, capture_id)
            journal.end(archive, capture_id)
        return None
    with archive.sealing():
        discard_unsealed(archive, capture_id)
    result = complete(archive, found, key=key, collector=collector)
    result.notes.insert(0, f"completed the sealing of {capture_id}, interrupted before its "
                           "manifest was written")
    return result


def reindex(archive: Archive, *, key: Ed25519PrivateKey | None) -> tuple[int, list[Result]]:
    """Complete interrupted seals (with the archivist's key at hand), then rebuild custody.db
    from the manifests and WARC files alone; the captures indexed, and those completed."""
    from ..core.errors import KeyProblem

    with archive.lock():
        recovered: list[Result] = []
        if key is not None:
            recovered = recover(archive, key=key, collector=collector_of(archive, key))
        elif journal.pending(archive):
            raise KeyProblem("a capture's sealing was interrupted, and completing it needs "
                             "the archivist's key (CUSTODY_KEY)", where=str(archive.root))
        tmp = archive.root / ".custody.db.rebuild"
        tmp.unlink(missing_ok=True)
        database = db.connect(tmp)
        count = 0
        for sealed in manifest.read_all(archive.manifests_dir):
            if sealed.content is not None:
                index_sealed(archive, database, sealed)
                count += 1
        database.conn.close()
        with archive.sealing():
            os.replace(tmp, archive.db_path)
        return count, recovered
