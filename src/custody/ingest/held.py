"""What the archive holds already, asked before anything is imported: the same file
(its sha256), and the same records (their WARC-Record-IDs) in other containers.

Both are asked of custody.db, which indexes every sealed capture's files and response
records: a lookup per batch, whatever the archive's size. A database made by an
earlier custody lacks the files table's rows of the captures before it; the file is then
looked for in the manifests (once: `custody reindex` fills the table).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..core.archive import Archive
from ..seal import manifest
from .records import ARC_KEY, arc_key

_BATCH = 500


@dataclass
class Overlap:
    """The records of a file the archive holds already, by the capture holding them: a
    record is held when the archive has one of its WARC-Record-ID with the same payload
    digest; one of its id with another payload is no copy of it, and is counted apart."""

    checked: int = 0  # response records looked for
    count: int = 0  # of them, those held somewhere
    held: Counter[str] = field(default_factory=Counter)  # capture id -> records held there
    differing: int = 0  # of them, those whose id the archive holds with another payload

    def describe(self) -> str:
        where = ", ".join(f"{cid} ({n})" for cid, n in self.held.most_common(5))
        more = len(self.held) - 5
        return where + (f" and {more} more captures" if more > 0 else "")

    def to_json(self) -> dict[str, object]:
        return {"records_checked": self.checked, "records_held": self.count,
                "captures": dict(self.held.most_common()),
                "records_same_id_other_payload": self.differing}


def _open(archive: Archive) -> sqlite3.Connection | None:
    if not archive.db_path.exists():
        return None
    try:
        return sqlite3.connect(f"file:{archive.db_path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None


def same_file(archive: Archive, sha256: str) -> str | None:
    """The capture that holds a file of these bytes, imported or captured: as custody.db
    says, where the capture's sealed manifest says so too (the database is derived, and
    anyone may edit it: a row made up there must not turn new evidence away)."""
    conn = _open(archive)
    if conn is not None:
        try:
            named = [str(cid) for cid, in conn.execute(
                "SELECT DISTINCT capture_id FROM files WHERE sha256 = ? LIMIT 20", [sha256])]
            # every capture has its rows (not rows of captures there are not: made up)
            whole = conn.execute("SELECT (SELECT count(DISTINCT f.capture_id) FROM files f "
                                 "JOIN captures c ON c.id = f.capture_id) >= "
                                 "(SELECT count(*) FROM captures)").fetchone()[0]
        except sqlite3.Error:
            named, whole = [], False
        finally:
            conn.close()
        for cid in named:
            if _seals(archive.manifests_dir / f"{cid}.json", sha256):
                return cid
        if whole and not named:
            return None
    for path in manifest.paths(archive.manifests_dir):  # an earlier custody's database,
        if _seals(path, sha256):  # or one that says what no manifest does
            return path.stem
    return None


def _seals(path: Path, sha256: str) -> bool:
    """Whether the manifest at ``path`` seals a file of these bytes."""
    try:
        content = manifest.read(path).content or {}
    except (OSError, ValueError):
        return False
    return any(isinstance(item, dict) and item.get("sha256") == sha256
               for item in content.get("warc_files") or [])


Found = tuple[str, str | None, str | None, str | None]  # id, payload, block, old payload


def overlap(archive: Archive, records: Iterable[Found]) -> Overlap:
    """Which of these response records -- (WARC-Record-ID, payload sha256, block sha256,
    payload sha256 as custody took it before 2026-12-07, where different) -- the archive
    holds, and where. A record found by its old payload sha256 alone is held where the
    sealed record's block is the same too: the old rule leaves the bytes between the two
    ends of a head out, and a record made otherwise there is no copy."""
    found = Overlap()
    conn = _open(archive)
    # record id -> its (payload, block, old payload) sha256s, each how often
    batch: dict[str, Counter[tuple[str | None, str | None, str | None]]] = {}
    blocks: dict[str, dict[str, str]] = {}  # capture id -> its records' block sha256s

    def sealed_blocks(capture_id: str) -> dict[str, str]:
        if capture_id not in blocks:
            blocks[capture_id] = _sealed_blocks(archive, capture_id)
        return blocks[capture_id]
    asked = 0

    def ask() -> None:
        nonlocal asked
        found.checked += asked
        asked = 0
        if conn is None or not batch:
            batch.clear()
            return
        ids = [key for key in batch if not key.startswith(ARC_KEY)]
        arcs = [key.removeprefix(ARC_KEY).split("\x00", 1) for key in batch
                if key.startswith(ARC_KEY)]
        try:
            where: dict[tuple[str, str | None], set[str]] = {}
            for record_id, payload, cid in conn.execute(
                    f"SELECT record_id, payload_sha256, capture_id FROM resources "
                    f"WHERE record_id IN ({','.join('?' * len(ids))})", ids):
                where.setdefault((str(record_id), payload), set()).add(str(cid))
            held_ids = {rid for rid, _ in where}
            for url, date in arcs:  # an ARC record: held where the same URL, fetched at
                # the same moment, has the same payload (its id names it in no other file)
                for payload, cid in conn.execute(
                        "SELECT payload_sha256, capture_id FROM resources WHERE url = ? "
                        "AND fetched_at = ?", [url, date]):
                    where.setdefault((arc_key(url, date), payload), set()).add(str(cid))
            for record_id, payloads in batch.items():
                for (payload, block, old), times in payloads.items():  # twice: both
                    captures = where.get((record_id, payload))
                    if not captures and old is not None:
                        captures = {cid for cid in where.get((record_id, old), ())
                                    if sealed_blocks(cid).get(record_id) == block}
                    if captures:
                        found.count += times
                        for cid in captures:
                            found.held[cid] += times
                    elif record_id in held_ids:
                        found.differing += times
        except sqlite3.Error:
            pass
        batch.clear()

    try:
        for record_id, payload, block, old in records:
            batch.setdefault(record_id, Counter())[(payload, block, old)] += 1
            asked += 1
            if asked >= _BATCH:
                ask()
        ask()
    finally:
        if conn is not None:
            conn.close()
    return found


def _sealed_blocks(archive: Archive, capture_id: str) -> dict[str, str]:
    """The block sha256 of each record the capture's manifest seals, by record id."""
    try:
        content = manifest.read(manifest.manifest_path(archive.manifests_dir,
                                                       capture_id)).content or {}
    except (OSError, ValueError):  # unreadable or gone: verify says so; no copy found
        return {}
    return {str(r.get("record_id")): str(r.get("block_sha256"))
            for r in content.get("records") or [] if isinstance(r, dict)}
