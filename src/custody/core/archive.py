"""The archive root: where WARC files, manifests, the database and allowed_signers live.

Every path custody records is relative to the root, so an archive folder that is
copied or moved still verifies. Writers hold an exclusive lock on the root for
the whole of a capture, so the hash chain has one writer at a time.

A queue worker (custody.queue) is one of many writers sharing a root: it runs in a
``lane`` of its own, holding the writer's lock shared (so no plain command writes
meanwhile) and its lane's lock alone; what orders the seals of all lanes is the
``shared`` sealing it is given, a lock every worker on every machine takes around the
sealing lock, with a fence checked before each manifest and ledger leaf is written.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .errors import ArchiveError, ArchiveLocked

if TYPE_CHECKING:  # cryptography loads slowly, and most commands open an archive without keys
    from . import sshsig

SIGNERS = "allowed_signers"
WRITER_LOCK = ".custody.lock"
SNAPSHOT_LOCK = ".custody.seal.lock"
LOCK_WAIT = 3.0  # seconds a writer waits for the lock before it says another one holds it


_sealing: dict[Path, bool] = {}  # roots whose sealing lock this process holds
_lanes: set[tuple[Path, str]] = set()  # the lanes whose locks this process holds


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def default_key_path() -> Path:
    """The archivist's private key: outside the archive, so that an archive can be handed
    over without it (``CUSTODY_KEY`` names another)."""
    override = os.environ.get("CUSTODY_KEY")
    if override:
        return Path(override).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "custody" / "id_ed25519"


def default_operator() -> str:
    env = os.environ.get("CUSTODY_OPERATOR")
    if env:
        return env
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "archivist"
    return f"{user}@{socket.gethostname()}"


class SharedSealing(Protocol):
    """The seal order of many writers (custody.queue.sealing): ``held()`` around every
    change to sealed state; ``fence(point)`` just before a write that cannot be undone
    (a manifest's rename, a ledger leaf), raising when this writer no longer holds it."""

    def held(self) -> AbstractContextManager[None]: ...

    def fence(self, point: str, capture_id: str) -> None: ...


@dataclass(frozen=True)
class Archive:
    root: Path
    lane: str | None = None  # a queue worker's name: its own lock, beside the others'
    shared: SharedSealing | None = field(default=None, compare=False)
    # the folder is a working copy of an archive in an object store (custody.store): its
    # ledger and log are the store's, its manifests only those sealed here
    mirrored: bool = False

    @property
    def archive_dir(self) -> Path:
        return self.root / "archive"

    @property
    def manifests_dir(self) -> Path:
        return self.root / "manifests"

    @property
    def db_path(self) -> Path:
        return self.root / "custody.db"

    @property
    def allowed_signers(self) -> Path:
        return self.root / SIGNERS

    @staticmethod
    def resolve_root(root: str | os.PathLike[str] | None) -> Path:
        chosen = root or os.environ.get("CUSTODY_ROOT") or "."
        return Path(chosen).expanduser().resolve()

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None) -> Archive:
        path = cls.resolve_root(root)
        archive = cls(path)
        if not archive.manifests_dir.is_dir() or not archive.allowed_signers.is_file():
            raise ArchiveError("not a custody archive (run `custody init` there)", where=str(path))
        return archive

    @classmethod
    def create(cls, root: str | os.PathLike[str] | None = None) -> Archive:
        path = cls.resolve_root(root)
        if path.exists() and not path.is_dir():
            raise ArchiveError("exists and is not a folder", where=str(path))
        archive = cls(path)
        for folder in (path, archive.archive_dir, archive.manifests_dir):
            folder.mkdir(parents=True, exist_ok=True)
        archive.allowed_signers.touch(exist_ok=True)
        return archive

    def add_signer(self, principal: str, key: sshsig.Ed25519PublicKey) -> bool:
        """Add the key to allowed_signers unless it is there already."""
        from . import allowed_signers, sshsig

        known = allowed_signers.read_allowed_signers(self.allowed_signers)
        blob = sshsig.public_key_blob(key)
        if any(sshsig.public_key_blob(s.public_key) == blob for s in known):
            return False
        from .atomic import write_atomic

        line = allowed_signers.allowed_signers_line(principal, key, sshsig.ARCHIVIST_NAMESPACES)
        before = self.allowed_signers.read_bytes() if self.allowed_signers.exists() else b""
        if before and not before.endswith(b"\n"):
            before += b"\n"
        write_atomic(self.allowed_signers, before + line.encode())
        return True

    def principal_for(self, key: sshsig.Ed25519PublicKey) -> str | None:
        from . import allowed_signers, sshsig

        blob = sshsig.public_key_blob(key)
        for signer in allowed_signers.read_allowed_signers(self.allowed_signers):
            if sshsig.public_key_blob(signer.public_key) == blob:
                return signer.principals[0]
        return None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The writer's lock, held for a whole command that writes: one writer at a time.
        Taken within LOCK_WAIT seconds or refused: a reader asking whether a capture runs
        (writer_active) holds it for an instant, and verify logging its event for a
        moment; only a writer still there after that is another command writing."""
        if self.lane is not None:
            if (self.root, self.lane) in _lanes:  # the worker holds it for its whole run
                yield
                return
            with self._lane_lock():
                _lanes.add((self.root, self.lane))
                try:
                    yield
                finally:
                    _lanes.discard((self.root, self.lane))
            return
        with self._flock(self.root / WRITER_LOCK, fcntl.LOCK_EX):
            yield

    @contextmanager
    def _flock(self, path: Path, mode: int, wait: float = LOCK_WAIT,
               held_by: str = "another custody process is writing to this archive (a "
                              "capture, an import, or queue workers, which hold it while "
                              "they run)"
               ) -> Iterator[None]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError as exc:
                    if time.monotonic() >= deadline:
                        raise ArchiveLocked(held_by, where=str(self.root)) from exc
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)

    @contextmanager
    def _lane_lock(self) -> Iterator[None]:
        """A worker's locks: the writer's lock shared with the other workers (a plain
        command that writes waits for all of them), and its lane's alone."""
        lanes = self.root / ".custody" / "lanes"
        lanes.mkdir(parents=True, exist_ok=True)
        with self._flock(self.root / WRITER_LOCK, fcntl.LOCK_SH,
                         held_by="a custody command is writing to this archive"), \
                self._flock(lanes / f"{self.lane}.lock", fcntl.LOCK_EX, wait=0.0,
                            held_by=f"a worker named {self.lane} already runs here"):
            yield

    @contextmanager
    def sealing(self) -> Iterator[None]:
        """Held, inside the writer's lock, while sealed state changes (manifests, tokens,
        the ledger, the log, allowed_signers, the database): readers wait for it, so that
        verify never sees a seal half done."""
        if _sealing.get(self.root):  # already held here: a lock taken twice would wait forever
            yield
            return
        with self.shared.held() if self.shared is not None else _nothing():
            fd = os.open(self.root / SNAPSHOT_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                _sealing[self.root] = True
                yield
            finally:
                _sealing.pop(self.root, None)
                os.close(fd)

    def fence(self, point: str, capture_id: str) -> None:
        """Before a write no one may undo: with many writers, check this one still holds
        the seal order (custody.queue raises when it does not); alone, nothing to do."""
        if self.shared is not None:
            self.shared.fence(point, capture_id)

    @contextmanager
    def snapshot(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """A reader's view that no seal changes while it is held (a shared lock). An
        archive that cannot be written to has no writer, and nothing to wait for."""
        path = self.root / SNAPSHOT_LOCK
        try:
            fd = os.open(path, os.O_RDONLY if path.exists() else os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            yield
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def writer_active(self) -> bool:
        """Whether a custody process holds the writer's lock now (a capture is running)."""
        try:
            fd = os.open(self.root / WRITER_LOCK, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()
