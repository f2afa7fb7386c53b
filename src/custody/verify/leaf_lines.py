"""The lines of the ledger's leaves file, as verify reads them in groups: each a
capture's leaf; or a line that is no capture's (not a leaf line at all, naming no
manifest), which is named as what it is rather than taken for a capture.

A line whose own number is not its place in the file (one inserted, removed or copied
before it, or lines swapped) is still its capture's: the capture is checked at the place
its line and its manifest agree on, and the file's numbering is the ledger check's to
fail. A line that is byte for byte the line at the place its number names is a copy of
that line, and no capture's.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..core.archive import Archive

GROUP = 64  # lines a group job reads (verify/whole.py cuts the file so)


class Place(NamedTuple):
    position: int | None  # its line's place in the file (None: sealed, not in the ledger)
    capture_id: str  # "" for a line that is no capture's
    leaf: bytes | None  # the leaf hash it holds (None: not a leaf line); or what it is
    number: int | None = None  # the number the line gives itself
    raw: bytes = b""


def leaves_of(archive: Archive, first: int, offset: int, count: int) -> list[Place]:
    """The lines ``first``..``first + count - 1`` of the leaves file, from ``offset``."""
    found: list[Place] = []
    path = archive.manifests_dir / "ledger" / "leaves"
    with open(path, "rb") as fh:
        fh.seek(offset)
        for position in range(first, first + count):
            raw = fh.readline()
            parts = raw.decode("ascii", "replace").split()
            stray = _stray(archive, position, parts)
            if stray is not None:
                found.append(Place(position, "", stray.encode()))
                continue
            number = int(parts[0]) if parts and parts[0].isdigit() else None
            cid = parts[1] if len(parts) > 1 else f"leaf-{position}"
            try:
                found.append(Place(position, cid, bytes.fromhex(parts[2]), number, raw))
            except (IndexError, ValueError):
                found.append(Place(position, cid, None, number, raw))
    return found


def line_at(archive: Archive, starts: list[int], position: int) -> bytes | None:
    """The line at ``position`` of the leaves file, found from the offsets at which its
    groups of GROUP lines start (``starts``); None when there is no such line."""
    if not 0 <= position < len(starts) * GROUP:
        return None
    with open(archive.manifests_dir / "ledger" / "leaves", "rb") as fh:
        fh.seek(starts[position // GROUP])
        for _ in range(position % GROUP):
            fh.readline()
        line = fh.readline()
    return line if line.endswith(b"\n") else None


_LEAF_LINE = re.compile(r"[0-9]+ [0-9A-Za-z][0-9A-Za-z._-]{0,127} [0-9a-f]{64}")


def _stray(archive: Archive, position: int, parts: list[str]) -> str | None:
    """What a leaves line is when it is no capture's: not a leaf line, and naming no
    manifest there is. None for any other line, which is judged as its capture's."""
    if _LEAF_LINE.fullmatch(" ".join(parts)):
        return None
    named = len(parts) > 1 and ".." not in parts[1] and "/" not in parts[1] and \
        (archive.manifests_dir / f"{parts[1]}.json").is_file()
    return None if named else (f"line {position + 1} is not a leaf line "
                               f"({' '.join(parts)[:60]!r})")
