"""The store's commit object, ``manifests/ledger/head.json``: one small JSON object that
says what the store's archive is, so that a reader sees one consistent state.

S3 has no append. The ledger's leaves and the custody log grow one line at a time, so
the store keeps each as immutable pieces of a fixed number of lines (pieces.py): the
full ones at names of their own, written once; the lines past them in objects named by
the writer that made them, never written twice. The head names, for each of the two:

- ``lines`` and ``bytes``: how far it goes;
- ``full``: how many full pieces have their own objects, and ``chain``, a hash over
  them in order (each link ``sha256(previous || sha256(piece))``), so that the head
  commits every byte of them without listing them;
- ``tail``: the objects that hold the lines past them, in order, each with its sha256.

It names the tiles the same way (the full ones under ``tile/`` at their C2SP paths;
those not written there yet, and the partial ones, as objects of their writer), and it
carries the signed checkpoint, its SSH signature and the custody log's signed head,
which would otherwise be objects rewritten at every seal, and the files of the
checkpoints' history that the last seal made (``checkpoints/N`` and its RFC 3161
tokens), which the next seal writes as objects of their own, once this head commits
them.

A writer reads it at the start of a seal and writes it last, only over the version it
read (``If-Match``): that write is the commit point. What it wrote before is either
named by the head it wrote, or not named by any head, and removed by whoever settles
its note of intent (mirror.py).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from ..core.errors import StoreDamaged

FORMAT = "custody-store-head/1"
HEAD = "manifests/ledger/head.json"
ZERO = "00" * 32  # the chain over no pieces
# the only folder paths a head may give bytes for (beside the three it carries)
PENDING = re.compile(r"manifests/ledger/checkpoints/[0-9]+(\.[0-9]+)?(\.tsr)?")


@dataclass(frozen=True)
class Chunk:
    """One object of a stream's tail: the piece ``index`` as far as ``lines`` of it."""

    name: str
    index: int
    lines: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class TileObject:
    """A tile not (yet) at its C2SP path: level, index, width, and where it is."""

    name: str
    level: int
    index: int
    width: int
    sha256: str


@dataclass(frozen=True)
class Stream:
    lines: int = 0
    bytes: int = 0
    full: int = 0
    chain: str = ZERO
    tail: tuple[Chunk, ...] = ()


@dataclass(frozen=True)
class Head:
    writer: str = ""
    leaves: Stream = Stream()
    log: Stream = Stream()
    tiles_full_at: int = 0  # the ledger size whose full tiles all have their own objects
    tiles: tuple[TileObject, ...] = ()
    checkpoint: str | None = None
    checkpoint_sig: str | None = None
    log_head: str | None = None
    pending: dict[str, bytes] = field(default_factory=dict)  # not yet objects
    legacy: bool = False  # whole objects of the earlier layout still to be removed

    def stream(self, name: str) -> Stream:
        return self.leaves if name == "leaves" else self.log

    def with_stream(self, name: str, stream: Stream) -> Head:
        return replace(self, leaves=stream) if name == "leaves" else replace(self, log=stream)

    def named(self) -> set[str]:
        """Every object of a writer's that this head keeps in force."""
        return {c.name for c in (*self.leaves.tail, *self.log.tail)} | \
            {t.name for t in self.tiles}

    def to_bytes(self) -> bytes:
        data = {"format": FORMAT, "writer": self.writer,
                "leaves": _stream_json(self.leaves), "log": _stream_json(self.log),
                "tiles": {"full_at": self.tiles_full_at,
                          "tail": [t.__dict__ for t in self.tiles]},
                "checkpoint": self.checkpoint, "checkpoint.sig": self.checkpoint_sig,
                "log.head": self.log_head,
                "pending": {k: base64.b64encode(v).decode()
                            for k, v in sorted(self.pending.items())},
                "legacy": self.legacy}
        return json.dumps(data, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def parse(cls, data: bytes, *, where: str) -> Head:
        """The head, checked for shape: StoreDamaged when it is not one."""
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise ValueError(f"format {raw.get('format')!r}")
            tiles = raw["tiles"]
            head = cls(writer=str(raw["writer"]), leaves=_stream(raw["leaves"]),
                       log=_stream(raw["log"]), tiles_full_at=_count(tiles["full_at"]),
                       tiles=tuple(_tile(t) for t in tiles["tail"]),
                       checkpoint=_text(raw["checkpoint"]),
                       checkpoint_sig=_text(raw["checkpoint.sig"]),
                       log_head=_text(raw["log.head"]),
                       pending={_pending(k): base64.b64decode(v, validate=True)
                                for k, v in raw["pending"].items()},
                       legacy=bool(raw["legacy"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreDamaged(f"{HEAD} is not a store's head ({exc})", where=where) from exc
        return head


def _stream_json(stream: Stream) -> dict[str, Any]:
    return {"lines": stream.lines, "bytes": stream.bytes, "full": stream.full,
            "chain": stream.chain, "tail": [c.__dict__ for c in stream.tail]}


def _stream(raw: dict[str, Any]) -> Stream:
    tail = tuple(Chunk(str(c["name"]), _count(c["index"]), _count(c["lines"]),
                       _count(c["bytes"]), _hex(c["sha256"])) for c in raw["tail"])
    return Stream(_count(raw["lines"]), _count(raw["bytes"]), _count(raw["full"]),
                  _hex(raw["chain"]), tail)


def _tile(raw: dict[str, Any]) -> TileObject:
    return TileObject(str(raw["name"]), _count(raw["level"]), _count(raw["index"]),
                      _count(raw["width"]), _hex(raw["sha256"]))


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{value!r} is not a count")
    return value


def _hex(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 64 or \
            any(ch not in "0123456789abcdef" for ch in value):
        raise ValueError(f"{value!r} is not a sha256")
    return value


def _pending(name: Any) -> str:
    if not isinstance(name, str) or not PENDING.fullmatch(name):
        raise ValueError(f"{name!r} is no file of the checkpoints' history")
    return name


def _text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value
