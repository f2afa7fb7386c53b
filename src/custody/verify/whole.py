"""Verification of the whole archive, planned so that neither its time per capture nor
its memory grows with the number of captures.

Before any worker starts, the parent reads what is small whatever the archive's size or
what must come first: the keys and their admissions (from the log's key lines), where
every group of leaves begins, the checkpoints, the manifests sealed but not in the
ledger, and the manifests of large captures (parsed once here, so that their WARC files
can be cut into parts for every worker). An early worker hashes the large WARC files
meanwhile. Then the jobs: the ledger in one pass (tree.py), the custody log in ranges
(log_check.py), custody.db's index of the log and its captures, the search index, each
large capture (its seal, and its WARC files' parts), and the captures in groups of
leaves (captures.py), each group's results taken in order and let go.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

from ..core.archive import Archive
from ..core.errors import ArchiveError
from ..seal import manifest
from ..seal.ledger import Ledger
from . import captures as groups_of
from . import leaf_lines
from .annotations import check_annotations, check_selectors
from .events_index import check_events_index
from .leftovers import not_in_ledger
from .links import check_links
from .log_check import (
    LogPlan,
    admitted_since,
    check_head,
    check_range,
    judge_log,
    log_keys,
    plan_log,
)
from .pool import Job, Pool
from .proofs import admitted_keys, check_against
from .queue_jobs import keep, note_twice
from .report import UNCHECKED, Report
from .scratch import Scratch
from .tree import check_tree, history_job, judge, leaf_offsets, read_checkpoints

GROUP = leaf_lines.GROUP  # captures a job checks
BIG_MANIFEST = 1 << 20  # a manifest larger than this is of a capture whose files are cut
PARSED_BUDGET = 96 << 20  # the large manifests the parent holds parsed at once, at most


def verify_whole(archive: Archive, against: str | None, workers: int, progress: Any,
                 part_bytes: int | None, summarize: bool) -> Report:
    from .leftovers import note_leftovers
    from .seals import note_unadmitted, read_signers

    report = Report(str(archive.root), summarize=summarize)
    early_jobs: list[Job] = []
    hashed: dict[Path, int] = {}
    if workers:
        from ..warc.scan import file_sha256

        for path in _large_evidence(archive):
            hashed[path] = len(early_jobs)
            early_jobs.append(partial(file_sha256, path))
    with Scratch() as names, Pool(early_jobs, min(workers, 1)) as early:
        signers = read_signers(archive, report)
        log = plan_log(archive)
        admission, since = admitted_since(log.key_lines, signers)
        keys = admitted_keys(signers, admission)
        note_unadmitted(archive, signers, admission, report)
        groups, leaves_bytes = leaf_offsets(archive, GROUP)
        size = sum(g[2] for g in groups)
        big = _manifests_on_disk(archive, names)
        names.add("leaves", Ledger(archive.manifests_dir).iter_leaf_ids())
        extras = not_in_ledger(archive, names.only_in("manifests", "leaves"), report)
        latest, newest, read_error = read_checkpoints(archive)
        sizes = [c.size for c in (latest, newest) if c is not None]
        old = _old_size(against)
        if old is not None:
            sizes.append(old)
        ctx = groups_of.Context(archive, signers, admission, progress.sealing, summarize,
                                large=frozenset(big), log_began=_began(log.key_lines))
        ctx.line_starts = [offset for _, offset, _ in groups]
        _logged_without_index(archive, ctx)
        wanted = _log_lines_wanted(archive, latest)
        jobs: list[Job] = [partial(check_tree, archive, sizes, progress.sealing),
                           partial(check_events_index, archive),
                           partial(_database, archive, size, progress),
                           partial(check_annotations, archive)]
        fixed = len(jobs)
        jobs += [partial(check_range, log.path, start, end, first, log_keys(signers), since,
                         wanted) for start, end, first in log.ranges]
        log_end = len(jobs)
        history = Ledger(archive.manifests_dir).history_sizes()
        jobs += [partial(history_job, archive, history[i:i + 256], keys, summarize)
                 for i in range(0, len(history), 256)]
        from .search_index import ranges

        takers = workers + 1 if workers else 1
        between_ids = ranges(archive.db_path, None, takers)
        jobs += [partial(_search_index, archive, between) for between in between_ids]
        jobs.append(partial(_index_structure, archive))
        jobs += [partial(check_selectors, archive, between) for between in between_ids]
        big_start = len(jobs)
        batch, rest = _parse_big(archive, big)
        known = {path: -1 - number for path, number in hashed.items()}
        plans = _plan_big(archive, ctx, batch, jobs, part_bytes, takers, known)
        group_start = len(jobs)
        jobs += [partial(groups_of.check_group, ctx, groups_of.Group(first, offset, count))
                 for first, offset, count in groups]
        if extras:
            jobs.append(partial(groups_of.check_group, ctx,
                                groups_of.Group(size, leaves_bytes, 0, tuple(extras))))
        files_left: list[str] = []  # captures whose WARC files are large, manifests not
        with Pool(jobs, workers) as pool:
            older = 0
            for number in range(group_start, len(jobs)):
                out = pool.result(number)
                report.merge(out["findings"])
                names.add("sealed_files", out["paths"])
                older += out["older"]
                files_left += out["big"]
                _count(report, out, names)
            def result(number: int) -> Any:  # a negative number: one of the early jobs
                return early.result(-1 - number) if number < 0 else pool.result(number)

            for one in plans:
                _finish_big(archive, one, pool, result, report, names)
            tree = pool.result(0)
            report.merge(pool.result(1))
            report.merge(pool.result(2))
            report.merge(pool.result(3))
            log_results = [pool.result(n) for n in range(fixed, log_end)]
            for number in range(log_end, big_start):
                report.merge(pool.result(number))
        for cid in rest:  # more large captures than the parent holds parsed at once
            _one_big(archive, ctx, cid, workers, part_bytes, report, names)
        for cid in files_left:
            sealed = manifest.read(archive.manifests_dir / f"{cid}.json")
            groups_of.large_files(archive, sealed, workers, part_bytes, summarize, report)
        if older:
            report.notes.append(f"{older} capture(s) sealed before custody logged the digests "
                                "of their signature, SHA256SUMS and tokens: those files are "
                                "checked by their own signatures only")
        hashes = judge_log(log, log_results, report, size)
        judge(archive, tree, latest, newest, read_error, keys, signers, admission,
              progress.sealing, extras, hashes, log.count, report)
        _log_end(archive, log, hashes, keys, latest, report)
        if against is not None and "roots" in tree:
            origin = Ledger(archive.manifests_dir).read_origin() or \
                (latest.origin if latest else "")
            check_against(archive, against, origin, tree["size"], tree["roots"], keys, report)
            _dates(archive, against, latest, report)
        note_leftovers(archive, names, progress, report)
        note_twice(names, report)
        check_links(archive, report)
        if report.summarize:
            report.captured = names.count("checked")
        else:
            report.captures = list(dict.fromkeys(report.captures))
    return report


def _count(report: Report, out: dict[str, Any], names: Scratch) -> None:
    """The captures a job checked, each once (a leaves line copied or edited names one
    twice); the list of them, unless the report is summarized; their queue jobs."""
    names.add("checked", out["ids"])
    keep(names, out.get("jobs", []))
    if not report.summarize:
        report.captures += out["ids"]


def _large_evidence(archive: Archive) -> list[Path]:
    """The files under archive/ larger than a group's job reads itself (their sha256 is
    taken early, while the rest is planned)."""
    found = []
    for folder, _, files in os.walk(archive.archive_dir):
        for name in files:
            path = Path(folder) / name
            try:
                if path.stat().st_size > groups_of.SMALL:
                    found.append(path)
            except OSError:
                continue
    return sorted(found)


def _manifests_on_disk(archive: Archive, names: Scratch) -> list[str]:
    """Every sealed manifest's capture id, into ``names`` (a dot file is one being
    written); those of large manifests, sorted."""
    big = []

    def walk() -> Any:
        with os.scandir(archive.manifests_dir) as entries:
            for entry in entries:
                if entry.name.endswith(".json") and not entry.name.startswith("."):
                    try:
                        if entry.stat().st_size > BIG_MANIFEST:
                            big.append(entry.name[:-5])
                    except OSError:
                        pass
                    yield entry.name[:-5]

    names.add("manifests", walk())
    return sorted(big)


def _old_size(against: str | None) -> int | None:
    if against is None:
        return None
    from ..seal.ledger import parse_checkpoint

    try:
        return parse_checkpoint(against).size
    except ValueError:
        return None


def _log_lines_wanted(archive: Archive, latest: Any) -> list[int]:
    """The log lines whose sha256 the checkpoint and log.head name."""
    import base64

    wanted = []
    try:
        committed = latest.log if latest is not None else None
    except ValueError:
        committed = None
    if committed is not None:
        wanted.append(committed[0])
    try:
        text = (archive.manifests_dir / "ledger" / "log.head").read_text()
        count = int(text.split("\n")[1])
        base64.b64decode(text.split("\n")[2], validate=True)
        wanted.append(count)
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        pass
    return wanted


def _log_end(archive: Archive, log: LogPlan, hashes: dict[int, str], keys: list[Any],
             latest: Any, report: Report) -> None:
    try:
        commits = latest is not None and latest.log is not None
    except ValueError:
        commits = True
    check_head(archive, log, hashes, keys, commits, report)


def _logged_without_index(archive: Archive, ctx: groups_of.Context) -> None:
    """What the groups cannot read through custody.db's index of the log: the events past
    its last one; with no index at all, every event (and groups are told not to look)."""
    from ..seal.log_events import beyond_index

    try:
        found = beyond_index(archive.root)
    except ArchiveError:  # a log that cannot be read: the log's own check says so
        return
    if found is None:
        return
    logged, recorded, whole = found
    ctx.logged_beyond_index = logged
    ctx.recorded_beyond_index = recorded
    ctx.use_index = not whole


def _database(archive: Archive, size: int, progress: Any) -> Any:
    """Whether the database can be read at all, and that it holds no capture without a
    manifest."""
    from .database import check_database_extras, check_integrity, open_db

    report = Report(str(archive.root))
    conn = open_db(archive, report)
    if conn is None:
        return report.findings()
    try:
        check_database_extras(conn, archive.manifests_dir, report)
        check_integrity(conn, report)
    finally:
        conn.close()
    return report.findings()


def _search_index(archive: Archive, between: Any) -> Any:
    from .search_index import check_search_index

    report = Report(str(archive.root))
    if archive.db_path.exists():
        check_search_index(archive.db_path, report, None, between)
    return report.findings()


def _index_structure(archive: Archive) -> Any:
    from .index_structure import check_index_structure

    report = Report(str(archive.root))
    if archive.db_path.exists():
        check_index_structure(archive.db_path, report)
    return report.findings()


def _parse_big(archive: Archive, big: list[str]) -> tuple[list[manifest.Sealed], list[str]]:
    """The large manifests the parent holds parsed at once (within PARSED_BUDGET), and
    those left for later, one at a time."""
    held: list[manifest.Sealed] = []
    total = 0
    for index, cid in enumerate(big):
        path = archive.manifests_dir / f"{cid}.json"
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if held and total + size > PARSED_BUDGET:
            return held, big[index:]
        held.append(manifest.read(path))
        total += size
    return held, []


def _plan_big(archive: Archive, ctx: groups_of.Context, batch: list[manifest.Sealed],
              jobs: list[Job], part_bytes: int | None, takers: int,
              known: dict[Path, int]) -> list[Any]:
    """For each large capture held parsed: a job for its seal (what check_capture does,
    its WARC files aside), and its files' parts."""
    from .records import part_size, plan

    total = sum(groups_of.warc_bytes(one) for one in batch)
    size = part_size(total, takers, *([part_bytes] if part_bytes else []))
    plans = []

    def add(job: Job) -> int:
        jobs.append(job)
        return len(jobs) - 1

    for one in batch:
        seal_job = add(partial(groups_of.check_big_seal, ctx, one))
        try:
            files = plan(archive, one, add, size, ctx.summarize, known)
        except ValueError:
            files = None
        plans.append((one, seal_job, files))
    return plans


def _finish_big(archive: Archive, planned: Any, pool: Pool, result: Any, report: Report,
                names: Scratch) -> None:
    from .records import check_file

    one, seal_job, files = planned
    out = pool.result(seal_job)
    report.merge(out["findings"])
    names.add("sealed_files", out["paths"])
    _count(report, out, names)
    if files is None:
        report.add("warc-records", one.capture_id, UNCHECKED,
                   "the manifest's lists of files and records cannot be read", one.capture_id)
        return
    for item in files:
        check_file(archive, item, result, report)


def _one_big(archive: Archive, ctx: groups_of.Context, cid: str, workers: int,
             part_bytes: int | None, report: Report, names: Scratch) -> None:
    """A large capture beyond what the parent holds at once: alone, its seal here and its
    files' parts in a pool of their own."""
    sealed = manifest.read(archive.manifests_dir / f"{cid}.json")
    out = groups_of.check_big_seal(ctx, sealed)
    report.merge(out["findings"])
    names.add("sealed_files", out["paths"])
    _count(report, out, names)
    groups_of.large_files(archive, sealed, workers, part_bytes, report.summarize, report)


def _dates(archive: Archive, against: str, latest: Any, report: Report) -> None:
    """The dates of both checkpoints, beside the proof that relates them."""
    from .tokens import checkpoint_date

    row = report.checks[-1] if report.checks else None
    if row is None or row.check != "consistency" or latest is None:
        return
    dates = (f"older: {checkpoint_date(archive, against)}; newest: "
             f"{checkpoint_date(archive, latest.text)}")
    report.checks[-1] = row._replace(detail=f"{row.detail}; {dates}")


def _began(key_lines: list[tuple[int, bytes]]) -> str | None:
    """The time of the custody log's first event (None: no log, or an unreadable line)."""
    import json

    if not key_lines or key_lines[0][0] != 1:
        return None
    try:
        at = json.loads(key_lines[0][1]).get("at")
    except (ValueError, AttributeError):
        return None
    return at if isinstance(at, str) else None

