"""Tags on captures: each ``tagged`` and ``untagged`` a signed event; custody.db's ``tags``
holds those standing. Tags are the same whatever their case or spacing ("Weapons" and
"weapons" are one tag, shown as first written on the capture)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.archive import Archive
from ..core.errors import UsageError
from ..index.annotation import fold
from . import rules
from .recording import Recorded, Signer, reading, record, require_captures


@dataclass(frozen=True)
class Tag:
    capture_id: str
    tag: str
    at: str | None  # when it was put on
    who: str | None
    account: str | None


@dataclass(frozen=True)
class TagCount:
    tag: str
    captures: int


def tag_capture(archive: Archive, capture_id: str, tag: str, *, signer: Signer) -> Recorded:
    (cid,) = require_captures(archive, [capture_id])
    text = rules.tag(tag)
    if any(fold(t.tag) == fold(text) for t in tags_of(archive, cid)):
        raise UsageError("the capture has this tag already", where=f"{cid} {text!r}")
    recorded = record(archive, signer, "tagged", {"capture_id": cid, "tag": text})
    return recorded


def untag_capture(archive: Archive, capture_id: str, tag: str, *, signer: Signer) -> Recorded:
    (cid,) = require_captures(archive, [capture_id])
    text = rules.tag(tag)
    standing = [t.tag for t in tags_of(archive, cid) if fold(t.tag) == fold(text)]
    if not standing:
        raise UsageError("the capture has no such tag", where=f"{cid} {text!r}")
    recorded = record(archive, signer, "untagged", {"capture_id": cid, "tag": standing[0]})
    return recorded


def tags_of(archive: Archive, capture_id: str) -> list[Tag]:
    with reading(archive) as conn:
        rows = conn.execute("SELECT capture_id, tag, at, who, account FROM tags WHERE "
                            "capture_id = ? ORDER BY seq", [capture_id]).fetchall()
    return [Tag(*row) for row in rows]


def all_tags(archive: Archive) -> list[TagCount]:
    """Every tag in use, with how many captures bear it, the most used first."""
    with reading(archive) as conn:
        rows = conn.execute("SELECT min(tag), count(*) FROM tags GROUP BY tag_key "
                            "ORDER BY count(*) DESC, tag_key").fetchall()
    return [TagCount(*row) for row in rows]
