"""A capture's events, read from the custody log where custody.db's index says they lie.

The index (custody.index.events) is derived and can lag: events written while the
database was away, or by an earlier custody. ``catch_up`` indexes what follows the last
indexed event, reading only that part of the log; a reader that finds the index behind
reads the log's tail past it too; with no index at all, the whole log is read (and the
caller is told, for a note). Every event read is held to the sha256 the index kept for
it: a line that is not the one indexed is never taken for it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..index import events as index
from .history import line_hash, read_lines

EVENTS_FOR_ALL = ("verified",)  # events about the whole archive, shown with every capture


@dataclass
class Event:
    seq: int
    offset: int
    line: bytes

    @property
    def entry(self) -> dict[str, Any]:
        try:
            found = json.loads(self.line)
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}


def log_path(root: Path) -> Path:
    return root / "manifests" / "ledger" / "log.jsonl"


def catch_up(root: Path, conn: sqlite3.Connection) -> int:
    """Index the events that follow the last indexed one (all of them, when the index is
    empty or no longer matches the log); how many were indexed."""
    index.ensure(conn)
    start, seq = _resume_point(root, conn)
    if start is None:
        index.reset(conn)
        start, seq = 0, 0
    lines, _ = read_lines(log_path(root), start)
    rows = []
    offset = start
    for line in lines:
        if line:
            seq += 1
            rows.append((seq, offset, line, line_hash(line)))
        offset += len(line) + 1
    return index.add(conn, rows)


def _resume_point(root: Path, conn: sqlite3.Connection) -> tuple[int | None, int]:
    """Where the log goes on after the last indexed event, and its number; None when the
    log there is not the line that was indexed."""
    last = index.last(conn)
    if last is None:
        return 0, 0
    if read_placed(root, last) is None:
        return None, 0
    return last.offset + last.length + 1, last.seq


def read_placed(root: Path, placed: index.Placed) -> bytes | None:
    """The line at an indexed event's place, if it is the line indexed there."""
    try:
        with open(log_path(root), "rb") as fh:
            fh.seek(placed.offset)
            line = fh.read(placed.length + 1)
    except OSError:
        return None
    if not line.endswith(b"\n") or line_hash(line[:-1]) != placed.sha256:
        return None
    return line[:-1]


def index_after_append(root: Path) -> None:
    """After an event is appended: index it (and any before it the index lacks), when
    custody.db is there. A failure leaves the index behind, which the next catch-up
    mends: the log is the evidence, this only its index."""
    db_path = root / "custody.db"
    if not db_path.exists():
        return
    try:
        conn = sqlite3.connect(db_path, timeout=10)
        try:
            conn.execute("PRAGMA synchronous = NORMAL")  # (derived, as custody.db is)
            with conn:
                catch_up(root, conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return


def of_capture(root: Path, capture_id: str, *,
               archive_wide_since: str | None = None) -> tuple[list[Event], bool]:
    """The events about a capture (with ``archive_wide_since``: also the archive-wide ones
    from then on), in order; and whether the index served them (False: the whole log was
    read, there being no usable index)."""
    conn = _open(root)
    if conn is None:
        return list(_scan(root, capture_id, archive_wide_since, 0, 0)), False
    try:
        placed = index.of_capture(conn, capture_id)
        if archive_wide_since is not None:
            placed += index.since(conn, EVENTS_FOR_ALL, archive_wide_since)
        start, seq = _resume_point(root, conn)
    finally:
        conn.close()
    found: dict[int, Event] = {}
    for one in placed:
        line = read_placed(root, one)
        if line is None:  # not the line indexed: the index is not to be trusted
            return list(_scan(root, capture_id, archive_wide_since, 0, 0)), False
        found[one.seq] = Event(one.seq, one.offset, line)
    if start is None:
        return list(_scan(root, capture_id, archive_wide_since, 0, 0)), False
    for event in _scan(root, capture_id, archive_wide_since, start, seq):  # past the index
        found[event.seq] = event
    return [found[seq] for seq in sorted(found)], True


def _open(root: Path) -> sqlite3.Connection | None:
    db_path = root / "custody.db"
    if not db_path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        if not index.has_table(conn):
            conn.close()
            return None
        return conn
    except sqlite3.Error:
        return None


def _scan(root: Path, capture_id: str, since: str | None, start: int,
          seq: int) -> Iterator[Event]:
    lines, _ = read_lines(log_path(root), start)
    offset = start
    needle = capture_id.encode()
    for line in lines:
        if line:
            seq += 1
            if needle in line or since is not None:
                event = Event(seq, offset, line)
                entry = event.entry
                if capture_id in index.captures_named(entry) or (
                        since is not None and entry.get("event") in EVENTS_FOR_ALL
                        and str(entry.get("at")) >= since):
                    yield event
        offset += len(line) + 1


def placed_events(root: Path, seqs: list[int]) -> dict[int, Event]:
    """Events by number: through the index, and those it cannot place (no custody.db, an
    index behind the log or not its lines) read from the log itself, in one pass."""
    found: dict[int, Event] = {}
    conn = _open(root)
    if conn is not None:
        try:
            placed = index.placed(conn, seqs)
        finally:
            conn.close()
        for one in placed:
            line = read_placed(root, one)
            if line is not None:
                found[one.seq] = Event(one.seq, one.offset, line)
    wanted = set(seqs) - set(found)
    if wanted:
        lines, _ = read_lines(log_path(root), 0)
        seq = offset = 0
        for line in lines:
            if line:
                seq += 1
                if seq in wanted:
                    found[seq] = Event(seq, offset, line)
                    if len(found) == len(set(seqs)):
                        break
            offset += len(line) + 1
    return found


FILE_EVENTS = ("captured", "timestamped")  # events that record the bytes of a seal's files


def _files_of(entry: dict[str, Any], logged: dict[str, dict[str, str]],
              recorded: set[str]) -> None:
    details = entry.get("details")
    if not isinstance(details, dict) or entry.get("event") not in FILE_EVENTS:
        return
    files, cid = details.get("files"), details.get("capture_id")
    if isinstance(files, dict) and isinstance(cid, str):
        logged.setdefault(cid, {}).update({str(k): str(v) for k, v in files.items()})
        if entry.get("event") == "captured":
            recorded.add(cid)


def files_logged(root: Path, ids: list[str]) -> tuple[dict[str, dict[str, str]], set[str]]:
    """The files the log's `captured` and `timestamped` events recorded for these
    captures, read through the index; and the captures whose `captured` event recorded
    them. An event that is not the line indexed is left out (its capture then shows as
    unrecorded: the index's own check says why)."""
    logged: dict[str, dict[str, str]] = {}
    recorded: set[str] = set()
    conn = _open(root)
    if conn is None:
        return logged, recorded
    try:
        marks = ",".join("?" * len(ids))
        rows = conn.execute(
            "SELECT e.seq, e.offset, e.length, e.sha256 FROM log_event_captures c JOIN "
            f"log_events e ON e.seq = c.seq WHERE c.capture_id IN ({marks}) AND e.event IN "
            "('captured', 'timestamped') ORDER BY e.seq", ids).fetchall() if ids else []
    finally:
        conn.close()
    for row in rows:
        line = read_placed(root, index.Placed(*row))
        if line is not None:
            _files_of(Event(row[0], row[1], line).entry, logged, recorded)
    return logged, recorded


def beyond_index(root: Path) -> tuple[dict[str, dict[str, str]], set[str], bool] | None:
    """What ``files_logged`` cannot find through the index: the files recorded by events
    past its last one (and whether that is the whole log: no usable index). None: the
    index reaches the log's end."""
    conn = _open(root)
    if conn is None:
        start: int | None = 0
    else:
        try:
            start, _ = _resume_point(root, conn)
        finally:
            conn.close()
    whole = start is None or start == 0
    lines, _ = read_lines(log_path(root), start or 0)
    if not lines:
        return None
    logged: dict[str, dict[str, str]] = {}
    recorded: set[str] = set()
    for line in lines:
        if line and (b'"captured"' in line or b'"timestamped"' in line):
            _files_of(Event(0, 0, line).entry, logged, recorded)
    return logged, recorded, whole
