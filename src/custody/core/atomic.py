"""Writes that are all or nothing: a temporary name, fsync, rename, fsync of the folder.

A crash leaves either the old file or the new one, never half of the new; a reader
never sees a file being written (temporary names start with a dot).
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or removal in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int | None = None,
                 folder_synced: bool = True) -> None:
    """Write ``data`` to ``path``, all or nothing (``mode``: created with these
    permissions, never readable by others meanwhile). ``folder_synced=False`` leaves the
    rename to the file system's own time: for what is derived, and made again when a
    crash loses it (the file's bytes are synced before the rename all the same, so it
    is never seen half written)."""
    tmp = path.with_name(f".{path.name}.tmp")
    if mode is not None:
        tmp.unlink(missing_ok=True)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    if folder_synced:
        fsync_dir(path.parent)


def replace_durably(source: Path, target: Path) -> None:
    """Rename ``source`` (written and fsynced already) to ``target``, durably."""
    os.replace(source, target)
    fsync_dir(target.parent)
