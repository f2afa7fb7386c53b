"""What a working copy of a stored archive knows of the store: the record of what it
sent and fetched, how much of the leaves and the log is the store's, the head it read,
and the small questions a seal asks the store (a job's marker, a capture's leaf).

``.custody/store.json`` records, for each file sent or fetched, the object's ETag and
the file's size and mtime (an unchanged file is neither sent nor fetched again), and
how much of the leaves and of the log is the store's (pieces.Synced).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from ..core.atomic import write_atomic
from ..core.errors import UsageError
from .head import HEAD, Head
from .pieces import PATH, Synced
from .s3 import Conflict, ShortObject, Store

ADMIN = ("allowed_signers", "custody.toml", "manifests/ledger/origin")
ORIGIN = "manifests/ledger/origin"
LEAVES, LOG = PATH["leaves"], PATH["log"]
NOTES = ".custody/store/sealing"
JOBS = ".custody/jobs"


class LostCommit(Conflict):
    """The head was no longer the one read at ``begin()``: nothing of the seal counts."""

    def __init__(self, message: str, *, where: str, captures: list[str]) -> None:
        super().__init__(message, where=where)
        self.captures = captures


def capture_files(root: Path, capture_id: str) -> list[str]:
    """The capture's files, relative, in the order they are sent: its WARC files, what
    vouches for its manifest, and the manifest last."""
    manifests = root / "manifests"
    sums = manifests / f"{capture_id}.SHA256SUMS"
    named = []
    for line in sums.read_text().splitlines():
        if line.strip():
            named.append(line.split(None, 1)[1].strip().lstrip("*"))
    manifest = f"manifests/{capture_id}.json"
    warcs = [name for name in named if name != manifest]
    beside = sorted(p.name for p in manifests.glob(f"{capture_id}.json.*"))
    return [*warcs, *(f"manifests/{name}" for name in beside if not name.endswith(".tmp")),
            f"manifests/{capture_id}.SHA256SUMS", manifest]


class WorkingCopy:
    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root
        self.record_path = root / ".custody" / "store.json"
        self.record: dict[str, list[Any]] = {}
        self.role = ""
        self.of = str(store.url)
        self.synced = {name: Synced() for name in PATH}
        if self.record_path.exists():
            saved = json.loads(self.record_path.read_text())
            self.record = saved.get("files", {})
            self.role, self.of = saved.get("role", ""), saved.get("store", self.of)
            for name, kept in saved.get("streams", {}).items():
                self.synced[name] = Synced(**kept)
        self.pulled: dict[str, str | None] = {}  # ETag of each admin file at begin()
        self.head = Head()
        self.head_etag: str | None = None  # None: the store has no head yet
        self.writer = ""
        self.began = 0  # bytes of the leaves at begin(): the lines after are new captures
        self.adopted: list[str] = []
        self.borrowed: list[str] = []  # others' manifest files fetched to adopt them
        self.settling: list[str] = []  # others' notes to remove once this seal is sent
        self._pool: Any = None

    # -- the record ----------------------------------------------------------------------

    def save(self) -> None:
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        saved = {"store": self.of, "role": self.role, "files": self.record,
                 "streams": {name: asdict(s) for name, s in self.synced.items()}}
        write_atomic(self.record_path, json.dumps(saved, sort_keys=True).encode())

    def claim(self, role: str) -> None:
        """Take the folder as a worker's working copy, or as a copy to verify: refused
        when it is a copy of another store, or, for a copy (which loses what the store
        does not hold), when it holds anything that is not one."""
        where = str(self.root)
        if self.of != str(self.store.url):
            raise UsageError(f"this folder is a copy of {self.of}, not of {self.store.url}",
                             where=where)
        if role == "copy" and self.role != "copy" and self.root.exists() and \
                any(self.root.iterdir()):
            kind = "a worker's folder" if self.role else "not empty, and not a copy of a store"
            raise UsageError(f"is {kind}: a copy fetched there would remove what the store "
                             "does not hold; give --root an empty folder (or an earlier "
                             "copy)", where=where)
        self.role = role

    def _stat(self, relative: str) -> list[int] | None:
        try:
            st = (self.root / relative).stat()
        except OSError:
            return None
        return [st.st_size, st.st_mtime_ns]

    def note(self, relative: str, etag: str) -> None:
        stat = self._stat(relative)
        if stat is not None:
            self.record[relative] = [etag, *stat]

    def unchanged(self, relative: str) -> bool:
        """Whether the file is as it was when last sent or fetched."""
        known = self.record.get(relative)
        return known is not None and self._stat(relative) == known[1:]

    def size_of(self, relative: str) -> int:
        path = self.root / relative
        return path.stat().st_size if path.exists() else 0

    def put_aside(self, relative: str) -> None:
        """A file of the folder's that the store does not hold (never sent, or sent by a
        seal that was not committed): kept aside, out of the copy."""
        aside = self.root / ".custody" / "store" / "not-sent" / relative
        aside.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.root / relative), str(aside))
        self.record.pop(relative, None)

    # -- requests ------------------------------------------------------------------------

    def parallel(self, calls: Sequence[Callable[[], Any]]) -> list[Any]:
        """The calls' results, the calls made at once (each a request to the store)."""
        if len(calls) <= 1:
            return [call() for call in calls]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="store")
        from concurrent.futures import wait

        futures = [self._pool.submit(call) for call in calls]
        wait(futures)  # all of them ended before any failure is raised: none still writes
        return [future.result() for future in futures]

    def fetch_many(self, wanted: Sequence[tuple[str, int]]) -> list[tuple[bytes, str] | None]:
        """Objects read at once, each from a byte on; None for one that is not there, or
        not as long."""
        def get(name: str, start: int) -> tuple[bytes, str] | None:
            try:
                return self.store.get(name, start=start)
            except ShortObject:
                return None

        return self.parallel([partial(get, name, start) for name, start in wanted])

    def send_file(self, relative: str) -> None:
        self.note(relative, self.store.upload(self.root / relative, relative))

    def write_head(self, head: Head) -> None:
        """The head, only over the version read (the commit point); Conflict otherwise."""
        self.head_etag = self.store.put(HEAD, head.to_bytes(), if_etag=self.head_etag,
                                        if_absent=self.head_etag is None)
        self.head = head

    def return_borrowed(self) -> None:
        """Another's manifest files, fetched to adopt its capture, go once it is published."""
        for relative in self.borrowed:
            (self.root / relative).unlink(missing_ok=True)
            self.record.pop(relative, None)
        self.borrowed = []

    # -- jobs and the ledger -------------------------------------------------------------

    def job_marker(self, job: str) -> dict[str, Any] | None:
        found = self.store.get(f"{JOBS}/{job}.json")
        if found is None:
            return None
        try:
            marker = json.loads(found[0])
        except ValueError:
            return None
        return marker if isinstance(marker, dict) and marker.get("capture_id") else None

    def forget_job(self, job: str) -> None:
        self.store.delete(f"{JOBS}/{job}.json")
        self.record.pop(f"{JOBS}/{job}.json", None)

    def in_ledger(self, capture_id: str) -> bool:
        """Whether the folder's copy of the store's ledger holds the capture's manifest:
        looked for where its chain puts it (the store's manifest read when the folder
        has none), then in the whole ledger."""
        from ..seal import merkle
        from ..seal.ledger import Ledger

        path = self.root / "manifests" / f"{capture_id}.json"
        try:
            data: bytes | None = path.read_bytes()
        except FileNotFoundError:
            found = self.store.get(f"manifests/{capture_id}.json")
            data = found[0] if found is not None else None
        if data is None:
            return False
        leaf_hash, ledger = merkle.leaf_hash(data), Ledger(self.root / "manifests")
        try:
            sequence = json.loads(data)["chain"]["sequence"]
        except (ValueError, KeyError, TypeError):
            sequence = None
        if isinstance(sequence, int) and sequence >= 1:
            leaf = ledger.leaf_at(sequence - 1)
            if leaf is not None and (leaf.capture_id, leaf.hash) == (capture_id, leaf_hash):
                return True
        return any((leaf.capture_id, leaf.hash) == (capture_id, leaf_hash)
                   for leaf in ledger.iter_leaves())
