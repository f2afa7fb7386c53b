"""A seal sent to the store: what the folder sealed since the head was read, sent in
an order that leaves the store whole at every instant, the head last.

1. the writer's note of intent (``.custody/store/sealing/WRITER.json``): the captures
   and their jobs, the objects it is about to write, the objects its head will drop;
2. at once: the job markers, the captures' files but their manifests, the full pieces,
   tiles and history checkpoints the head read at the start committed (each written
   once, at its own name), and the writer's new pieces and tiles;
3. the manifests (a capture whose manifest is in the store has all its files there);
4. the head, only over the version read (``If-Match``): the commit point;
5. the objects the new head no longer names, then the note, removed.

The fault points (``store.pieces``, ``store.capture``, ``store.head``,
``store.superseded``) are where the tests kill a worker mid-send of a capture.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from ..core import faults
from ..core.errors import ArchiveError
from .folder import CARRIED, CHECKPOINTS, LEGACY
from .head import Head
from .pieces import PATH, Mismatch, plan, plan_tiles, put_once
from .s3 import Conflict, Store
from .state import ADMIN, JOBS, NOTES, LostCommit, WorkingCopy, capture_files


def send(copy: WorkingCopy, captures: list[str]) -> bool:
    """Send the seal; whether there was anything to send. LostCommit when the head is
    no longer the one read."""
    root, store, head = copy.root, copy.store, copy.head
    admin = [r for r in ADMIN if (root / r).exists() and not copy.unchanged(r)]
    carried = {attr: _text(root / relative) for attr, relative in CARRIED.items()}
    grown = any(copy.size_of(relative) != copy.synced[name].bytes
                for name, relative in PATH.items())
    if not (captures or admin or grown or copy.head_etag is None or
            carried != {attr: getattr(head, attr) for attr in CARRIED}):
        return False
    try:
        streams = {name: plan(root, name, head.stream(name), copy.synced[name], copy.writer)
                   for name in PATH}
        size = streams["leaves"].stream.lines
        tiles, tile_tail = plan_tiles(root, head, size, copy.writer, partial(_rebuild, root))
    except Mismatch as exc:  # (the folder's, not the store's: nothing was sent)
        raise ArchiveError(f"{exc}: the folder's copy changed under the seal",
                           where=str(root)) from None
    taking_over = copy.head_etag is None and head.legacy
    new = Head(writer=copy.writer, leaves=streams["leaves"].stream, log=streams["log"].stream,
               tiles_full_at=head.leaves.lines, tiles=tile_tail,
               pending=_history_made(copy, head.leaves.lines, size),
               legacy=taking_over, checkpoint=carried["checkpoint"],
               checkpoint_sig=carried["checkpoint_sig"], log_head=carried["log_head"])
    promoted = [*(p for out in (*streams.values(), tiles) for p in out.promoted),
                *head.pending.items()]
    written = [w for out in (*streams.values(), tiles) for w in out.written]
    superseded = sorted(head.named() - new.named())
    files = {c: capture_files(root, c) for c in captures}
    markers = _markers(root, set(captures))
    note_name = f"{NOTES}/{copy.writer}.json"
    note = json.dumps({"writer": copy.writer, "captures": files, "jobs": markers,
                       "objects": [name for name, _ in written],
                       "superseded": superseded}).encode()
    store.put(note_name, note)
    names = [f for group in files.values() for f in group
             if (root / f).exists() and not copy.unchanged(f)]  # (an adopted capture's
    # WARC files are not here: they are in the store already)
    last = {f"manifests/{c}.json" for c in captures}
    gone = _legacy(store) if head.legacy and not taking_over else []  # (taken over before)
    copy.parallel([*(partial(copy.send_file, f"{JOBS}/{job}.json") for job in markers),
                   *(partial(copy.send_file, n) for n in names if n not in last),
                   *(partial(put_once, store, name, data) for name, data in promoted),
                   *(partial(store.put, name, data, if_absent=True) for name, data in written),
                   *(partial(store.delete, name) for name in gone)])
    _fault("store.pieces", captures)
    copy.parallel([partial(copy.send_file, n) for n in names if n in last])
    _fault("store.capture", captures)
    try:
        copy.write_head(new)
    except Conflict as exc:
        # a note under a name of its own, so that one who settles the first (it may be
        # doing so now) does not take this one with it: what was sent is removed
        store.put(f"{NOTES}/{copy.writer}.lost.json", note)
        raise LostCommit(f"the store's head changed while this worker sealed ({exc})",
                         where=str(store.url), captures=captures) from exc
    _fault("store.head", captures)
    copy.synced = {name: out.synced for name, out in streams.items()}
    copy.parallel([partial(store.delete, name) for name in
                   [*superseded, *(_legacy(store) if taking_over else [])]])
    _fault("store.superseded", captures)
    copy.parallel([partial(store.delete, name) for name in [note_name, *copy.settling]])
    copy.settling = []
    for relative in admin:  # what an administrator changed, over the version read
        etag = copy.pulled.get(relative)
        copy.note(relative, store.put(relative, (root / relative).read_bytes(),
                                      if_etag=etag, if_absent=etag is None))
    copy.return_borrowed()
    copy.began = copy.synced["leaves"].bytes
    copy.adopted = []
    return True


def _legacy(store: Store) -> list[str]:
    """The objects of the layout before the head, which the head replaces: the whole
    leaves, log, checkpoint and heads, and partial tiles at C2SP paths."""
    tiles = [name for name, _, _ in store.list("manifests/ledger/tile/") if ".p/" in name]
    return [*LEGACY, *tiles]


def _fault(step: str, captures: list[str]) -> None:
    if captures:  # (the tests kill a worker mid-send of a capture, not of a seed)
        faults.after(step)


def _text(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _history_made(copy: WorkingCopy, committed: int, size: int) -> dict[str, bytes]:
    """The checkpoints of the sizes this seal made, and their RFC 3161 tokens: carried by
    the head until the next seal writes them as objects of their own (once this head
    committed them, so that no object there is ever one of a seal not committed)."""
    from ..seal.timestamp import token_paths

    made = {}
    for number in range(committed + 1, size + 1):
        path = copy.root / CHECKPOINTS / str(number)
        for found in [path, *token_paths(path)] if path.exists() else []:
            relative = found.relative_to(copy.root).as_posix()
            if not copy.unchanged(relative):
                made[relative] = found.read_bytes()
    return made


def _markers(root: Path, captures: set[str]) -> dict[str, str]:
    folder = root / JOBS
    found = {}
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            marker = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if marker.get("capture_id") in captures and path.stem == marker.get("job"):
            found[path.stem] = str(marker["capture_id"])
    return found


def _rebuild(root: Path) -> None:
    """The folder's tiles made again from its leaves (they lacked one a seal sends)."""
    from ..seal.ledger import Ledger
    from ..seal.tiles import Tiles

    ledger = Ledger(root / "manifests")
    Tiles(ledger.dir).rebuild(leaf.hash for leaf in ledger.iter_leaves())

