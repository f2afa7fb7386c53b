"""Verification of an archive: everything the manifests claim, checked as independent
jobs in worker processes (pool), put together into one report (report).

The whole archive (whole.py) is read once, in groups of captures and in passes over the
ledger and the custody log, each a job, so that the time per capture and the memory do
not grow with the archive. Named captures (named.py) are checked with what proves each
one alone -- its files, records, signature, tokens, chain link, inclusion proof against
the signed checkpoint, its log events, its database rows -- without reading the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .pool import default_workers

if TYPE_CHECKING:
    from ..core.archive import Archive
    from .report import Report


@dataclass(frozen=True)
class Progress:
    """What is being written to the archive while it is verified, or was left unfinished."""

    sealing: frozenset[str]  # captures the sealing journal names: their seal is not whole
    writing: bool  # a custody process holds the writer's lock (a capture is running)


def verify(archive: Archive, capture_ids: list[str] | None = None, *,
           against: str | None = None, jobs: int | None = None,
           on_wait: Callable[[], None] | None = None, part_bytes: int | None = None,
           summarize: bool = False) -> Report:
    """Check the archive (or the named captures); ``against`` is an older checkpoint's text;
    ``jobs`` worker processes run the checks (None: one per core; 0: all in this one);
    ``part_bytes`` is the smallest part of a WARC file one job reads (None: chosen);
    ``summarize``: the checks that pass are counted, not listed (see Report).

    The archive is read as one snapshot: a capture being sealed meanwhile is waited for
    (``on_wait`` is called first), never seen half sealed."""
    gone: list[str] = []  # named captures the ledger holds, their files removed
    if capture_ids:
        from ..core.errors import NotFound
        from ..seal.manifest import manifest_path

        unknown = [c for c in capture_ids if not manifest_path(archive.manifests_dir,
                                                                 c).is_file()]
        if unknown:
            from ..seal.ledger import Ledger

            named = Ledger(archive.manifests_dir).leaf_ids()  # (read only on this path)
            gone = [c for c in unknown if c in named]
            if len(gone) < len(unknown):
                raise NotFound("no such capture",
                               where=", ".join(c for c in unknown if c not in named))
            capture_ids = [c for c in capture_ids if c not in gone]
    workers = default_workers() if jobs is None else jobs
    if jobs is None and not capture_ids and not _anything_sealed(archive):
        workers = 0  # nothing sealed: a fork would cost more
    with archive.snapshot(on_wait):
        from ..index.query import settle

        progress = progress_of(archive)
        settled = settle(archive.db_path)  # before any job reads it (no writer can be now)
        if capture_ids or gone:
            from .named import verify_named
            from .report import FAILED, Report

            report = verify_named(archive, list(dict.fromkeys(capture_ids)), against,
                                  workers, progress, part_bytes, summarize) if capture_ids \
                else Report(str(archive.root), summarize=summarize)
            report.captures = [*report.captures, *gone]
            for cid in gone:  # a capture the ledger names, removed: not one never made
                report.add("manifest", f"manifests/{cid}.json", FAILED,
                           "the ledger names this capture, and its manifest is gone", cid)
        else:
            from .whole import verify_whole

            report = verify_whole(archive, against, workers, progress, part_bytes,
                                  summarize)
        if settled:
            report.notes.insert(0, settled)
        return report


def _anything_sealed(archive: Archive) -> bool:
    import os

    try:
        with os.scandir(archive.manifests_dir) as entries:
            return any(e.name.endswith(".json") and not e.name.startswith(".")
                       for e in entries)
    except OSError:
        return False


def progress_of(archive: Archive) -> Progress:
    from ..seal import journal

    return Progress(frozenset(e.capture_id for e in journal.pending(archive)),
                    archive.writer_active())
