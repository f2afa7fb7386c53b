"""The archive root: where WARC files, manifests, the database and allowed_signers live.

Every path custody records is relative to the root, so an archive folder that is
copied or moved still verifies. Writers hold an exclusive lock on the root for
the whole of a capture, so the hash chain has one writer at a time.
"""

from __future__ import annotations

import fcntl
import getpass
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import signing
from .errors import ArchiveError, ArchiveLocked

SIGNERS = "allowed_signers"


def default_operator() -> str:
    env = os.environ.get("CUSTODY_OPERATOR")
    if env:
        return env
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

    def add_signer(self, principal: str, key: signing.Ed25519PublicKey) -> bool:
        """Add the key to allowed_signers unless it is there already."""
        known = signing.read_allowed_signers(self.allowed_signers)
        blob = signing.public_key_blob(key)
        if any(signing.public_key_blob(s.public_key) == blob for s in known):
            return False
        line = signing.allowed_signers_line(principal, key, signing.MANIFEST_NAMESPACE)
        with open(self.allowed_signers, "a", encoding="utf-8") as fh:
            fh.write(line)
        return True

    def principal_for(self, key: signing.Ed25519PublicKey) -> str | None:
        blob = signing.public_key_blob(key)
        for signer in signing.read_allowed_signers(self.allowed_signers):
            if signing.public_key_blob(signer.public_key) == blob:
                return signer.principals[0]
        return None

    @contextmanager
    def lock(self) -> Iterator[None]:
        path = self.root / ".custody.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise ArchiveLocked(
                    "another custody process is writing to this archive", where=str(self.root)
                ) from exc
            yield
        finally:
            os.close(fd)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()
