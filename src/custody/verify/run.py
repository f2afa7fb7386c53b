"""Verification of an archive: everything the manifests claim, checked as independent
jobs in worker processes (pool), put together into one report (report).

The jobs: the timestamp tokens (verify_tokens), in a worker forked before anything else
is read, since their certificate libraries take longest to load and the tokens need only
the manifests' bytes; then, once the manifests are read, the seals -- signatures,
SHA256SUMS, the hash chain (verify_seals) -- with the ledger, its checkpoints and the
custody log (verify_proofs); the database (verify_db); and every WARC file, its sha256
and its records in parts (verify_warc). The report lists them in a fixed order,
whichever finished first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .pool import Job, Pool, default_workers

if TYPE_CHECKING:  # imported once the token worker is forked, which loads its own
    from ..core.archive import Archive
    from ..seal import manifest
    from .report import Findings, Report


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
    ``summarize``: the records that pass are counted, not listed (see Report).

    The archive is read as one snapshot: a capture being sealed meanwhile is waited for
    (``on_wait`` is called first), never seen half sealed."""
    if capture_ids:
        from ..core.errors import NotFound
        from ..seal.manifest import manifest_path

        unknown = [c for c in capture_ids if not manifest_path(archive.manifests_dir,
                                                                 c).is_file()]
        if unknown:
            raise NotFound("no such capture", where=", ".join(unknown))
    workers = default_workers() if jobs is None else jobs
    if jobs is None and not capture_ids:
        from ..seal.manifest import paths

        if not paths(archive.manifests_dir):  # nothing sealed: a fork would cost more
            workers = 0
    # the tokens first, in a worker of their own, before anything else is read; then, in
    # the whole archive, each WARC file's sha256, while the manifests are read
    with archive.snapshot(on_wait):
        early_jobs: list[Job] = [partial(_tokens, archive, capture_ids)]
        hashed: dict[Path, int] = {}
        if not capture_ids and workers:
            from ..warc.scan import file_sha256

            for path in _evidence_files(archive):
                hashed[path] = -1 - len(early_jobs)  # early job numbers are negative
                early_jobs.append(partial(file_sha256, path))
        with Pool(early_jobs, min(workers, 1)) as early:
            return _verify(archive, capture_ids, against, workers, early, hashed, part_bytes,
                           summarize)


def progress_of(archive: Archive) -> Progress:
    from ..core import journal

    return Progress(frozenset(e.capture_id for e in journal.pending(archive)),
                    archive.writer_active())


def _evidence_files(archive: Archive) -> list[Path]:
    """The WARC (and WACZ, ARC) files under archive/, as a manifest would name them."""
    return sorted(p for p in archive.archive_dir.rglob("*")
                  if p.name.endswith(_EVIDENCE) and p.is_file())


_EVIDENCE = (".warc.gz", ".warc", ".arc.gz", ".arc", ".wacz")


def _verify(archive: Archive, capture_ids: list[str] | None, against: str | None,
            workers: int, early: Pool, hashed: dict[Path, int], part_bytes: int | None,
            summarize: bool) -> Report:
    from ..seal import manifest
    from . import records as verify_warc
    from .report import UNCHECKED, Report
    from .tokens import check_checkpoint_timestamps, check_timestamps

    report = Report(str(archive.root))
    progress = progress_of(archive)
    sealed = manifest.read_all(archive.manifests_dir, lazy=True)  # memory bounded
    by_id = {m.capture_id: m for m in sealed}
    wanted = capture_ids or [m.capture_id for m in sealed]
    report.captures = [c for c in wanted if c in by_id]
    chosen = [by_id[c] for c in report.captures]
    whole = not capture_ids

    queue: list[Job] = []

    def add(job: Job) -> int:
        queue.append(job)
        return len(queue) - 1

    # the WARC files first: a file's sha256 is the longest job, and cannot be cut
    takers = workers + 1 if workers else 0  # the processes that take jobs: this one too
    size = verify_warc.part_size(_bytes_named(chosen), takers,
                                 *([part_bytes] if part_bytes else []))
    files: list[verify_warc.FilePlan | str] = []  # a capture id: its lists cannot be read
    for one in chosen:
        try:
            files += verify_warc.plan(archive, one, add, size, summarize, hashed)
        except ValueError:
            files.append(one.capture_id)
    # the keys, once, before the workers start: every capture's job judges by them
    from ..seal.trust import admission_of
    from .seals import read_signers

    keys = Report(report.root)
    signers = read_signers(archive, keys)
    admission = admission_of(archive.manifests_dir, signers or [])
    seals = add(partial(_seals_and_proofs, archive, sealed, chosen, against, whole,
                        progress.sealing, signers, admission))
    # each capture's manifest read once, for its seal and its database rows alike
    captures = [add(partial(_capture, archive, one, signers, admission, progress.sealing))
                for one in chosen]
    database = add(partial(_database, archive, set(by_id) if whole else None))
    from .search_index import ranges

    scope = None if whole else [one.capture_id for one in chosen]
    search = [add(partial(_search_index, archive, scope, between))
              for between in ranges(archive.db_path, scope, takers)]

    # the workers read the manifests they need themselves, but the first, if it is held
    manifest.forget(keep=chosen[0] if chosen else None)
    with Pool(queue, workers) as pool:
        def result(number: int) -> Any:  # a negative number: one of the early jobs
            return early.result(-1 - number) if number < 0 else pool.result(number)

        per_capture = [pool.result(n) for n in captures]
        proofs = pool.result(seals)
        in_db = pool.result(database)
        in_index = [pool.result(n) for n in search]
        warcs = Report(report.root, summarize=summarize)
        for item in files:
            if isinstance(item, str):
                warcs.add("warc-records", item, UNCHECKED,
                          "the manifest's lists of files and records cannot be read", item)
            else:
                verify_warc.check_file(archive, item, result, warcs)
    # asked for last, so that waiting for it never keeps the pool's results waiting
    tokens, notes = early.result(0)
    report.merge(keys.findings())
    for findings in per_capture:
        report.merge(findings)
    report.merge(proofs)
    for one in chosen:
        check_timestamps(one, tokens, report)
    if whole:
        check_checkpoint_timestamps(tokens, report)
    report.notes.extend(notes)
    report.merge(in_db)
    for findings in in_index:
        report.merge(findings)
    report.checks.extend(warcs.checks)
    report.records_passed += warcs.records_passed
    if whole:
        _note_leftovers(archive, sealed, report, progress)
    return report


# -- the jobs: each returns its findings --------------------------------------------------------


def _tokens(archive: Archive, capture_ids: list[str] | None) -> Any:
    from .tokens import check_tokens

    return check_tokens(archive, capture_ids)


def _seals_and_proofs(archive: Archive, sealed: list[manifest.Sealed],
                      chosen: list[manifest.Sealed], against: str | None,
                      whole: bool, sealing: frozenset[str], signers: Any,
                      admission: Any) -> Findings:
    """What spans the captures, checked with the archivists' keys (``signers``, and each
    one's ``admission`` proven by the log, trust.py): the chain, the ledger and its
    checkpoints, the custody log, the bytes the log records. It reads each manifest's
    head only."""
    from .coverage import check_coverage
    from .proofs import check_ledger, check_log
    from .report import Report
    from .seals import check_chain

    report = Report(str(archive.root))
    selected = {one.capture_id for one in chosen}
    check_chain(sealed, report, selected)
    check_ledger(archive, sealed, selected, signers, admission, report, against, sealing)
    if whole:
        check_log(archive, signers, admission, report, len(sealed))
    check_coverage(archive, [one for one in chosen if one.readable], report)
    return report.findings()


def _capture(archive: Archive, one: manifest.Sealed, signers: Any, admission: Any,
             sealing: frozenset[str]) -> Findings:
    """One capture's signature, fields, SHA256SUMS and listed documents, and its rows in
    the database: a job of its own, reading its manifest once for all of them."""
    import sqlite3

    from .database import check_database
    from .report import UNCHECKED, Report
    from .seals import check_seal

    report = Report(str(archive.root))
    check_seal(archive, one, signers, admission, report)
    content = one.content
    if content is None or not archive.db_path.exists():
        return report.findings()  # reported by the seal checks; a missing database once
    from ..index.query import open_readonly

    try:
        conn = open_readonly(archive.db_path)
    except Exception:  # an unusable database is reported once, by _database
        return report.findings()
    try:
        check_database(archive, conn, one.capture_id, content, one.sha256, report, sealing)
    except (KeyError, TypeError, AttributeError) as exc:
        report.add("database", f"captures/{one.capture_id}", UNCHECKED,
                   f"the manifest lacks what to compare ({exc!r})", one.capture_id)
    except sqlite3.Error:
        pass  # an unreadable database: _database says so
    finally:
        conn.close()
    return report.findings()


def _database(archive: Archive, all_ids: set[str] | None) -> Findings:
    """Whether the database can be read at all; with ``all_ids`` (every sealed capture),
    also that it holds no capture without a manifest."""
    from .database import check_database_extras, open_db
    from .report import Report

    report = Report(str(archive.root))
    conn = open_db(archive, report)
    if conn is None:
        return report.findings()
    try:
        if all_ids is not None:
            check_database_extras(conn, all_ids, report)
    finally:
        conn.close()
    return report.findings()


def _search_index(archive: Archive, capture_ids: list[str] | None,
                  between: tuple[int | None, int | None]) -> Findings:
    """The search index against the documents (of the chosen captures, or all) whose ids
    are ``between``: jobs of their own, since they tokenize and stem every text again."""
    from .report import Report
    from .search_index import check_search_index

    report = Report(str(archive.root))
    if archive.db_path.exists():
        check_search_index(archive.db_path, report, capture_ids, between)
    return report.findings()


# -- in the parent -----------------------------------------------------------------------------


def _bytes_named(chosen: list[manifest.Sealed]) -> int:
    total = 0
    for one in chosen:
        for entry in one.head.get("warc_files") or []:
            try:
                total += int(entry["bytes"])
            except (KeyError, TypeError, ValueError):
                continue
    return total


def _note_leftovers(archive: Archive, sealed: list[manifest.Sealed], report: Report,
                    progress: Progress) -> None:
    """Everything in the archive that no manifest seals, each named in a note: files
    under archive/ of any kind, files beside the manifests that belong to none, and
    crawls -- running, interrupted, or whose sealing did not finish."""
    from ..core import journal

    referenced = {f.get("path") for m in sealed
                  for f in m.head.get("warc_files") or [] if isinstance(f, dict)}
    running = " (a capture is running now)" if progress.writing else ""
    for path in sorted(p for p in archive.archive_dir.rglob("*") if p.is_file()):
        rel = archive.relative(path)
        if rel in referenced:
            continue
        if path.name.endswith(".partial"):
            why = "being written by a running capture" if progress.writing else \
                "left by an interrupted capture"
            report.notes.append(f"{rel}: not sealed by any manifest ({why})")
        else:
            report.notes.append(f"{rel}: not sealed by any manifest{running}")
    names = {m.path.name for m in sealed}
    for path in sorted(archive.manifests_dir.iterdir()):
        if not path.is_file() or path.name in names:
            continue
        owner = _owner(path.name)
        if owner is None or f"{owner}.json" in names:
            continue
        what = "a seal in progress" if progress.writing else "a seal that was interrupted"
        report.notes.append(f"manifests/{path.name}: belongs to no sealed manifest ({what}; "
                            "it is not evidence)")
    sealing = {e.crawl: e.capture_id for e in journal.pending(archive)}
    crawls = archive.root / ".custody" / "crawls"
    for crawl, capture_id in sorted(sealing.items()):
        if not (crawls / crawl / "state.db").exists() and not progress.writing:
            report.notes.append(f"capture {capture_id}: its sealing journal is still there "
                                "(interrupted at the end): the next `custody archive`, "
                                "`--resume` or `reindex` clears it")
    for state in sorted(crawls.glob("*/state.db")):
        crawl = state.parent.name
        if crawl in sealing:
            verb = "is being sealed" if progress.writing else \
                "was interrupted while it was sealed: the next `custody archive`, " \
                "`--resume` or `reindex` completes it"
            report.notes.append(f"capture {sealing[crawl]} {verb}")
        elif progress.writing:
            report.notes.append(f"crawl {crawl} is running")
        else:
            report.notes.append(f"crawl {crawl} was interrupted: "
                                "`custody archive --resume` continues it")


def _owner(name: str) -> str | None:
    """The capture id a file beside the manifests belongs to (<id>.json.sig, .tsr,
    .SHA256SUMS, .<id>.json.tmp); None for the ledger's and other files."""
    base = name.lstrip(".")
    for marker in (".json", ".SHA256SUMS"):
        if marker in base:
            return base.split(marker, 1)[0]
    return None
