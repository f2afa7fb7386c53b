"""A worker's archive folder as a working copy of an archive kept in an object store.

The store holds the archive, object for file, at the same relative paths as a folder:
``archive/…warc.gz``, ``manifests/ID.json`` and what vouches for it,
``manifests/ledger/…``, ``allowed_signers``. A worker seals in its own folder and
sends the seal to the store, all under the queue's seal lock:

1. ``begin()``: the shared files (the ledger, its checkpoint, the custody log,
   allowed_signers, custody.toml) are made the store's, and what an earlier holder of the
   lock left half sent is settled (below);
2. the capture is sealed in the folder, as on a disk of its own;
3. ``commit()``: a note of intent (``.custody/store/sealing.json``, naming the captures
   and their jobs), the job markers (which capture each job became), then each new
   capture's files with its manifest last, new checkpoints, then the ledger's leaves --
   written only over the very version read in step 1 (``If-Match``), which is the commit
   point: a second writer, or one that lost the lock while paused, is refused by the
   store -- then the checkpoint, the log and allowed_signers, and last the note is
   removed.

A note of intent found in step 1 means a holder died mid-send. Each capture it names
whose manifest reached the store (sent last, so all else did too) is kept: its files
are fetched and ``adopt`` completes its ledger leaf, checkpoint and log event. One whose
manifest did not is not sealed (no manifest names its files): its objects are removed.

``.custody/store.json`` records, for each file sent or fetched, the object's ETag and
the file's size and mtime, so an unchanged file is neither sent nor fetched again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from ..core import faults
from ..core.atomic import write_atomic
from ..core.errors import UsageError
from .s3 import UNCHANGED, ShortObject, Store

SHARED = ("allowed_signers", "custody.toml", "manifests/ledger/origin",
          "manifests/ledger/leaves", "manifests/ledger/checkpoint",
          "manifests/ledger/checkpoint.sig", "manifests/ledger/log.jsonl")
LEAVES = "manifests/ledger/leaves"
ORIGIN = "manifests/ledger/origin"  # the ledger's name, made by the first seal
LOG = "manifests/ledger/log.jsonl"
_LOG_OVERLAP = 4096  # bytes of the log's end fetched again, to see that it continues there
EVERY_SEAL = (LEAVES, "manifests/ledger/checkpoint", "manifests/ledger/checkpoint.sig", LOG)
INTENT = ".custody/store/sealing.json"
JOBS = ".custody/jobs"
CHECKPOINTS = "manifests/ledger/checkpoints"


def leaf_ids(data: bytes) -> list[str]:
    return [line.split()[1] for line in data.decode("ascii").splitlines() if line.strip()]


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


class Mirror:
    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root
        self.record_path = root / ".custody" / "store.json"
        self.record: dict[str, list[Any]] = {}
        self.role = ""
        self.of = str(store.url)
        if self.record_path.exists():
            saved = json.loads(self.record_path.read_text())
            self.record = saved.get("files", {})
            self.role, self.of = saved.get("role", ""), saved.get("store", self.of)
        self.pulled: dict[str, str | None] = {}  # ETag of each shared object at begin()
        self.leaves_at_begin: list[str] = []
        self.adopted: list[str] = []
        self.borrowed: list[str] = []  # others' manifest files fetched to adopt them
        self._pool: Any = None

    # -- the record ----------------------------------------------------------------------

    def save(self) -> None:
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        saved = {"store": self.of, "role": self.role, "files": self.record}
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

    # -- the store's state ---------------------------------------------------------------

    def seeded(self) -> bool:
        return self.store.head("allowed_signers") is not None

    def seed(self) -> int:
        """Send a whole folder archive to an empty store; the objects sent."""
        sent = 0
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root).as_posix()
            if not path.is_file() or relative.startswith(".") or "/." in relative or \
                    relative.startswith("custody.db"):
                continue
            self.note(relative, self.store.upload(path, relative))
            sent += 1
        self.save()
        return sent

    def begin(self, adopt: Callable[[str], bool]) -> None:
        """Make the folder's shared files the store's; settle what a holder that died
        mid-send left (``adopt`` completes the publication of a capture it had sent).
        What only an administrator changes (allowed_signers, custody.toml, the ledger's
        origin) is read at the first seal; the rest at each, in parallel."""
        wanted = [r for r in SHARED if r in EVERY_SEAL or not self.pulled or
                  (r == ORIGIN and self.pulled.get(r) is None)]
        *etags, intent = self._parallel([*(partial(self._fetch_shared, r) for r in wanted),
                                         partial(self.store.get, INTENT)])
        self.pulled.update(zip(wanted, etags, strict=True))
        self.leaves_at_begin = self._leaves()
        self.adopted = []
        if intent is not None:
            self._settle(json.loads(intent[0]), adopt)
        self.save()

    def _parallel(self, calls: list[Callable[[], Any]]) -> list[Any]:
        """The calls' results, the calls made at once (each a request to the store)."""
        if len(calls) <= 1:
            return [call() for call in calls]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="store")
        return [future.result() for future in [self._pool.submit(c) for c in calls]]

    def _fetch_shared(self, relative: str) -> str | None:
        target = self.root / relative
        known = self.record.get(relative)
        current = known[0] if known is not None and self.unchanged(relative) else None
        if relative == LOG and current is not None:
            grown = self._fetch_log_tail(current)
            if grown is not None:
                return grown
        found = self.store.get(relative, unless_etag=current)
        if found is not None and current is not None and found == (UNCHANGED, current):
            return current  # as this folder last had it
        if found is None:
            if target.exists():  # never in the store: this folder's alone, not sealed
                self._put_aside(relative)
            self.record.pop(relative, None)
            return None
        data, etag = found
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
        self.note(relative, etag)
        return etag

    def _fetch_log_tail(self, current: str) -> str | None:
        """Of a custody log changed since this folder had it, only what follows this one's
        end, fetched from a little before it (the bytes both hold must match, and the
        whole must have the store's MD5); its ETag. None: the whole log is to be fetched
        (the store's does not continue this one)."""
        target = self.root / LOG
        held = target.read_bytes()
        overlap = min(len(held), _LOG_OVERLAP)
        if not overlap:
            return None
        try:
            found = self.store.get(LOG, unless_etag=current, start=len(held) - overlap)
        except ShortObject:
            found = None
        if found is None:
            return None
        data, etag = found
        if (data, etag) != (UNCHANGED, current):
            grown = held + data[overlap:]
            if data[:overlap] != held[len(held) - overlap :] or \
                    etag.strip('"') != hashlib.md5(grown, usedforsecurity=False).hexdigest():
                return None  # (the store's ETag of a log, sent whole, is its bytes' MD5)
            write_atomic(target, grown)
            self.note(LOG, etag)
        return etag

    def _leaves(self) -> list[str]:
        path = self.root / LEAVES
        return leaf_ids(path.read_bytes()) if path.exists() else []

    def _put_aside(self, relative: str) -> None:
        aside = self.root / ".custody" / "store" / "not-sent" / relative
        aside.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.root / relative), str(aside))

    def _settle(self, intent: dict[str, Any], adopt: Callable[[str], bool]) -> None:
        """``adopt`` publishes a capture sent whole (its manifest is in the store) when it
        is the next in the chain, and says whether it was; one that is not (sent by a
        writer that had lost the lock) is not sealed, like one sent in part."""
        in_ledger = set(self.leaves_at_begin)
        jobs = {capture: job for job, capture in intent.get("jobs", {}).items()}
        for capture_id, files in intent.get("captures", {}).items():
            manifest = f"manifests/{capture_id}.json"
            if capture_id in in_ledger or self.store.head(manifest) is not None:
                for relative in files:
                    if relative.startswith("manifests/") and not (self.root / relative).exists():
                        self.note(relative, self.store.download(relative, self.root / relative))
                        self.borrowed.append(relative)
                if adopt(capture_id):  # (one in the ledger: whatever of its seal is missing)
                    self.adopted.append(capture_id)
                    continue
            for relative in files:  # not sealed: no ledger leaf names these objects
                self.store.delete(relative)
                if (self.root / relative).exists() and capture_id not in in_ledger:
                    self._put_aside(relative)
            if capture_id in jobs:
                self.forget_job(jobs[capture_id])
        if not self.adopted:
            self.store.delete(INTENT)
            self._return_borrowed()

    def _logged(self, capture_id: str) -> bool:
        """Whether the pulled custody log holds the capture's `captured` event (its
        checkpoint and event are what a holder that died after the leaves had left)."""
        path = self.root / "manifests" / "ledger" / "log.jsonl"
        needle = f'"capture_id":"{capture_id}"'.encode()
        with open(path, "rb") as fh:
            return any(needle in line and b'"event":"captured"' in line for line in fh)

    # -- sending -------------------------------------------------------------------------

    def new_captures(self) -> list[str]:
        before = set(self.leaves_at_begin)
        return [c for c in self._leaves() if c not in before or c in self.adopted]

    def commit(self) -> list[str]:
        """Send what was sealed since ``begin()``; the captures sent. Raises Conflict when
        the store's ledger is no longer the one read then."""
        captures = self.new_captures()
        shared = [r for r in SHARED if (self.root / r).exists() and not self.unchanged(r)]
        if not captures and not shared:
            return []
        files = {c: capture_files(self.root, c) for c in captures}
        markers = self._markers(set(captures))
        if captures:
            intent = {"captures": files, "jobs": markers}
            self.store.put(INTENT, json.dumps(intent).encode())
        # the job markers (which capture each job became), the captures' files but their
        # manifests, new checkpoints: at once; then the manifests, sent last
        names = [f for group in files.values() for f in group
                 if (self.root / f).exists() and not self.unchanged(f)]  # (an adopted
        # capture's WARC files are not here: they are in the store already)
        last = {f"manifests/{c}.json" for c in captures}
        self._parallel([partial(self._send, r) for r in
                        [*(f"{JOBS}/{job}.json" for job in markers),
                         *(n for n in names if n not in last), *self._new_checkpoints()]])
        self._parallel([partial(self._send, r) for r in names if r in last])
        faults.after("store.capture")
        if LEAVES in shared:  # the commit point
            self._put_shared(LEAVES)
        self._parallel([partial(self._put_shared, r) for r in shared if r != LEAVES])
        if captures:
            self.store.delete(INTENT)
        self._return_borrowed()
        self.save()
        self.leaves_at_begin = self._leaves()
        self.adopted = []
        return captures

    def _return_borrowed(self) -> None:
        """Another's manifest files, fetched to adopt its capture, go once it is published."""
        for relative in self.borrowed:
            (self.root / relative).unlink(missing_ok=True)
            self.record.pop(relative, None)
        self.borrowed = []

    def _put_shared(self, relative: str) -> None:
        data = (self.root / relative).read_bytes()
        etag = self.pulled.get(relative)
        self.note(relative, self.store.put(relative, data, if_etag=etag,
                                            if_absent=etag is None))
        faults.after(f"store.{relative.rsplit('/', 1)[-1]}")

    def _send(self, relative: str) -> None:
        self.note(relative, self.store.upload(self.root / relative, relative))

    def _markers(self, captures: set[str]) -> dict[str, str]:
        folder = self.root / JOBS
        found = {}
        for path in folder.glob("*.json") if folder.is_dir() else []:
            try:
                marker = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if marker.get("capture_id") in captures and path.stem == marker.get("job"):
                found[path.stem] = str(marker["capture_id"])
        return found

    def _new_checkpoints(self) -> Iterable[str]:
        folder = self.root / CHECKPOINTS
        if not folder.is_dir():
            return []
        names = (f"{CHECKPOINTS}/{p.name}" for p in folder.iterdir()
                 if not p.name.startswith("."))
        return sorted(n for n in names if not self.unchanged(n))

    # -- jobs ----------------------------------------------------------------------------

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
        return capture_id in self._leaves()
