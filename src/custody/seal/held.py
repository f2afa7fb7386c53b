"""Manifests as found on disk, read eagerly or lazily: a lazily read one holds its head,
and its bytes and content are kept in a cache of bounded size, so that what a process
holds does not grow with the archive (verify reads every manifest of it).

The cache is a size-bounded LRU of its own rather than cachetools' LRUCache, which
evicts only when an item is inserted, at the size it had then: here room is made
*before* a manifest is parsed (``make_room``), so that a process's peak is one parsed
manifest, and an entry's cost changes in place when its bytes are parsed (about twice
their size), taking with it what was derived from its content."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# the lists of a manifest; the rest is its head, small, kept while the manifest is not
LISTS = frozenset({"records", "documents", "images", "visits", "media", "failures"})
CACHE_BYTES = 12 * 1024 * 1024  # what a process keeps of the manifests it read lazily, at
# most (counted as twice their bytes once parsed; a larger manifest is kept alone)


class Sealed:
    """A manifest as found on disk.

    Read eagerly (``read``), it holds its bytes and content. Read lazily (``read_all``
    with ``lazy``, for archives of any size), it holds its sha256 and head only; its
    bytes and content are read again when asked for, kept in a cache of bounded size,
    and taken only if they are still the bytes first read (their sha256)."""

    def __init__(self, capture_id: str, path: Path, data: bytes | None,
                 content: dict[str, Any] | None, problem: str | None = None, *,
                 lazy: bool = False) -> None:
        self.capture_id = capture_id
        self.path = path
        self.problem = problem
        self.lazy = lazy
        self._data = None if lazy else data
        self._content = None if lazy else content
        self._derived: dict[str, Any] = {}
        self.sha256 = _sha256_hex(data or b"")
        leaf = hashlib.sha256(b"\x00")
        leaf.update(data or b"")
        self.leaf_hash = leaf.digest()  # RFC 9162, as the ledger holds it
        self.size = len(data or b"")
        self.readable = content is not None
        self.head: dict[str, Any] = {k: v for k, v in (content or {}).items()
                                     if k not in LISTS}
        if lazy and data is not None:
            _CACHE.put(self, data, content)

    @property
    def data(self) -> bytes:
        if not self.lazy:
            return self._data or b""
        return _CACHE.get(self, parse=False)[0]

    @property
    def content(self) -> dict[str, Any] | None:
        if not self.lazy or not self.readable:
            return self._content
        return _CACHE.get(self)[1]

    def derived(self, key: str, make: Callable[[dict[str, Any] | None], Any]) -> Any:
        """``make(content)``, made once while the content is held (read lazily, with it in
        the cache; read eagerly, with this manifest)."""
        if self.lazy and self.readable:
            return _CACHE.derived(self, key, make)
        if key not in self._derived:
            self._derived[key] = make(self._content)
        return self._derived[key]

    @property
    def sequence(self) -> int | None:
        chain = self.head.get("chain") or {}
        value = chain.get("sequence") if isinstance(chain, dict) else None
        return value if isinstance(value, int) else None


_UNPARSED: Any = object()  # bytes held, not parsed yet
_PARSED_COST = 2  # parsed, a manifest takes about twice its bytes in memory


@dataclass
class _Held:
    sha256: str
    size: int
    data: bytes | None  # None once parsed: read again when asked for
    content: Any = _UNPARSED  # None: not valid JSON
    derived: dict[str, Any] = field(default_factory=dict)

    @property
    def cost(self) -> int:
        return self.size * _PARSED_COST if self.data is None else self.size


class _Cache:
    """The manifests a process read lazily, newest used last, within a budget: each
    held as its bytes until its content is asked for, then as its content alone, with
    what was derived from it (``derived``), which goes with it. A manifest larger than
    the budget is held alone."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._held: dict[Path, _Held] = {}
        self._costs: dict[Path, int] = {}  # each entry's cost when it was last counted
        self._total = 0  # their sum: kept, so that making room costs what it lets go

    def put(self, sealed: Sealed, data: bytes, content: Any) -> None:
        held = _Held(sealed.sha256, len(data), data, content)
        if content is not _UNPARSED and content is not None:
            held.data = None
        self._use(sealed, held)

    def _drop(self, path: Path) -> None:
        del self._held[path]
        self._total -= self._costs.pop(path)

    def clear(self, keep: Path | None = None) -> None:
        for path in [p for p in self._held if p != keep]:
            self._drop(path)

    def make_room(self, size: int, keep: Path | None = None) -> None:
        """Let go of what would not fit beside a manifest of ``size`` bytes parsed, before
        it is parsed: what a process holds at its peak is then one parsed manifest."""
        kept = self._costs.get(keep, 0) if keep is not None else 0
        for path in list(self._held):
            if self._total - kept + size * _PARSED_COST <= self.budget:
                return
            if path != keep:
                self._drop(path)

    def _use(self, sealed: Sealed, held: _Held) -> None:
        if sealed.path in self._held:
            self._drop(sealed.path)
        self._held[sealed.path] = held  # used last
        self._costs[sealed.path] = held.cost
        self._total += held.cost
        while len(self._held) > 1 and self._total > self.budget:
            self._drop(next(iter(self._held)))

    def _read(self, sealed: Sealed) -> bytes | None:
        """The manifest's bytes from disk, if they are still the ones first read."""
        try:
            data = sealed.path.read_bytes()
        except OSError:
            data = b""
        if _sha256_hex(data) != sealed.sha256:
            # changed since it was first read: what was read then is what is judged
            sealed.problem = "the manifest changed while it was being read"
            sealed.readable = False
            return None
        return data

    def _entry(self, sealed: Sealed, parse: bool) -> _Held | None:
        held = self._held.get(sealed.path)
        if held is None or held.sha256 != sealed.sha256:
            data = self._read(sealed)
            if data is None:
                return None
            held = _Held(sealed.sha256, len(data), data)
        if parse and held.content is _UNPARSED and held.data is not None:
            self.make_room(held.size, keep=sealed.path)
            try:
                held.content = json.loads(held.data)
            except (ValueError, UnicodeDecodeError):
                held.content = None
            if held.content is not None:
                held.data = None
        self._use(sealed, held)
        return held

    def get(self, sealed: Sealed, *, parse: bool = True) -> tuple[bytes, dict[str, Any] | None]:
        held = self._entry(sealed, parse)
        if held is None:
            return b"", None
        data = held.data
        if data is None and not parse:  # parsed, and its bytes let go: read them again
            data = self._read(sealed)
        content = held.content
        return data or b"", None if content is _UNPARSED else content

    def derived(self, sealed: Sealed, key: str,
                make: Callable[[dict[str, Any] | None], Any]) -> Any:
        """``make(content)`` for a manifest read lazily, kept with it while it is held."""
        held = self._entry(sealed, True)
        if held is None or held.content is None:
            return make(None)
        if key not in held.derived:
            held.derived[key] = make(held.content)
        return held.derived[key]


_CACHE = _Cache(CACHE_BYTES)


def forget(keep: Sealed | None = None) -> None:
    """Let go of every manifest read lazily but ``keep`` (each is read again when asked
    for): before a fork, so that the workers do not each copy what they would not use."""
    _CACHE.clear(None if keep is None else keep.path)


def make_room(size: int) -> None:
    """Let go of what would not fit beside a manifest of ``size`` bytes about to be parsed."""
    _CACHE.make_room(size)
