"""A folder made an exact copy of the archive an object store holds (`pull`, and
`verify --store`), fetching only what changed since the copy was last made."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .mirror import INTENT, LEAVES, Mirror
from .s3 import Store


def fetch_all(store: Store, root: Path, say: Callable[[str], None]) -> dict[str, int]:
    """Make ``root`` an exact copy of the archive in the store: objects fetched whose
    ETag differs from the copy's, files the store no longer holds removed. Fetched again
    when the ledger changed meanwhile (a worker sealing), so the copy is one state."""
    mirror = Mirror(store, root)
    mirror.claim("copy")
    counts = {"objects": 0, "fetched": 0, "bytes": 0, "removed": 0, "rounds": 0}
    for _ in range(5):
        counts["rounds"] += 1
        before = store.head(LEAVES)
        listed = {rel: (etag, size) for rel, etag, size in store.list()
                  if not rel.startswith(".")}
        for relative, (etag, size) in sorted(listed.items()):
            known = mirror.record.get(relative)
            if known is not None and known[0] == etag and mirror.unchanged(relative):
                continue
            mirror.note(relative, store.download(relative, root / relative))
            counts["fetched"] += 1
            counts["bytes"] += size
        for path in list(root.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.is_file() and _kept(relative) and relative not in listed:
                path.unlink()
                mirror.record.pop(relative, None)
                counts["removed"] += 1
        counts["objects"] = len(listed)
        mirror.save()
        if store.head(LEAVES) == before and store.get(INTENT) is None:
            break
        say("the store's ledger changed while it was read (a worker sealing); reading "
            "it again")
    return counts


def _kept(relative: str) -> bool:
    """Files of a copy that mirror objects (not the copy's own database or locks)."""
    return (relative.startswith(("archive/", "manifests/")) or
            relative in ("allowed_signers", "custody.toml")) and \
        not os.path.basename(relative).startswith(".")
