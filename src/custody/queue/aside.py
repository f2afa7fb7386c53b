"""An unsealed capture of a queued job that is captured again, set aside: nothing of it is
left where the evidence is, and nothing of it is lost.

Its leftovers beside the manifest's temporary name are discarded (none was sealed), and
its crawl state goes to ``.custody/abandoned/<capture id>/``. So do the WARC files it
wrote (whole or ``.partial``: no manifest will seal them), where verify does not note
them on every run, when the worker that wrote them sets its own capture aside; an
earlier holder's are left in place, as it may be paused, not dead, and still writing. In
a copy of a stored archive, a capture sealed here that the store's ledger does not hold
is not sealed either: its files are kept aside too, and its rows leave custody.db.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..core.archive import Archive
from ..seal import journal, manifest


def set_aside(archive: Archive, capture_id: str, mirror: Any, *, warcs: bool = True) -> None:
    """``mirror``: the worker's store.mirror.Mirror, or None. ``warcs``: its WARC files
    too (False while what wrote them may still read them: ``set_aside_warcs`` later)."""
    from ..capture.completion import crawls_dir
    from ..seal.sealing import discard_unsealed

    aside = archive.root / ".custody" / "abandoned" / capture_id
    with archive.sealing():
        if mirror is not None:
            _sealed_not_stored(archive, capture_id, mirror, aside)
        discard_unsealed(archive, capture_id)
        journal.end(archive, capture_id)
        crawl = crawls_dir(archive) / capture_id
        if crawl.exists():
            aside.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(crawl), str(aside))
        if warcs:
            _unsealed_warcs(archive, capture_id, aside)


def set_aside_warcs(archive: Archive, capture_id: str) -> None:
    """The WARC files of a capture set aside before (``warcs=False``)."""
    with archive.sealing():
        _unsealed_warcs(archive, capture_id,
                        archive.root / ".custody" / "abandoned" / capture_id)


def _unsealed_warcs(archive: Archive, capture_id: str, aside: Path) -> None:
    """Never those of a capture whose manifest exists."""
    if manifest.manifest_path(archive.manifests_dir, capture_id).exists():
        return
    for path in archive.archive_dir.glob(f"*/*/{capture_id}-*.warc.gz*"):
        target = aside / archive.relative(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(target))


def _sealed_not_stored(archive: Archive, capture_id: str, mirror: Any, aside: Path) -> None:
    from ..index import db
    from ..store.mirror import capture_files

    if not manifest.manifest_path(archive.manifests_dir, capture_id).exists() or \
            mirror.in_ledger(capture_id):
        return
    for relative in capture_files(archive.root, capture_id):
        source = archive.root / relative
        if source.exists():
            (aside / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(aside / relative))
    database = db.connect(archive.db_path)
    try:
        db.delete_capture(database, capture_id)
    finally:
        database.conn.close()
