"""custody.db's derived tables held to what they are derived from: the cases, tags and
notes to the custody log's events, the selectors to the documents' text (itself held to
the sealed digests), the captures' facets (sites, languages) to their rows.

The annotation tables are made again in memory from the log's lines -- read from the log,
not from the index -- by the same rules the index applies (index/annotation.py), up to
the last event the index holds (one written since, while custody.db was away, is noted),
and compared row for row, every column: a row added, edited or removed by hand fails, as
does an event of the log changed after it was indexed (its signature fails too). An
event the rules refuse, which custody never writes, is noted.
"""

from __future__ import annotations

import json
import sqlite3
from itertools import groupby
from typing import Any

from ..core.archive import Archive
from ..index import annotation, selectors, watching
from ..index.listing import facets_of
from ..seal.log_events import log_path
from .report import FAILED, PASSED, UNCHECKED, Report

_NAMED = 5  # rows named in a failure


def check_annotations(archive: Archive) -> Any:
    """A job: the annotation tables and the captures' facets."""
    report = Report(str(archive.root))
    if not archive.db_path.exists():
        return report.findings()
    try:
        conn = sqlite3.connect(":memory:")
        conn.execute("ATTACH DATABASE ? AS kept", [f"file:{archive.db_path}?mode=ro"])
    except sqlite3.Error as exc:
        report.add("database", "annotations", UNCHECKED, f"cannot be read ({exc})")
        return report.findings()
    try:
        _annotations(archive, conn, report)
        _facets(conn, report)
        _watch_changes(conn, report)
    except sqlite3.Error as exc:
        report.add("database", "annotations", UNCHECKED, f"cannot be compared ({exc})")
    except OSError as exc:  # the log cannot be read (its own check fails)
        report.add("database", "annotations", UNCHECKED,
                   f"cannot be compared with the custody log ({exc.strerror or exc})")
    finally:
        conn.close()
    return report.findings()


def _has(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM kept.sqlite_master WHERE type = 'table' AND name = ?",
                        [table]).fetchone() is not None


def _annotations(archive: Archive, conn: sqlite3.Connection, report: Report) -> None:
    indexed = conn.execute("SELECT max(seq) FROM kept.log_events").fetchone()[0] \
        if _has(conn, "log_events") else None
    annotation.ensure(conn)
    refused, later = _replay(archive, conn, indexed or 0)
    report.notes += [f"custody log event {seq} ({event}) changes no case, tag or note: "
                     f"{reason}" for seq, event, reason in refused[:10]]
    if later:
        report.notes.append(f"{later} case, tag or note event(s) of the custody log are not "
                            "in custody.db's index yet (the next custody command that "
                            "writes indexes them)")
    missing = [t for t in annotation.TABLES if not _has(conn, t)]
    if missing:
        made = sum(conn.execute(f"SELECT count(*) FROM main.{t}").fetchone()[0]
                   for t in annotation.TABLES)
        if made:
            report.add("database", "annotations", FAILED, "custody.db lacks "
                       f"{', '.join(missing)}, which the custody log's events make "
                       "(`custody reindex` rebuilds them)")
        else:
            report.notes.append("custody.db has no tables of cases, tags and notes (made by "
                                "an earlier custody); the log holds none")
        return
    problems = []
    rows = 0
    for table, (key, query) in annotation.TABLES.items():
        made = query.format(f"main.{table}")
        kept = query.format(f"kept.{table}")
        if table == "watches":  # (a table made before a column was added: none in it)
            kept = watching.older_columns(kept, {row[1] for row in conn.execute(
                "PRAGMA kept.table_info(watches)")})
        rows += conn.execute(f"SELECT count(*) FROM kept.{table}").fetchone()[0]
        extra = conn.execute(f"SELECT * FROM ({kept}) EXCEPT SELECT * FROM ({made})").fetchall()
        lost = conn.execute(f"SELECT * FROM ({made}) EXCEPT SELECT * FROM ({kept})").fetchall()
        width = key.count(",") + 1
        edited = {_key(r, width) for r in extra} & {_key(r, width) for r in lost}
        problems += [f"{table} {k}: not as the log's events make it (edited)"
                     for k in sorted(edited)[:_NAMED]]
        problems += [f"{table} {k}: in custody.db, but no event of the log makes it"
                     for k in sorted({_key(r, width) for r in extra} - edited)[:_NAMED]]
        problems += [f"{table} {k}: the log's events make it, custody.db lacks it"
                     for k in sorted({_key(r, width) for r in lost} - edited)[:_NAMED]]
    outcome = FAILED if problems else PASSED
    report.add("database", "annotations", outcome,
               "; ".join(problems[:10]) if problems else
               f"{rows} rows of cases, tags and notes, as the custody log's events make them")


def _key(row: tuple[Any, ...], width: int) -> str:
    return "/".join(str(v) for v in row[:width])


def _replay(archive: Archive, conn: sqlite3.Connection,
            up_to: int) -> tuple[list[tuple[int, str, str]], int]:
    """Apply the log's annotation events numbered up to ``up_to`` to the tables in memory;
    the events the rules refused, and how many annotation events lie past ``up_to``."""
    import json

    names = [f'"{name}"'.encode() for name in annotation.EVENTS]
    refused: list[tuple[int, str, str]] = []
    later = 0
    try:
        fh = open(log_path(archive.root), "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        return refused, later
    with fh:
        seq = 0
        for raw in fh:
            if not raw.endswith(b"\n"):
                break  # a torn last line: never signed whole, never indexed
            if not raw.strip():
                continue
            seq += 1
            if not any(name in raw for name in names):
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(entry, dict) or entry.get("event") not in annotation.EVENTS:
                continue
            if seq > up_to:
                later += 1
                continue
            reason = annotation.apply(conn, seq, entry)
            if reason is not None:
                refused.append((seq, str(entry.get("event")), reason))
    return refused, later


def _facets(conn: sqlite3.Connection, report: Report) -> None:
    if not _has(conn, "capture_facets") or not _has(conn, "captures"):
        return
    problems: list[str] = []
    rows = 0
    for (capture_id,) in conn.execute("SELECT id FROM kept.captures ORDER BY id"):
        want = facets_of(conn, capture_id)
        have = set(conn.execute("SELECT kind, value, started_at, capture_id FROM "
                                "kept.capture_facets WHERE capture_id = ?", [capture_id]))
        rows += len(have)
        problems += [f"{capture_id}: {kind} {value}: not the capture's"
                     for kind, value, _, _ in sorted(have - want)[:2]]
        problems += [f"{capture_id}: {kind} {value}: missing"
                     for kind, value, _, _ in sorted(want - have)[:2]]
    orphans = conn.execute("SELECT count(*) FROM kept.capture_facets WHERE capture_id NOT IN "
                           "(SELECT id FROM kept.captures)").fetchone()[0]
    if orphans:
        problems.append(f"{orphans} rows of no capture")
    report.add("database", "capture_facets", FAILED if problems else PASSED,
               "; ".join(problems[:10]) or f"{rows} rows, as the captures' URLs and "
               "languages give them")


def _watch_changes(conn: sqlite3.Connection, report: Report) -> None:
    """Each change the log records compares two captures of its watch's URL, sealed as
    the event says (its manifests' sha256): a change between captures of other pages, or
    of captures that are not there, is no evidence of what the watched page did."""
    if not _has(conn, "captures") or not _has(conn, "watch_changes"):
        return
    problems = []
    rows = conn.execute(
        "SELECT c.seq, w.url, c.before_capture, c.before_manifest_sha256, b.seed_url, "
        "b.manifest_sha256, c.after_capture, c.after_manifest_sha256, a.seed_url, "
        "a.manifest_sha256 FROM main.watch_changes c JOIN main.watches w ON w.id = "
        "c.watch_id LEFT JOIN kept.captures b ON b.id = c.before_capture LEFT JOIN "
        "kept.captures a ON a.id = c.after_capture ORDER BY c.seq").fetchall()
    if not rows:
        return
    after_of: dict[str, tuple[str, int]] = {}  # each watch's last change: its after capture
    sequence = dict(conn.execute("SELECT id, sequence FROM kept.captures WHERE id IN (SELECT "
                                 "before_capture FROM main.watch_changes UNION SELECT "
                                 "after_capture FROM main.watch_changes)"))
    for (seq, url, *sides), (watch_id, kinds) in zip(rows, conn.execute(
            "SELECT watch_id, kinds FROM main.watch_changes ORDER BY seq").fetchall(),
            strict=True):
        before, last = sides[0], after_of.get(watch_id)
        # (a page there again is compared with the last capture that showed it, before
        # it went: that one is older)
        if last is not None and (sequence.get(before) or 0) < last[1] and \
                "returned" not in json.loads(kinds):
            problems.append(f"change {seq}: compares {before}, sealed before {last[0]}, "
                            "the capture of the watch's change before it")
        after_of[watch_id] = (sides[4], sequence.get(sides[4]) or 0)
        for capture_id, said, seed, sealed in (sides[:4], sides[4:]):
            if seed is None:
                problems.append(f"change {seq}: capture {capture_id} is not in the archive")
            elif seed != url:
                problems.append(f"change {seq}: capture {capture_id} is of {seed}, not of the "
                                f"watched {url}")
            elif sealed != said:
                problems.append(f"change {seq}: capture {capture_id}'s manifest is not the "
                                "one the change names (sha256)")
    report.add("database", "watch changes", FAILED if problems else PASSED,
               "; ".join(problems[:10]) + (f" ({len(problems)} in all)"
                                           if len(problems) > 10 else "")
               or f"{len(rows)} changes, each between two sealed captures of its watch's URL")


def check_selectors(archive: Archive, between: tuple[int | None, int | None] = (None, None),
                    capture_ids: list[str] | None = None) -> Any:
    """A job: the selectors of the documents whose ids are ``between`` (inclusive; or of
    the given captures), found again in each text and compared with the table's rows."""
    report = Report(str(archive.root))
    if not archive.db_path.exists():
        return report.findings()
    try:
        conn = sqlite3.connect(f"file:{archive.db_path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        report.add("database", "selectors", UNCHECKED, f"cannot be read ({exc})")
        return report.findings()
    try:
        if not selectors.has_table(conn):
            report.notes.append("custody.db has no selectors table (made by an earlier "
                                "custody): `custody reindex` makes one")
            return report.findings()
        _compare_selectors(conn, between, capture_ids, report)
    except sqlite3.Error as exc:
        report.add("database", "selectors", UNCHECKED, f"cannot be compared ({exc})")
    finally:
        conn.close()
    return report.findings()


def _compare_selectors(conn: sqlite3.Connection, between: tuple[int | None, int | None],
                       capture_ids: list[str] | None, report: Report) -> None:
    low, high = between
    where: list[str] = ["1"]
    params: list[Any] = []
    if low is not None:
        where.append("{id} >= ?")
        params.append(low)
    if high is not None:
        where.append("{id} <= ?")
        params.append(high)
    if capture_ids:
        where.append(f"capture_id IN ({', '.join('?' * len(capture_ids))})")
        params += capture_ids
    condition = " AND ".join(where)
    documents = conn.execute(f"SELECT id, capture_id, text FROM documents WHERE "
                             f"{condition.format(id='id')} ORDER BY id", params)
    kept = groupby(conn.execute(
        f"SELECT {', '.join(selectors.COLUMNS)} FROM selectors WHERE "
        f"{condition.format(id='document_id')} ORDER BY document_id", params),
        key=lambda row: row[0])
    pending = next(kept, None)
    problems: list[str] = []
    count = 0
    for doc_id, capture_id, text in documents:
        while pending is not None and pending[0] < doc_id:
            problems.append(f"document {pending[0]}: selectors of no document")
            pending = next(kept, None)
        have = set(pending[1]) if pending is not None and pending[0] == doc_id else set()
        if pending is not None and pending[0] == doc_id:
            pending = next(kept, None)
        want = set(selectors.rows_of(doc_id, capture_id, text))
        count += len(want)
        for row in sorted(have - want)[:2]:
            problems.append(f"document {doc_id}: {row[2]} {row[3]!r} is not as its text gives it")
        for row in sorted(want - have)[:2]:
            problems.append(f"document {doc_id}: {row[2]} {row[3]!r} is missing")
    while pending is not None:
        problems.append(f"document {pending[0]}: selectors of no document")
        pending = next(kept, None)
    subject = "selectors" if between == (None, None) else \
        f"selectors (documents {low or 1} to {high if high is not None else 'the last'})"
    report.add("database", subject, FAILED if problems else PASSED,
               "; ".join(problems[:10]) + (f" (+{len(problems) - 10} more)"
                                           if len(problems) > 10 else "")
               if problems else f"{count} selectors, as the documents' text gives them")
