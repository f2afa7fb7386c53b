"""A folder made an exact copy of the archive an object store holds (`pull`, and
`verify --store`), fetching only what changed since the copy was last made.

The copy is an ordinary archive folder: the leaves and the custody log are put together
whole from the store's pieces (from where the copy's own end, checked against the head:
a store whose pieces are not those its head commits is refused, StoreDamaged), the
checkpoint, its signature and the log's head are written from the head, the tiles the
head names fetched to their C2SP paths, and every other object fetched at its path when
its ETag changed. What the head does not commit is left out: the files of a capture a
worker is sending now (or died sending) whose leaf is not in the ledger, and the
whole objects of the layout before the head. Read again when the head changed meanwhile
(a worker sealing), so that the copy is one state.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from ..core.atomic import write_atomic
from ..core.errors import StoreDamaged
from ..seal.tiles import tile_path
from .folder import CARRIED, CHECKPOINTS, DERIVED, LEGACY, catch_up_streams, write_carried
from .head import HEAD, Head
from .pieces import PATH, PIECES, Gone, Synced, changed_since
from .s3 import Store
from .state import NOTES, WorkingCopy


def fetch_all(store: Store, root: Path, say: Callable[[str], None]) -> dict[str, int]:
    """Make ``root`` an exact copy of the archive in the store: objects fetched whose
    ETag differs from the copy's, files the store no longer holds removed."""
    copy = WorkingCopy(store, root)
    copy.claim("copy")
    counts = {"objects": 0, "fetched": 0, "bytes": 0, "removed": 0, "rounds": 0}
    reads, received = store.reads, store.received
    for _ in range(5):
        counts["rounds"] += 1
        found = store.get(HEAD)
        everything = {rel: (etag, size) for rel, etag, size in store.list()}
        made: set[str] = set()
        try:
            if found is not None:
                reads += 1  # (the head itself is no object of the archive)
                copy.head, copy.head_etag = Head.parse(found[0], where=str(store.url)), \
                    found[1]
                _streams(copy, {rel: etag for rel, (etag, _) in everything.items()})
                write_carried(copy, copy.head)
                made = _made(copy) | _tiles(copy)
            held_back = _uncommitted(copy) if found is not None else set()
        except Gone:
            copy.save()
            say("the store's head changed while it was read (a worker sealing); reading it "
                "again")
            continue
        listed = {rel: found_at for rel, found_at in everything.items()
                  if not rel.startswith(".") and rel not in held_back and
                  (found is None or _object_of_copy(rel))}
        for relative, (etag, _size) in sorted(listed.items()):
            known = copy.record.get(relative)
            if known is not None and known[0] == etag and copy.unchanged(relative):
                continue
            copy.note(relative, store.download(relative, root / relative))
        for path in list(root.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.is_file() and _kept(relative) and relative not in listed and \
                    relative not in made:
                path.unlink()
                copy.record.pop(relative, None)
                counts["removed"] += 1
        counts["objects"] = len(listed) + len(made)
        copy.save()
        again = store.head(HEAD)
        if (again["etag"] if again else None) == (found[1] if found else None):
            break
        say("the store's head changed while it was read (a worker sealing); reading it "
            "again")
    counts["fetched"], counts["bytes"] = store.reads - reads, store.received - received
    return counts


def _streams(copy: WorkingCopy, etags: dict[str, str]) -> None:
    """The leaves and the log put together from the pieces past the copy's end; then each
    piece the copy holds compared with the store's object (its MD5), so that one changed
    since it was fetched is fetched again, and judged against the head."""
    catch_up_streams(copy)
    stale = [name for name in PATH
             if changed_since(copy.root, name, copy.head.stream(name), etags)]
    if stale:
        copy.synced.update({name: Synced() for name in stale})
        catch_up_streams(copy)


def _object_of_copy(relative: str) -> bool:
    """Of a store with a head: objects fetched as files (not the head, the pieces, or
    the whole objects of the layout before it, which the head replaces)."""
    return relative != HEAD and not relative.startswith(f"{PIECES}/") and \
        relative not in LEGACY


def _made(copy: WorkingCopy) -> set[str]:
    """The copy's files made from the head."""
    from ..seal.ledger import parse_checkpoint

    made = set(DERIVED) - {r for attr, r in CARRIED.items() if getattr(copy.head, attr) is None}
    if copy.head.checkpoint is not None:
        made.add(f"{CHECKPOINTS}/{parse_checkpoint(copy.head.checkpoint).size}")
    return made | set(copy.head.pending)


def _tiles(copy: WorkingCopy) -> set[str]:
    """The tiles the head names (not yet at their C2SP paths in the store) fetched to
    theirs in the copy, each checked against its sha256; their paths."""
    where, made = str(copy.store.url), set()
    for tile in copy.head.tiles:
        relative = f"manifests/ledger/{tile_path(tile.level, tile.index, tile.width)}"
        path = copy.root / relative
        made.add(relative)
        if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == tile.sha256:
            continue
        found = copy.store.get(tile.name)
        if found is None:
            raise Gone(tile.name)
        if hashlib.sha256(found[0]).hexdigest() != tile.sha256:
            raise StoreDamaged(f"{tile.name} is not the tile the head names", where=where)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, found[0])
    return made


def _uncommitted(copy: WorkingCopy) -> set[str]:
    """The files of captures a note of intent names whose leaf is not in the ledger: a
    seal being sent now, or one whose worker died before its head (the next worker
    settles it)."""
    held_back: set[str] = set()
    for name, _, _ in copy.store.list(f"{NOTES}/"):
        found = copy.store.get(name)
        try:
            note = json.loads(found[0]) if found is not None else {}
            captures = dict(note.get("captures", {}))
        except (ValueError, TypeError, AttributeError):
            continue
        for capture_id, files in captures.items():
            if not copy.in_ledger(capture_id):
                held_back.update(str(f) for f in files)
    return held_back


def _kept(relative: str) -> bool:
    """Files of a copy that mirror objects (not the copy's own database or locks)."""
    return (relative.startswith(("archive/", "manifests/")) or
            relative in ("allowed_signers", "custody.toml")) and \
        not os.path.basename(relative).startswith(".")
