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

from functools import partial
from typing import TYPE_CHECKING, Any

from .pool import Job, Pool, default_workers

if TYPE_CHECKING:  # imported once the token worker is forked, which loads its own
    from . import manifest
    from .report import Findings, Report
    from .root import Archive


def verify(archive: Archive, capture_ids: list[str] | None = None, *,
           against: str | None = None, jobs: int | None = None) -> Report:
    """Check the archive (or the named captures); ``against`` is an older checkpoint's text;
    ``jobs`` worker processes run the checks (None: one per core; 0: all in this one)."""
    workers = default_workers() if jobs is None else jobs
    # the tokens first, in a worker of their own, before anything else is read
    with Pool([partial(_tokens, archive, capture_ids)], min(workers, 1)) as early:
        return _verify(archive, capture_ids, against, workers, early)


def _verify(archive: Archive, capture_ids: list[str] | None, against: str | None,
            workers: int, early: Pool) -> Report:
    from . import manifest, verify_warc
    from .report import FAILED, UNCHECKED, Report
    from .verify_tokens import check_timestamps

    report = Report(str(archive.root))
    sealed = manifest.read_all(archive.manifests_dir)
    by_id = {m.capture_id: m for m in sealed}
    wanted = capture_ids or [m.capture_id for m in sealed]
    for capture_id in (c for c in wanted if c not in by_id):
        report.add("manifest", capture_id, FAILED, "no such manifest", capture_id)
    report.captures = [c for c in wanted if c in by_id]
    chosen = [by_id[c] for c in report.captures]
    whole = not capture_ids

    queue: list[Job] = []

    def add(job: Job) -> int:
        queue.append(job)
        return len(queue) - 1

    seals = add(partial(_seals_and_proofs, archive, sealed, chosen, against, whole))
    database = add(partial(_database, archive, chosen, set(by_id) if whole else None))
    size = verify_warc.part_size(_bytes_named(chosen), workers)
    files: list[verify_warc.FilePlan | str] = []  # a capture id: its lists cannot be read
    for one in chosen:
        try:
            files += verify_warc.plan(archive, one, add, size)
        except ValueError:
            files.append(one.capture_id)

    with Pool(queue, workers) as pool:
        proofs = pool.result(seals)
        in_db = pool.result(database)
        warcs = Report(report.root)
        for item in files:
            if isinstance(item, str):
                warcs.add("warc-records", item, UNCHECKED,
                          "the manifest's lists of files and records cannot be read", item)
            else:
                verify_warc.check_file(archive, item, pool.result, warcs)
    # asked for last, so that waiting for it never keeps the pool's results waiting
    tokens, notes = early.result(0)
    report.merge(proofs)
    for one in chosen:
        check_timestamps(one, tokens, report)
    report.notes.extend(notes)
    report.merge(in_db)
    report.checks.extend(warcs.checks)
    if whole:
        _note_leftovers(archive, sealed, report)
    return report


# -- the jobs: each returns its findings --------------------------------------------------------


def _tokens(archive: Archive, capture_ids: list[str] | None) -> Any:
    from .verify_tokens import check_tokens

    return check_tokens(archive, capture_ids)


def _seals_and_proofs(archive: Archive, sealed: list[manifest.Sealed],
                      chosen: list[manifest.Sealed], against: str | None,
                      whole: bool) -> Findings:
    """Everything checked with the archivists' keys: the signatures and fields of the
    chosen manifests, the chain, the ledger and its checkpoints, the custody log."""
    from .report import Report
    from .verify_proofs import check_ledger, check_log
    from .verify_seals import check_chain, check_seal, read_signers

    report = Report(str(archive.root))
    signers = read_signers(archive, report)
    for one in chosen:
        check_seal(archive, one, signers, report)
    selected = {one.capture_id for one in chosen}
    check_chain(sealed, report, selected)
    check_ledger(archive, sealed, selected, signers, report, against)
    if whole:
        check_log(archive, signers, report)
    return report.findings()


def _database(archive: Archive, chosen: list[manifest.Sealed],
              all_ids: set[str] | None) -> Findings:
    """The database against the chosen manifests; with ``all_ids`` (every sealed
    capture), also that it holds no capture without a manifest."""
    from .report import UNCHECKED, Report
    from .verify_db import check_database, check_database_extras, open_db

    report = Report(str(archive.root))
    conn = open_db(archive, report)
    if conn is None:
        return report.findings()
    try:
        for one in chosen:
            if one.content is None:
                continue  # reported by the seal checks
            try:
                check_database(conn, one.capture_id, one.content, one.sha256, report)
            except (KeyError, TypeError, AttributeError) as exc:
                report.add("database", f"captures/{one.capture_id}", UNCHECKED,
                           f"the manifest lacks what to compare ({exc!r})", one.capture_id)
        if all_ids is not None:
            check_database_extras(conn, all_ids, report)
    finally:
        conn.close()
    return report.findings()


# -- in the parent -----------------------------------------------------------------------------


def _bytes_named(chosen: list[manifest.Sealed]) -> int:
    total = 0
    for one in chosen:
        for entry in (one.content or {}).get("warc_files") or []:
            try:
                total += int(entry["bytes"])
            except (KeyError, TypeError, ValueError):
                continue
    return total


def _note_leftovers(archive: Archive, sealed: list[manifest.Sealed], report: Report) -> None:
    referenced = {f.get("path") for m in sealed if m.content
                  for f in m.content.get("warc_files") or [] if isinstance(f, dict)}
    for path in sorted(archive.archive_dir.rglob("*.warc*")):
        rel = archive.relative(path)
        if rel not in referenced:
            report.notes.append(f"{rel}: not sealed by any manifest (an interrupted capture?)")
    for state in sorted((archive.root / ".custody" / "crawls").glob("*/state.db")):
        report.notes.append(f"crawl {state.parent.name} was interrupted: "
                            "`custody archive --resume` continues it")

