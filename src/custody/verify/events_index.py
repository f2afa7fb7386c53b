"""custody.db's index of the custody log (index/events.py) against the log itself: each
event's place (offset, length, sha256), what the index keeps of it (at, event, who,
key) and the captures it is about. Commands read the log through these rows: a report
finds a capture's events, and the verifications since it was sealed, by them, so a row
edited there (a failed verification's time moved, a capture's event unlinked) would
hide an event from a report while the log itself is intact."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core.archive import Archive
from ..index import events
from ..seal.log_events import log_path
from .report import FAILED, PASSED, UNCHECKED, Report

_SAID = 5  # problems said, at most


def check_events_index(archive: Archive) -> Any:
    """A job: custody.db's index of the log's events against the log itself."""
    report = Report(str(archive.root))
    if not archive.db_path.exists():
        return report.findings()
    try:
        conn = sqlite3.connect(f"file:{archive.db_path}?mode=ro", uri=True)
    except sqlite3.Error:
        return report.findings()
    try:
        if not events.has_table(conn):
            report.notes.append("custody.db has no index of the custody log (made by an "
                                "earlier custody): `custody reindex` makes one")
            return report.findings()
        rows = conn.execute("SELECT seq, offset, length, sha256, at, event, who, key "
                            "FROM log_events ORDER BY seq")
        named = conn.execute("SELECT seq, capture_id FROM log_event_captures ORDER BY seq")
        problems = _problems(log_path(archive.root), rows, _by_event(named))
    except sqlite3.Error as exc:
        report.add("database", "log_events", UNCHECKED, f"cannot be read ({exc})")
        return report.findings()
    finally:
        conn.close()
    report.add("database", "log_events", FAILED if problems else PASSED,
               "; ".join(problems[:_SAID]) or "as the custody log holds them")
    return report.findings()


def _by_event(rows: Any) -> Iterator[tuple[int, set[str]]]:
    """log_event_captures as (seq, the captures named), in order of seq."""
    seq, found = None, set()
    for number, capture_id in rows:
        if number != seq and seq is not None:
            yield seq, found
            found = set()
        seq = number
        found.add(capture_id)
    if seq is not None:
        yield seq, found


def _problems(path: Path, rows: Any, named: Iterator[tuple[int, set[str]]]) -> list[str]:
    problems: list[str] = []
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return ["the custody log is missing"]
    except OSError as exc:
        return [f"the custody log is unreadable ({exc.strerror or exc})"]
    linked = next(named, None)
    with fh:
        offset, number = 0, 0
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            line = raw[:-1]
            if line:
                number += 1
                row = next(rows, None)
                if row is None:
                    break  # the index may lag the log: what follows is read from the log
                while linked is not None and linked[0] < number:  # an event out of place
                    if len(problems) < _SAID:
                        problems.append(f"event {linked[0]} is linked to captures, and is "
                                        "not indexed where the log holds it")
                    linked = next(named, None)
                captures: set[str] = set()
                if linked is not None and linked[0] == number:
                    captures, linked = linked[1], next(named, None)
                if len(problems) < _SAID:  # (the few said: an index shifted by one
                    problems += _differs(number, offset, line, tuple(row), captures)
                    # differs at every event after)
            offset += len(raw)
        extra = next(rows, None)
        if extra is not None:
            problems.append(f"event {extra[0]} is indexed, and the log has no such event")
        elif linked is not None and number and linked[0] > number:
            problems.append(f"event {linked[0]} is linked to captures, and the log has no "
                            "such event")
    return problems


def _differs(number: int, offset: int, line: bytes, row: tuple[Any, ...],
             captures: set[str]) -> list[str]:
    if row[:4] != (number, offset, len(line), hashlib.sha256(line).hexdigest()):
        return [f"event {row[0]} is indexed at {row[1]}, not where the log holds event "
                f"{number}"]
    entry = events.entry_of(line)
    said = []
    kept = events.fields_of(entry)
    for name, have, want in zip(("at", "event", "who", "key"), row[4:], kept, strict=True):
        if have != want:
            said.append(f"event {number}'s {name} is {have!r:.60} in custody.db, the log "
                        f"says {want!r:.60}")
    wanted = set(events.captures_named(entry))
    if captures != wanted:
        gone, added = sorted(wanted - captures), sorted(captures - wanted)
        said.append(f"event {number} is linked to the captures "
                    + (f"without {', '.join(gone[:3])}" if gone else "")
                    + (" and " if gone and added else "")
                    + (f"with {', '.join(added[:3])}, which it does not name" if added else ""))
    return said
