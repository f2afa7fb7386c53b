"""A folder brought to what the store's head says, at the start of a seal: its leaves and
custody log caught up from the pieces (pieces.catch_up) and checked against the head,
the checkpoint, its signature and the log's signed head written from it, and both held
to the signed notes (the root of the leaves is the checkpoint's, the log ends at the
event its signed head names), so that no worker seals on top of a store that was
changed behind its head.

A store without a head holds the layout before it (``leaves``, ``log.jsonl``, the
checkpoint and the log's head as whole objects): they are read whole, once, and the
first seal's head takes the store over (sending.py).
"""

from __future__ import annotations

import base64
from functools import partial

from ..core.atomic import write_atomic
from ..core.errors import StoreDamaged
from .head import Head, Stream
from .pieces import PATH, Gone, Mismatch, Synced, catch_up, lines_of
from .s3 import UNCHANGED
from .state import WorkingCopy

CARRIED = {"checkpoint": "manifests/ledger/checkpoint",
           "checkpoint_sig": "manifests/ledger/checkpoint.sig",
           "log_head": "manifests/ledger/log.head"}
LEGACY = (PATH["leaves"], PATH["log"], *CARRIED.values())
# a folder's files the head makes, never objects of their own
DERIVED = frozenset(LEGACY)
CHECKPOINTS = "manifests/ledger/checkpoints"


def derived(relative: str) -> bool:
    """Tiles: the full ones are sent by the seal after the one that made them, the others
    are objects of their writer (pieces.py)."""
    return relative.startswith("manifests/ledger/tile/")


def follow(mirror: WorkingCopy, found: tuple[bytes, str] | None) -> None:
    """The folder made the store's as its head (``found``: the GET's answer) says."""
    where = str(mirror.store.url)
    if found is None:
        take_over(mirror)
        return
    data, etag = found
    if not (data == UNCHANGED and etag == mirror.head_etag):
        mirror.head, mirror.head_etag = Head.parse(data, where=where), etag
    try:
        catch_up_streams(mirror)
    except Gone as exc:  # under the seal lock no one replaces what the head names
        raise StoreDamaged(f"{exc} is missing", where=where) from None
    write_carried(mirror, mirror.head)
    check_signed(mirror, mirror.head)


def catch_up_streams(mirror: WorkingCopy) -> None:
    """The folder's leaves and log made the store's, as its head says; Gone when an
    object it names is not there (a newer head replaced it)."""
    names = list(PATH)
    mirror.synced.update(zip(names, mirror.parallel([partial(_stream, mirror, n)
                                                     for n in names]), strict=True))


def _stream(mirror: WorkingCopy, name: str) -> Synced:
    want = mirror.head.stream(name)
    try:
        return catch_up(mirror.store, mirror.root, name, want, mirror.synced[name],
                        mirror.fetch_many)
    except Mismatch:
        pass  # the folder's copy is not a beginning of the store's: all of it again
    try:
        return catch_up(mirror.store, mirror.root, name, want, Synced(), mirror.fetch_many)
    except Mismatch as exc:
        raise StoreDamaged(f"{PATH[name]}: {exc}", where=str(mirror.store.url)) from None


def take_over(mirror: WorkingCopy) -> None:
    """A store of the layout before the head: its whole objects, read whole."""
    found = mirror.fetch_many([(name, 0) for name in LEGACY])
    streams: dict[str, Stream] = {}
    for relative, got in zip(LEGACY, found, strict=True):
        path = mirror.root / relative
        if got is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, got[0])
        elif path.exists():  # never in the store: this folder's alone, not sealed
            mirror.put_aside(relative)
    for name, relative in PATH.items():
        path = mirror.root / relative
        data = path.read_bytes() if path.exists() else b""
        whole = lines_of(data)
        streams[name] = Stream(len(whole), sum(len(line) for line in whole))
        mirror.synced[name] = Synced(streams[name].lines, streams[name].bytes)
    checkpoint, checkpoint_sig, log_head = (got[0].decode() if got is not None else None
                                            for got in found[2:])
    mirror.head = Head(leaves=streams["leaves"], log=streams["log"], checkpoint=checkpoint,
                       checkpoint_sig=checkpoint_sig, log_head=log_head,
                       legacy=any(got is not None for got in found))
    mirror.head_etag = None


def write_carried(mirror: WorkingCopy, head: Head) -> None:
    """The checkpoint, its signature and the log's head as the head carries them, and
    the history checkpoints it names; a checkpoint of the folder's past the head's (a
    seal never sent) set aside."""
    from ..seal.ledger import parse_checkpoint

    files = {relative: None if getattr(head, attr) is None else getattr(head, attr).encode()
             for attr, relative in CARRIED.items()}
    if head.checkpoint is not None:
        try:
            size = parse_checkpoint(head.checkpoint).size
        except ValueError as exc:
            raise StoreDamaged(f"the head's checkpoint is not one ({exc})",
                               where=str(mirror.store.url)) from None
        files[f"{CHECKPOINTS}/{size}"] = head.checkpoint.encode()
    files.update(head.pending)
    for relative, data in files.items():
        path = mirror.root / relative
        try:
            held = path.read_bytes()
        except FileNotFoundError:
            held = None
        if data is None:
            if held is not None:
                mirror.put_aside(relative)
        elif held != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
    past = head.leaves.lines + 1
    while (mirror.root / CHECKPOINTS / str(past)).exists():
        mirror.put_aside(f"{CHECKPOINTS}/{past}")
        past += 1


def check_signed(mirror: WorkingCopy, head: Head) -> None:
    """The leaves against the signed checkpoint's root, the log against its signed head,
    where they cover as much as the folder now holds (a checkpoint behind the leaves
    is an interrupted seal's, which the next seal completes)."""
    from ..seal.history import History
    from ..seal.ledger import parse_checkpoint

    history = History.open(mirror.root)
    problems = []
    if head.checkpoint is not None:
        checkpoint = parse_checkpoint(head.checkpoint)
        if checkpoint.size > history.ledger.size:
            problems.append(f"the checkpoint covers {checkpoint.size} leaves, the pieces "
                            f"hold {history.ledger.size}")
        elif checkpoint.size == history.ledger.size and \
                checkpoint.root != history.root_hash():
            problems.append("the leaves' root is not the signed checkpoint's")
    if head.log_head is not None:
        lines = head.log_head.split("\n")
        try:
            count, digest = int(lines[1]), base64.b64decode(lines[2], validate=True).hex()
        except (IndexError, ValueError):
            count, digest = -1, ""
            problems.append("the log's head is not a signed head")
        if count > history.log.count:
            problems.append(f"the log's signed head names {count} events, the pieces hold "
                            f"{history.log.count}")
        elif count == history.log.count and count and digest != history.log.last_sha256:
            problems.append("the log's last event is not the one its signed head names")
    if problems:
        raise StoreDamaged("; ".join(problems), where=str(mirror.store.url))
