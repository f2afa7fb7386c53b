"""Scratch folders in the system's temporary folder -- replay's pywb collections, serve's
Datasette settings, a browser capture's certificate keys, yt-dlp's files -- that outlive
nothing but their owner.

A custody killed outright (kill -9, the OOM killer, a power cut) removes nothing, so each
folder is named for its owner: ``<prefix><pid>.<start>-<random>``, where ``start`` is
when that process began (``/proc/<pid>/stat``, in clock ticks since boot), and the next
custody to make a folder with the same prefix removes those whose owner is gone. The
start time tells a dead owner from a new process that was given its pid since; where
it cannot be read (not Linux), the pid alone is asked. A folder whose name names no
owner is left alone: it is not known to be abandoned.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def started(pid: int) -> str | None:
    """When process ``pid`` began, in clock ticks since boot; None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces
    return fields[19] if len(fields) > 19 and fields[19].isascii() and \
        fields[19].isdigit() else None


def alive(pid: int, start: str | None = None) -> bool:
    """Whether process ``pid`` runs, and is the one that began at ``start`` if given."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        pass
    if start is None:
        return True
    now = started(pid)
    return now is None or now == start


def owner(name: str, prefix: str) -> tuple[int, str | None] | None:
    """The pid and start time a folder's name gives, or None when it names no owner."""
    head = name[len(prefix):].split("-", 1)[0]
    pid, _, start = head.partition(".")
    if not (pid.isascii() and pid.isdigit()):
        return None
    return int(pid), (start if start.isascii() and start.isdigit() else None)


def remove_abandoned(prefix: str) -> list[Path]:
    """Remove the folders of this prefix whose owner is gone; those removed."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(prefix + "*"):
        found = owner(folder.name, prefix)
        if found is None or not folder.is_dir() or folder.is_symlink():
            continue
        if not alive(*found):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def make(prefix: str) -> Path:
    """A new folder (mode 0700) owned by this process, after removing abandoned ones."""
    remove_abandoned(prefix)
    pid = os.getpid()
    start = started(pid)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{pid}{'.' + start if start else ''}-"))
    folder.chmod(0o700)
    return folder


@contextmanager
def folder(prefix: str) -> Iterator[Path]:
    """A scratch folder for the length of the block, removed after it."""
    made = make(prefix)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)
