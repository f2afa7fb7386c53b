"""The archive root: where WARC files, manifests, the database and allowed_signers live.

Every path custody records is relative to the root, so an archive folder that is
copied or moved still verifies. Writers hold an exclusive lock on the root for
the whole of a capture, so the hash chain has one writer at a time.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ArchiveError, ArchiveLocked

if TYPE_CHECKING:  # cryptography loads slowly, and most commands open an archive without keys
    from . import sshsig

SIGNERS = "allowed_signers"
WRITER_LOCK = ".custody.lock"
SNAPSHOT_LOCK = ".custody.seal.lock"
LOCK_WAIT = 3.0  # seconds a writer waits for the lock before it says another one holds it


_sealing: dict[Path, bool] = {}  # roots whose sealing lock this process holds


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


@dataclass(frozen=True)
class Archive:
    root: Path

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
        path = self.root / WRITER_LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + LOCK_WAIT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError as exc:
                    if time.monotonic() >= deadline:
                        raise ArchiveLocked("another custody process is writing to this "
                                            "archive", where=str(self.root)) from exc
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)

    @contextmanager
    def sealing(self) -> Iterator[None]:
        """Held, inside the writer's lock, while sealed state changes (manifests, tokens,
        the ledger, the log, allowed_signers, the database): readers wait for it, so that
        verify never sees a seal half done."""
        if _sealing.get(self.root):  # already held here: a lock taken twice would wait forever
            yield
            return
        fd = os.open(self.root / SNAPSHOT_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _sealing[self.root] = True
            yield
        finally:
            _sealing.pop(self.root, None)
            os.close(fd)

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
