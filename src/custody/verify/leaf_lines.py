"""The lines of the ledger's leaves file, as verify reads them in groups: each a
capture's leaf, or a line that is no capture's (a copy of an earlier line, or not a
leaf line at all), which is named as what it is rather than taken for a capture.
"""

from __future__ import annotations

import re

from ..core.archive import Archive


def leaves_of(archive: Archive, first: int, offset: int, count: int
              ) -> list[tuple[int | None, str, bytes | None]]:
    """The leaves ``first``..``first + count - 1``, their lines from ``offset`` on:
    position, capture id, leaf hash (None: a line not a leaf). A line that names no
    capture, or repeats an earlier leaf, is no capture's: it comes back with the capture
    id "" and, for its leaf, what it is."""
    found: list[tuple[int | None, str, bytes | None]] = []
    path = archive.manifests_dir / "ledger" / "leaves"
    with open(path, "rb") as fh:
        fh.seek(offset)
        for position in range(first, first + count):
            raw = fh.readline()
            parts = raw.decode("ascii", "replace").split()
            stray = _stray(archive, position, parts)
            if stray is not None:
                found.append((position, "", stray.encode()))
                continue
            try:
                found.append((position, parts[1], bytes.fromhex(parts[2])))
            except (IndexError, ValueError):
                found.append((position, parts[1] if len(parts) > 1 else f"leaf-{position}",
                              None))
    return found


_LEAF_LINE = re.compile(r"[0-9]+ [0-9A-Za-z][0-9A-Za-z._-]{0,127} [0-9a-f]{64}")


def _stray(archive: Archive, position: int, parts: list[str]) -> str | None:
    """What a leaves line is when it is no capture's leaf: not a leaf line, and naming no
    manifest there is; or a repeat of the earlier leaf its number names (a copy appended
    or inserted). None for any other line, which is judged as its capture's."""
    from ..seal.ledger import Ledger

    if not _LEAF_LINE.fullmatch(" ".join(parts)) or len(parts) != 3:
        named = len(parts) > 1 and (archive.manifests_dir / f"{parts[1]}.json").is_file() \
            and ".." not in parts[1] and "/" not in parts[1]
        return None if named else (f"line {position + 1} is not a leaf line "
                                   f"({' '.join(parts)[:60]!r})")
    number = int(parts[0])
    if number >= position:
        return None
    earlier = Ledger(archive.manifests_dir).leaf_at(number)
    if earlier is None or earlier.capture_id != parts[1] or earlier.hash.hex() != parts[2]:
        return None
    return (f"line {position + 1} repeats leaf {number} ({parts[1]}): a copy of a line, "
            "no capture's leaf")
