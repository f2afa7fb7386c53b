"""A line an interrupted append left half written, found and cut from a file's end."""

from __future__ import annotations

import os
from pathlib import Path


def tail_torn(path: Path) -> int:
    """Bytes after a file's last newline: a line an interrupted append left half written
    (0: none). Read from the end, whatever the file's size."""
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, 2)
            position = end
            while position > 0:
                step = min(65536, position)
                position -= step
                fh.seek(position)
                block = fh.read(step)
                cut = block.rfind(b"\n")
                if cut >= 0:
                    return end - (position + cut + 1)
            return end
    except FileNotFoundError:
        return 0


def cut_torn(path: Path) -> int:
    """Cut a torn last line off (it never held a whole line); the bytes cut."""
    torn = tail_torn(path)
    if torn:
        with open(path, "r+b") as fh:
            fh.truncate(fh.seek(0, 2) - torn)
            os.fsync(fh.fileno())
    return torn
