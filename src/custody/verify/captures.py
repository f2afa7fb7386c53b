"""Captures checked in groups: one job for a run of the ledger's leaves, each capture's
manifest read once, alone, for everything that is about it.

For each capture: its signature, fields, SHA256SUMS and listed documents (seals.py);
its place in the chain (sequence, and the sha256 of the manifest before it, read again
for the first of the group) and in the ledger (its leaf, at its sequence's place); its
RFC 3161 tokens (tokens.py); the bytes of the files beside it against what the custody
log recorded (coverage.py); its database rows (database.py); and its WARC files, read
here when they are small. A capture with large WARC files is handed back with its record
layout, for the parent to cut into parts for every worker (records.py): what a job holds
is one manifest and its results, whatever the size of the archive.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..core.archive import Archive
from ..seal import manifest
from ..seal.trust import Admission
from .leaf_lines import Place, leaves_of, line_at
from .proofs import which_changed
from .queue_jobs import job_of
from .report import FAILED, PASSED, UNCHECKED, Report, malformed

SMALL = 4 * 1024 * 1024  # a capture whose WARC files are no larger is read in its job


@dataclass
class Context:
    """What every group's job reads, prepared by the parent before its workers start."""

    archive: Archive
    signers: Any
    admission: Admission
    sealing: frozenset[str]
    summarize: bool
    # the files the custody log recorded, by capture: from its index in custody.db, plus
    # what follows the index (or, with no index, from the whole log)
    logged_beyond_index: dict[str, dict[str, str]] = field(default_factory=dict)
    recorded_beyond_index: set[str] = field(default_factory=set)
    use_index: bool = True
    # large captures (their manifests are parsed once, by the parent): a group checks
    # only their places in the chain and the ledger
    large: frozenset[str] = frozenset()
    roots: list[Any] | None = None  # the trusted TSA roots, loaded once a process
    line_starts: list[int] = field(default_factory=list)  # where each group's lines start
    log_began: str | None = None  # the custody log's first event's time: a capture sealed
    # after it has its `captured` event, or one was removed


@dataclass(frozen=True)
class Group:
    """Leaves ``first``..``first + count - 1``, their lines starting at ``offset`` of the
    leaves file; or (``ids``) captures named, or sealed but not in the ledger."""

    first: int = 0
    offset: int = 0
    count: int = 0
    ids: tuple[str, ...] = ()


def check_group(ctx: Context, group: Group) -> dict[str, Any]:
    """A job: every check of each capture of the group. Its findings, the paths of the
    WARC files its captures seal, and the captures with large files (their layout)."""
    report = Report(str(ctx.archive.root), summarize=ctx.summarize)
    out: dict[str, Any] = {"paths": [], "big": [], "ids": [], "older": 0}
    places = leaves_of(ctx.archive, group.first, group.offset, group.count) \
        if group.count else [Place(None, c, None) for c in group.ids]
    previous = _previous_sha256(ctx.archive, group)
    before = group.first - 1  # the place of the capture checked last (its sha256: previous)
    logged = logged_of(ctx, [p.capture_id for p in places])
    conn = database_of(ctx.archive)
    try:
        for at, (position, cid, leaf, number, raw) in enumerate(places):
            if not cid:  # a line that is no capture's leaf
                report.add("ledger", "manifests/ledger/leaves", FAILED,
                           (leaf or b"").decode())
                continue
            if number is not None and number != position and \
                    line_at(ctx.archive, ctx.line_starts, number) == raw:
                report.add("ledger", "manifests/ledger/leaves", FAILED,
                           f"line {(position or 0) + 1} is a copy of line {number + 1} "
                           f"(the leaf of {cid}): no capture's leaf")
                continue
            if position is None:  # sealed, not in the ledger: its place would be this
                position = group.first + at
                leaf = b""
            if cid in ctx.large:
                previous = _place_of_large(ctx, cid, position, leaf, previous, report)
                before = position
                continue
            sealed = _read(ctx.archive, cid, report)
            out["ids"].append(cid)
            if sealed is None:
                previous, before = Missing(cid), position
                continue
            if number is not None and number != position and sealed.sequence == number + 1:
                position = number  # its line, displaced in the file, and its manifest agree
            _in_ledger(ctx.archive, sealed, position, leaf, report)
            link = previous if before == position - 1 or position == 0 else Displaced()
            _chain(sealed.capture_id, sealed.sequence, sealed.head.get("chain"), position,
                   None if position == 0 else link, report)
            previous, before = sealed.sha256, position
            check_capture(ctx, sealed, logged, conn, report, out)
    finally:
        if conn is not None:
            conn.close()
    out["findings"] = report.findings()
    return out


Logged = tuple[dict[str, dict[str, str]], set[str]]  # files by capture; those recorded


def check_capture(ctx: Context, sealed: manifest.Sealed, logged: Logged,
                  conn: sqlite3.Connection | None, report: Report, out: dict[str, Any],
                  files: bool = True) -> None:
    """What is about one capture alone (its place in the chain and ledger aside)."""
    from .coverage import check_capture_coverage
    from .seals import check_seal
    from .tokens import check_timestamps, tokens_of, trusted_roots

    archive, cid = ctx.archive, sealed.capture_id
    def roots() -> list[Any]:  # loaded once a process, and only for a capture with tokens
        if ctx.roots is None:
            ctx.roots = trusted_roots(archive, report.notes)
        return ctx.roots

    with malformed(report, cid):
        check_seal(archive, sealed, ctx.signers, ctx.admission, report)
        check_timestamps(sealed, tokens_of(sealed, roots), report)
        recorded = cid in logged[1] or cid in ctx.recorded_beyond_index
        finished = str(sealed.head.get("finished_at") or "")
        if not recorded and ctx.log_began and finished > ctx.log_began and cid not in ctx.sealing:
            report.add("custody log", cid, FAILED, "the custody log, begun before it was "
                       "sealed, has no `captured` event for it (removed?)", cid)
        out["older"] += check_capture_coverage(archive, sealed, logged[0].get(cid), recorded,
                                               report)
        out.setdefault("jobs", []).extend(job_of(sealed))
        if (content := sealed.content) is None:
            return
        _database_rows(ctx, sealed, content, conn, report)
        if files:
            _warc_files(ctx, sealed, report, out)
        else:
            out["paths"] += _paths(content)


def check_big_seal(ctx: Context, sealed: manifest.Sealed) -> dict[str, Any]:
    """A job: what check_capture checks of a large capture the parent holds parsed, its
    WARC files aside (their parts are jobs of their own)."""
    report = Report(str(ctx.archive.root), summarize=ctx.summarize)
    out: dict[str, Any] = {"paths": [], "big": [], "ids": [sealed.capture_id], "older": 0}
    conn = database_of(ctx.archive)
    try:
        check_capture(ctx, sealed, logged_of(ctx, [sealed.capture_id]), conn, report, out,
                      files=False)
    finally:
        if conn is not None:
            conn.close()
    out["findings"] = report.findings()
    return out


def warc_bytes(sealed: manifest.Sealed) -> int:
    try:
        return sum(int(e["bytes"]) for e in (sealed.content or {}).get("warc_files") or [])
    except (KeyError, TypeError, ValueError):
        return 0


def _paths(content: dict[str, Any]) -> list[str]:
    entries = content.get("warc_files")
    return [str(e.get("path")) for e in entries if isinstance(e, dict)] \
        if isinstance(entries, list) else []


_CHAIN = re.compile(rb'\n  "chain": \{\n    "previous_sha256": (null|"[0-9a-f]{64}"),\n'
                    rb'    "sequence": (\d+)\n  \}')


def _place_of_large(ctx: Context, cid: str, position: int, leaf: bytes | None,
                    previous: str | None, report: Report) -> str | None:
    """A large capture's place in the chain and the ledger, from its bytes, without
    parsing them (its chain read from its canonical JSON; the parent parses it)."""
    path = ctx.archive.manifests_dir / f"{cid}.json"
    try:
        data = path.read_bytes()
    except OSError:
        return None  # the parent's own reading reports it
    found = _CHAIN.search(data)
    if found is None:  # not canonical: parsed after all
        sealed = manifest.read(path)
        sequence, chain = sealed.sequence, sealed.head.get("chain")
    else:
        raw = found.group(1).decode()
        chain = {"previous_sha256": None if raw == "null" else raw.strip('"')}
        sequence = int(found.group(2))
    digest = hashlib.sha256(data).hexdigest()
    leaf_hash = hashlib.sha256(b"\x00" + data).digest()
    _leaf_row(ctx.archive, cid, leaf_hash, sequence, position, leaf, report)
    _chain(cid, sequence, chain, position, previous, report)
    return digest


def _read(archive: Archive, cid: str, report: Report) -> manifest.Sealed | None:
    path = archive.manifests_dir / f"{cid}.json"
    try:
        return manifest.read(path)
    except FileNotFoundError:
        report.add("manifest", f"{cid}.json", FAILED, "the ledger names it, and it is gone", cid)
    except (OSError, ValueError) as exc:
        report.add("manifest", f"{cid}.json", UNCHECKED, f"cannot be read: {exc}", cid)
    return None


def _previous_sha256(archive: Archive, group: Group) -> str | None:
    """The sha256 of the manifest at the leaf before the group (None: the first leaf)."""
    if group.first == 0:
        return None
    path = archive.manifests_dir / "ledger" / "leaves"
    with open(path, "rb") as fh:
        start = max(0, group.offset - 4096)
        fh.seek(start)
        block = fh.read(group.offset - start)
    line = block.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("ascii", "replace").split()
    if len(line) < 2:
        return None
    try:
        data = (archive.manifests_dir / f"{line[1]}.json").read_bytes()
    except OSError:
        return None
    return hashlib.sha256(data).hexdigest()


def _in_ledger(archive: Archive, sealed: manifest.Sealed, position: int, leaf: bytes | None,
               report: Report) -> None:
    _leaf_row(archive, sealed.capture_id, sealed.leaf_hash, sealed.sequence, position, leaf,
              report)


def _leaf_row(archive: Archive, cid: str, leaf_hash: bytes, sequence: int | None,
              position: int, leaf: bytes | None, report: Report) -> None:
    """The capture's leaf, at its place; ``leaf`` b"": sealed but not in the ledger (the
    ledger's check says what that is)."""
    if leaf == b"":
        return
    problems = []
    if leaf is None:
        problems.append(f"leaf {position} is not a leaf line")
    elif leaf != leaf_hash:
        which = which_changed(archive, cid, leaf_hash, leaf, position)
        problems.append(f"leaf {position}: {which}")
    if sequence is not None and sequence != position + 1:
        problems.append(f"leaf {position} holds sequence {sequence}: reordered")
    report.add("ledger", cid, FAILED if problems else PASSED,
               "; ".join(problems) or f"leaf {position}", cid)


class Displaced(str):
    """In place of the sha256 of the manifest before another: the line before its leaf's
    in the file is not the leaf before it (lines inserted, removed or swapped)."""


class Missing(str):
    """In place of the sha256 of a manifest before another: the capture id of one gone."""


def _chain(cid: str, sequence: int | None, chain: Any, position: int, previous: str | None,
           report: Report) -> None:
    """Sequence position + 1, naming the sha256 of the manifest before it."""
    if not isinstance(chain, dict):
        chain = {}
    problems = []
    if sequence != position + 1:
        problems.append(f"sequence {sequence} where {position + 1} was expected")
    if isinstance(previous, Displaced):
        if problems:
            report.add("chain", cid, FAILED, "; ".join(problems), cid)
        else:
            report.add("chain", cid, UNCHECKED, f"the line before its leaf's in the leaves "
                       f"file is not leaf {position - 1}'s: its link is not followed (the "
                       "ledger check names the lines out of place)", cid)
        return
    if isinstance(previous, Missing):
        problems.append(f"the manifest before it, {previous}, is missing: its link cannot "
                        "be followed")
    elif chain.get("previous_sha256") != previous:
        problems.append(f"previous_sha256 is {chain.get('previous_sha256')}, but the "
                        f"manifest before it hashes to {previous}")
    report.add("chain", cid, FAILED if problems else PASSED,
               "; ".join(problems) or f"sequence {sequence}", cid)


def logged_of(ctx: Context, ids: list[str]) -> Logged:
    """The files the custody log recorded for these captures, from its index (and, from
    the parent, what follows the index)."""
    from ..seal.log_events import files_logged

    wanted = set(ids)
    found = {cid: dict(files) for cid, files in ctx.logged_beyond_index.items()
             if cid in wanted}
    recorded = {cid for cid in ctx.recorded_beyond_index if cid in wanted}
    if ctx.use_index:
        logged, more = files_logged(ctx.archive.root, ids)
        for cid, files in logged.items():
            found.setdefault(cid, {}).update(files)
        recorded |= more
    return found, recorded


def database_of(archive: Archive) -> sqlite3.Connection | None:
    from ..index.query import open_readonly

    if not archive.db_path.exists():
        return None
    try:
        return open_readonly(archive.db_path)
    except Exception:  # an unusable database is reported once, by its own job
        return None


def _database_rows(ctx: Context, sealed: manifest.Sealed, content: dict[str, Any],
                   conn: sqlite3.Connection | None, report: Report) -> None:
    from .database import check_database

    if conn is None:
        return
    cid = sealed.capture_id
    try:
        check_database(ctx.archive, conn, cid, content, sealed.sha256, report, ctx.sealing)
    except (KeyError, TypeError, AttributeError) as exc:
        report.add("database", f"captures/{cid}", UNCHECKED,
                   f"the manifest lacks what to compare ({exc!r})", cid)
    except sqlite3.Error:
        pass  # an unreadable database: its own job says so


def _warc_files(ctx: Context, sealed: manifest.Sealed, report: Report,
                out: dict[str, Any]) -> None:
    """The capture's WARC files: read here when small, else handed back with the
    manifest's records, for the parent to cut into parts."""
    from .records import check_file, plan

    content = sealed.content or {}
    out["paths"] += _paths(content)
    if warc_bytes(sealed) > SMALL:
        try:
            manifest.warc_layout(content)
        except ValueError:
            pass
        else:
            out["big"].append(sealed.capture_id)
            return
    jobs: list[Any] = []

    def add(job: Any) -> int:  # run when their result is asked for, here
        jobs.append(job)
        return len(jobs) - 1

    try:
        files = plan(ctx.archive, sealed, add, 1 << 62, ctx.summarize)
    except ValueError:
        report.add("warc-records", sealed.capture_id, UNCHECKED,
                   "the manifest's lists of files and records cannot be read",
                   sealed.capture_id)
        return
    for one in files:
        check_file(ctx.archive, one, lambda number: jobs[number](), report)


def large_files(archive: Archive, sealed: manifest.Sealed, workers: int,
                part_bytes: int | None, summarize: bool, report: Report) -> None:
    """A capture's large WARC files, cut into parts for every worker, in a pool of their
    own (its manifest held parsed here, once)."""
    from .pool import Job, Pool
    from .records import check_file, part_size, plan

    jobs: list[Job] = []

    def add(job: Job) -> int:
        jobs.append(job)
        return len(jobs) - 1

    size = part_size(warc_bytes(sealed), workers + 1, *([part_bytes] if part_bytes else []))
    try:
        files = plan(archive, sealed, add, size, summarize)
    except ValueError:
        report.add("warc-records", sealed.capture_id, UNCHECKED,
                   "the manifest's lists of files and records cannot be read",
                   sealed.capture_id)
        return
    with Pool(jobs, workers) as pool:
        for one in files:
            check_file(archive, one, pool.result, report)
