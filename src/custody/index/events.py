"""The custody log's events, indexed in custody.db: where each lies in the log, and which
captures it is about.

A command that shows a capture's history (``show``, ``report``, ``bundle``, ``log
--capture``, ``verify ID``) reads that capture's events from the log at the offsets
kept here, and checks each against the log itself (its sha256): it never reads the
whole log. Derived, like every table: the log is the evidence, ``custody reindex``
rebuilds these rows from it, and ``custody verify`` compares them with it. The cases,
tags and notes the events make (annotation.py) are applied as each event is indexed, so
that they are as current as this index.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import annotation

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS log_events (seq INTEGER PRIMARY KEY, at TEXT, event TEXT, "
    "who TEXT, key TEXT, offset INTEGER NOT NULL, length INTEGER NOT NULL, "
    "sha256 TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS log_event_captures (capture_id TEXT NOT NULL, "
    "seq INTEGER NOT NULL, PRIMARY KEY (capture_id, seq)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS log_events_event ON log_events (event, at)",
)


@dataclass(frozen=True)
class Placed:
    """An event's place in the log, as indexed."""

    seq: int
    offset: int
    length: int
    sha256: str


def ensure(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)
    marks = ", ".join("?" * len(annotation.EVENTS))
    if annotation.ensure(conn) and conn.execute(
            f"SELECT 1 FROM log_events WHERE event IN ({marks}) LIMIT 1",
            annotation.EVENTS).fetchone():
        reset(conn)  # tables made after their events were indexed: index the log again


def reset(conn: sqlite3.Connection) -> None:
    """Forget every indexed event, and what the annotation events made."""
    conn.execute("DELETE FROM log_events")
    conn.execute("DELETE FROM log_event_captures")
    annotation.reset(conn)


def has_table(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                        "name = 'log_events'").fetchone() is not None


def captures_named(entry: dict[str, Any]) -> list[str]:
    """The captures an event is about: ``capture_id``, or an export's ``capture_ids``."""
    details = entry.get("details")
    if not isinstance(details, dict):
        return []
    found = []
    if isinstance(details.get("capture_id"), str):
        found.append(details["capture_id"])
    named = details.get("capture_ids")
    if isinstance(named, list):
        found += [c for c in named if isinstance(c, str)]
    return list(dict.fromkeys(found))


def entry_of(line: bytes) -> dict[str, Any]:
    """A log line's event, as the index reads it ({} for a line that is none)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return {}
    return entry if isinstance(entry, dict) else {}


def fields_of(entry: dict[str, Any]) -> tuple[str | None, ...]:
    """What log_events keeps of an event besides its place: at, event, who, key."""
    return tuple(_text(entry.get(name)) for name in ("at", "event", "who", "key"))


def add(conn: sqlite3.Connection, rows: Iterable[tuple[int, int, bytes, str]]) -> int:
    """Index events given as (seq, offset, line, sha256 of the line); how many."""
    count = 0
    for seq, offset, line, sha256 in rows:
        entry = entry_of(line)
        conn.execute("INSERT OR REPLACE INTO log_events (seq, at, event, who, key, offset, "
                     "length, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (seq, *fields_of(entry), offset, len(line), sha256))
        conn.executemany("INSERT OR IGNORE INTO log_event_captures (capture_id, seq) "
                         "VALUES (?, ?)", ((c, seq) for c in captures_named(entry)))
        annotation.apply(conn, seq, entry)
        count += 1
    return count


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def last(conn: sqlite3.Connection) -> Placed | None:
    row = conn.execute("SELECT seq, offset, length, sha256 FROM log_events "
                       "ORDER BY seq DESC LIMIT 1").fetchone()
    return Placed(*row) if row else None


def of_capture(conn: sqlite3.Connection, capture_id: str) -> list[Placed]:
    rows = conn.execute("SELECT e.seq, e.offset, e.length, e.sha256 FROM log_event_captures c "
                        "JOIN log_events e ON e.seq = c.seq WHERE c.capture_id = ? "
                        "ORDER BY e.seq", [capture_id]).fetchall()
    return [Placed(*row) for row in rows]


def placed(conn: sqlite3.Connection, seqs: Iterable[int]) -> list[Placed]:
    wanted = sorted(set(seqs))
    found = []
    for seq in wanted:
        row = conn.execute("SELECT seq, offset, length, sha256 FROM log_events WHERE seq = ?",
                           [seq]).fetchone()
        if row:
            found.append(Placed(*row))
    return found


def since(conn: sqlite3.Connection, events: Iterable[str], at: str) -> list[Placed]:
    """Events of these kinds at or after ``at`` (archive-wide ones: verifications)."""
    names = list(events)
    marks = ",".join("?" * len(names))
    rows = conn.execute(f"SELECT seq, offset, length, sha256 FROM log_events WHERE event IN "
                        f"({marks}) AND at >= ? ORDER BY seq", [*names, at]).fetchall()
    return [Placed(*row) for row in rows]


def tail(conn: sqlite3.Connection, count: int) -> list[Placed]:
    rows = conn.execute("SELECT seq, offset, length, sha256 FROM log_events ORDER BY seq DESC "
                        "LIMIT ?", [count]).fetchall()
    return [Placed(*row) for row in reversed(rows)]
