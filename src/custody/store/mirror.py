"""A worker's archive folder as a working copy of an archive kept in an object store.

The store holds the archive at the same relative paths as a folder (``archive/…warc.gz``,
``manifests/ID.json`` and what vouches for it, ``allowed_signers``), but for what a
seal would otherwise rewrite whole: the ledger's leaves and the custody log are kept as
immutable pieces, the tiles past the full ones as objects of their writer, and the
checkpoint, its signature and the log's signed head in the store's head (head.py,
pieces.py). A worker seals in its own folder and sends the seal, under the queue's seal
lock:

1. ``begin()``: the head is read (a conditional GET), and the folder's leaves and log
   are caught up from the pieces past what it holds and checked against the head (the
   pieces' hashes, the signed checkpoint's root, the log's signed head); what an
   earlier holder of the lock left half sent is settled (below);
2. the capture is sealed in the folder, as on a disk of its own;
3. ``commit()``: a note of intent of this writer's (``.custody/store/sealing/WRITER.json``,
   naming the captures, their jobs and the objects it will write), the job markers,
   each new capture's files with its manifest last, the full pieces and tiles the head
   read in step 1 committed, this writer's new pieces and tiles; then the head, written
   only over the version read in step 1 (``If-Match``): the commit point. A second
   writer, or one that lost the lock while paused, is refused there by the store. Then
   the pieces the new head no longer names are removed, and the note.

A note of another writer's found in step 1 means a holder died (or was paused) mid-send.
The head is first written again as this writer's, so that the other can no longer
commit; then each capture the note names that is not in the ledger but whose manifest
reached the store (sent last, so all else did too) is adopted (``adopt`` completes its
ledger leaf, checkpoint and log event) when it is next in the chain; any other is not
sealed (no ledger leaf names its files): its objects are removed, as are the note's
pieces that no head names.

What the folder records of the store is in state.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

from ..core.atomic import write_atomic
from . import pieces
from .folder import DERIVED, derived, follow
from .head import HEAD, Head
from .pieces import PATH, Synced
from .s3 import UNCHANGED, Conflict
from .sending import send
from .settling import settle
from .state import ADMIN, LEAVES, LOG, NOTES, ORIGIN, LostCommit, WorkingCopy, capture_files

__all__ = ["LostCommit", "Mirror", "capture_files"]


class Mirror(WorkingCopy):
    def seeded(self) -> bool:
        """Whether the store holds an archive: a head, or the log of the layout before."""
        return self.store.head(HEAD) is not None or self.store.head(LOG) is not None

    def seed(self, *, token: int | None = None) -> int:
        """Send a whole folder archive to an empty store, its head last; the objects sent.
        (A second worker seeding at once is refused at the head, and takes the store's.)"""
        sent = 0
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root).as_posix()
            if not path.is_file() or relative.startswith(".") or "/." in relative or \
                    relative.startswith("custody.db") or relative in DERIVED or \
                    derived(relative):
                continue
            self.send_file(relative)
            sent += 1
        self.writer = writer_name(token)
        self.head, self.head_etag, self.synced = Head(), None, {n: Synced() for n in PATH}
        self.began = self.size_of(LEAVES)  # what the folder holds is no capture sent now
        try:
            send(self, [])
        except Conflict:
            self.pulled = {}  # another's archive is the store's: read it whole
        self.save()
        return sent

    def begin(self, adopt: Callable[[str], bool], *, token: int | None = None) -> None:
        """Make the folder's share of the archive the store's; settle what a holder that
        died mid-send left (``adopt`` completes the publication of a capture it had
        sent). What only an administrator changes (allowed_signers, custody.toml, the
        ledger's origin) is read at the first seal; the head at each."""
        self.writer = writer_name(token)
        for attempt in range(3):
            wanted = [r for r in ADMIN if not self.pulled or
                      (r == ORIGIN and self.pulled.get(r) is None)]
            found, notes, *etags = self.parallel([
                partial(self.store.get, HEAD, unless_etag=self.head_etag),
                partial(self._notes), *(partial(self._fetch_shared, r) for r in wanted)])
            self.pulled.update(zip(wanted, etags, strict=True))
            follow(self, found)
            self.began = self.synced["leaves"].bytes
            self.adopted = []
            if not notes or self.head_etag is None:
                break
            try:  # no writer of these notes may commit after this
                self.write_head(replace(self.head, writer=self.writer))
            except Conflict:
                if attempt == 2:
                    raise
                continue  # one of them just did: read it, and look again
            settle(self, notes, adopt)
            break
        self.save()

    def _notes(self) -> list[str]:
        return sorted(name for name, _, _ in self.store.list(f"{NOTES}/"))

    def _fetch_shared(self, relative: str) -> str | None:
        target = self.root / relative
        known = self.record.get(relative)
        current = known[0] if known is not None and self.unchanged(relative) else None
        found = self.store.get(relative, unless_etag=current)
        if found is not None and current is not None and found == (UNCHANGED, current):
            return current  # as this folder last had it
        if found is None:
            if target.exists():  # never in the store: this folder's alone, not sealed
                self.put_aside(relative)
            return None
        data, etag = found
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
        self.note(relative, etag)
        return etag

    # -- sending -------------------------------------------------------------------------

    def new_captures(self) -> list[str]:
        """The captures whose leaves were appended since ``begin()`` (adopted ones too)."""
        path = self.root / LEAVES
        if not path.exists():
            return []
        with open(path, "rb") as fh:
            fh.seek(self.began)
            data = fh.read()
        return [line.split()[1].decode("ascii") for line in pieces.lines_of(data)]

    def commit(self) -> list[str]:
        """Send what was sealed since ``begin()``; the captures sent. Raises LostCommit
        when the store's head is no longer the one read then."""
        captures = self.new_captures()
        sent = send(self, captures)
        self.save()
        return captures if sent else []


def writer_name(token: int | None) -> str:
    """A name no other writer's objects have: the seal's fence token, and a nonce (a
    token alone repeats when the queue's Redis is replaced)."""
    import secrets

    return f"{token or 0}-{secrets.token_hex(4)}"
