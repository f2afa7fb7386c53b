"""Where a command writes what it hands over -- an export, a report, a bundle: under a
hidden name beside its place, given its name only once the custody log records it.

So a command killed at any instant leaves no finished copy that the log does not
record: before its event, only the hidden ``.NAME.custody-partial``, which the next
attempt at the same place removes; after its event, the copy it records. The event
names the copy's sha256 (a file's; a bundle's SHA256SUMS), so that the log says which
bytes were handed over.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import UsageError
from .common import log_event


def partial_of(target: Path) -> Path:
    return target.with_name(f".{target.name}.custody-partial")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def handed_over(target: Path, *, folder: str = "") -> Iterator[Path]:
    """The hidden path to write to; when the block ends without an error (its event
    logged inside it), the copy takes ``target``'s name, never over anything there.
    ``folder``: what the copy is called when it is a folder ("the bundle folder").
    Should the copy not take its name once its event is logged, it is kept where it
    is, and the error says where: the log never names a copy that was deleted."""
    target = Path(os.path.abspath(target))  # "." and "" name the folder they stand for
    if target.is_symlink():
        raise UsageError("is a symbolic link: name the place itself", where=str(target))
    if folder:
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise UsageError(f"{folder} exists and is not empty", where=str(target))
    elif target.is_dir():
        raise UsageError("is a folder: name a file in it", where=str(target))
    elif target.exists():
        raise UsageError("the file exists: name another (nothing was overwritten)",
                         where=str(target))
    partial = partial_of(target)
    _remove(partial)  # what an attempt killed before its event left
    try:
        yield partial
    except BaseException:
        _remove(partial)
        raise
    try:
        if folder:
            if target.is_dir() and not target.is_symlink():
                target.rmdir()  # empty: checked above, and again here by rmdir
            os.rename(partial, target)
        else:
            try:
                os.link(partial, target)  # fails, rather than replace, if one appeared
            except FileExistsError:
                raise
            except OSError:  # a file system without hard links
                if target.exists() or target.is_symlink():
                    raise FileExistsError(target) from None
                os.rename(partial, target)
            else:
                partial.unlink()
    except OSError as exc:
        why = "something else took its name meanwhile" if isinstance(
            exc, FileExistsError) else (exc.strerror or str(exc))
        raise UsageError(f"the copy, its hand-over logged, is kept at {partial}: it could "
                         f"not take its name ({why})", where=str(target)) from None


def digest(path: Path) -> str:
    """sha256 of a file (a bundle: of its SHA256SUMS)."""
    from ..warc.scan import file_sha256

    return file_sha256(path / "SHA256SUMS" if path.is_dir() else path)[1]


def logged(archive: object, event: str, details: dict[str, object]) -> None:
    """The hand-over's event in the custody log, its copy written and still unnamed (the
    fault point ``handover.written`` is that instant, for the crash tests)."""
    from ..core import faults

    faults.after("handover.written")
    log_event(archive, event, details)
