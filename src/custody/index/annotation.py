"""Cases, tags and notes, as the custody log's events make them: custody.db's tables
``cases``, ``case_captures``, ``case_events``, ``tags`` and ``notes``.

The events are the evidence (signed, chained, in the log); these tables are derived from
them alone, in the log's order, each event applied as it is indexed (events.py), so that
``custody reindex`` rebuilds them and ``custody verify`` compares them with what the log
says. The rules below decide what an event does. custody.annotate checks them before it
writes an event, so an event it wrote always applies; one that a rule refuses (a case
added to after it was closed, a note retracted twice) changes nothing, here as in
verify's reading, which notes it.

The events and their ``details``:

- ``case-created`` case_id, name, [description]; ``case-renamed`` case_id, name,
  previous; ``case-closed`` / ``case-reopened`` case_id, name, [reason]
- ``case-added`` / ``case-removed`` case_id, name, capture_ids, [reason]
- ``tagged`` / ``untagged`` capture_id, tag
- ``note-added`` note_id, capture_id, text, [page_url], [case_id], [supersedes], [quote:
  text, url, record_id, text_sha256, start, end]
- ``note-retracted`` note_id, capture_id, reason

each with an optional ``account`` (the workbench's user who asked for it; the event's
``who`` is the archivist whose key signed it). The watches' events and tables (watching.py)
are applied here too, so that the index, reindex and verify treat them alike.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from typing import Any

from . import watching

CASE_EVENTS = ("case-created", "case-renamed", "case-closed", "case-reopened", "case-added",
               "case-removed")
EVENTS = (*CASE_EVENTS, "tagged", "untagged", "note-added", "note-retracted",
          *watching.EVENTS)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS cases (id TEXT PRIMARY KEY, name TEXT NOT NULL, name_key "
    "TEXT NOT NULL, description TEXT, status TEXT NOT NULL, created_seq INTEGER NOT NULL, "
    "created_at TEXT, created_by TEXT, account TEXT, changed_seq INTEGER NOT NULL, "
    "changed_at TEXT, reason TEXT)",
    "CREATE INDEX IF NOT EXISTS cases_name_key ON cases (name_key)",
    "CREATE TABLE IF NOT EXISTS case_captures (case_id TEXT NOT NULL, capture_id TEXT NOT "
    "NULL, seq INTEGER NOT NULL, at TEXT, who TEXT, account TEXT, PRIMARY KEY (case_id, "
    "capture_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS case_captures_capture ON case_captures (capture_id)",
    "CREATE TABLE IF NOT EXISTS case_events (case_id TEXT NOT NULL, seq INTEGER NOT NULL, "
    "PRIMARY KEY (case_id, seq)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS tags (capture_id TEXT NOT NULL, tag_key TEXT NOT NULL, tag "
    "TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT, who TEXT, account TEXT, PRIMARY KEY "
    "(capture_id, tag_key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS tags_tag ON tags (tag_key, capture_id)",
    "CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, at TEXT, "
    "who TEXT, account TEXT, capture_id TEXT NOT NULL, case_id TEXT, page_url TEXT, text "
    "TEXT NOT NULL, quote TEXT, quote_url TEXT, quote_record_id TEXT, quote_text_sha256 "
    "TEXT, quote_start INTEGER, quote_end INTEGER, supersedes TEXT, superseded_by TEXT, "
    "retracted_seq INTEGER, retracted_at TEXT, retracted_by TEXT, retracted_reason TEXT)",
    "CREATE INDEX IF NOT EXISTS notes_capture ON notes (capture_id, seq)",
    "CREATE INDEX IF NOT EXISTS notes_case ON notes (case_id, seq)",
    *watching.SCHEMA,
)
# each table in a fixed order of rows and columns, for comparing two databases
TABLES = {
    "cases": ("id", "SELECT id, name, name_key, description, status, created_seq, created_at, "
                    "created_by, account, changed_seq, changed_at, reason FROM {} ORDER BY id"),
    "case_captures": ("case_id, capture_id", "SELECT case_id, capture_id, seq, at, who, "
                                             "account FROM {} ORDER BY case_id, capture_id"),
    "case_events": ("case_id, seq", "SELECT case_id, seq FROM {} ORDER BY case_id, seq"),
    "tags": ("capture_id, tag_key", "SELECT capture_id, tag_key, tag, seq, at, who, account "
                                    "FROM {} ORDER BY capture_id, tag_key"),
    "notes": ("id", "SELECT id, seq, at, who, account, capture_id, case_id, page_url, text, "
                    "quote, quote_url, quote_record_id, quote_text_sha256, quote_start, "
                    "quote_end, supersedes, superseded_by, retracted_seq, retracted_at, "
                    "retracted_by, retracted_reason FROM {} ORDER BY id"),
    **watching.TABLES,
}


def ensure(conn: sqlite3.Connection) -> bool:
    """Make the tables; True when they were not there (and so hold none of the events
    indexed before: the caller indexes the log again)."""
    new = not has_tables(conn, TABLES)
    watching.migrate(conn)
    for statement in SCHEMA:
        conn.execute(statement)
    return new


def has_tables(conn: sqlite3.Connection, tables: Any = None) -> bool:
    """Whether custody.db has the tables (by default the cases', tags' and notes': one
    made before the watches' tables still serves them, until a write adds those)."""
    wanted = [t for t in (tables or TABLES) if tables or t not in watching.TABLES]
    found = {row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
        f"({', '.join('?' * len(wanted))})", wanted)}
    return found == set(wanted)


def reset(conn: sqlite3.Connection) -> None:
    for table in TABLES:
        conn.execute(f"DELETE FROM {table}")


def fold(name: str) -> str:
    """What two names are the same by: NFC, case folded, white space as one space."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


# -- the rules -----------------------------------------------------------------------------------


def refusal(conn: sqlite3.Connection, event: str, details: Any) -> str | None:
    """Why the rules refuse this event now (None: it applies)."""
    if not isinstance(details, dict):
        return "its details are not an object"
    shape = _shape(event, details)
    if shape is not None:
        return shape
    if event in watching.EVENTS:
        return watching.refusal(conn, event, details)
    if event in CASE_EVENTS:
        return _case_refusal(conn, event, details)
    if event == "note-added":
        case_id = details.get("case_id")
        if case_id is not None and _case(conn, case_id) is None:
            return f"no case {case_id}"
        superseded = details.get("supersedes")
        if superseded is not None:
            note = _note(conn, superseded)
            if note is None:
                return f"no note {superseded} to supersede"
            if note["capture_id"] != details["capture_id"]:
                return f"note {superseded} is about another capture"
            if note["retracted_seq"] is not None or note["superseded_by"] is not None:
                return f"note {superseded} was retracted or superseded already"
        if _note(conn, details["note_id"]) is not None:
            return f"note {details['note_id']} exists"
    if event == "note-retracted":
        note = _note(conn, details["note_id"])
        if note is None or note["capture_id"] != details["capture_id"]:
            return f"no note {details['note_id']} on {details['capture_id']}"
        if note["retracted_seq"] is not None:
            return f"note {details['note_id']} was retracted already"
    return None


_TEXT_FIELDS = {
    "case-created": ("case_id", "name"), "case-renamed": ("case_id", "name"),
    "case-closed": ("case_id",), "case-reopened": ("case_id",), "case-added": ("case_id",),
    "case-removed": ("case_id",), "tagged": ("capture_id", "tag"),
    "untagged": ("capture_id", "tag"), "note-added": ("note_id", "capture_id", "text"),
    "note-retracted": ("note_id", "capture_id"),
}


def _shape(event: str, details: dict[str, Any]) -> str | None:
    for name in _TEXT_FIELDS.get(event, ()):
        if not isinstance(details.get(name), str) or not details[name]:
            return f"no {name}"
    for name in ("description", "reason", "page_url", "case_id", "supersedes", "account"):
        if details.get(name) is not None and not isinstance(details[name], str):
            return f"{name} is not text"
    if event in ("case-added", "case-removed"):
        ids = details.get("capture_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(c, str) for c in ids):
            return "no capture_ids"
    quote = details.get("quote")
    if event == "note-added" and quote is not None and not (
            isinstance(quote, dict) and isinstance(quote.get("text"), str)):
        return "its quote has no text"
    return None


def _case_refusal(conn: sqlite3.Connection, event: str, details: dict[str, Any]) -> str | None:
    case = _case(conn, details["case_id"])
    if event == "case-created":
        if case is not None:
            return f"case {details['case_id']} exists"
        return _name_taken(conn, details["name"], None)
    if case is None:
        return f"no case {details['case_id']}"
    if event == "case-renamed":
        return _name_taken(conn, details["name"], case["id"])
    if event == "case-reopened":
        return None if case["status"] == "closed" else "the case is open"
    if case["status"] == "closed":
        return "the case is closed"
    return None


def _name_taken(conn: sqlite3.Connection, name: str, other_than: str | None) -> str | None:
    row = conn.execute("SELECT id, name FROM cases WHERE name_key = ? AND id IS NOT ?",
                       [fold(name), other_than]).fetchone()
    return f"another case ({row[0]}) is named {row[1]!r}" if row else None


def _case(conn: sqlite3.Connection, case_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT id, status FROM cases WHERE id = ?", [case_id]).fetchone()
    return {"id": row[0], "status": row[1]} if row else None


def _note(conn: sqlite3.Connection, note_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT capture_id, retracted_seq, superseded_by FROM notes WHERE "
                       "id = ?", [note_id]).fetchone()
    return {"capture_id": row[0], "retracted_seq": row[1], "superseded_by": row[2]} \
        if row else None


# -- applying ------------------------------------------------------------------------------------


def apply(conn: sqlite3.Connection, seq: int, entry: dict[str, Any]) -> str | None:
    """Apply one event of the log (numbered ``seq``); why it changed nothing, for an
    annotation event the rules refuse (None: applied, or not an annotation event)."""
    event = entry.get("event")
    if event not in EVENTS:
        return None
    details = entry.get("details")
    reason = refusal(conn, str(event), details)
    if reason is not None:
        return reason
    assert isinstance(details, dict)
    at, who = _text(entry.get("at")), _text(entry.get("who"))
    account = details.get("account")
    if event in watching.EVENTS:
        watching.apply(conn, seq, at, who, str(event), details)
    elif event in CASE_EVENTS:
        _apply_case(conn, str(event), seq, at, who, account, details)
    elif event == "tagged":
        conn.execute("INSERT OR IGNORE INTO tags (capture_id, tag_key, tag, seq, at, who, "
                     "account) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [details["capture_id"], fold(details["tag"]), details["tag"], seq, at,
                      who, account])
    elif event == "untagged":
        conn.execute("DELETE FROM tags WHERE capture_id = ? AND tag_key = ?",
                     [details["capture_id"], fold(details["tag"])])
    elif event == "note-added":
        _add_note(conn, seq, at, who, account, details)
    else:  # note-retracted
        conn.execute("UPDATE notes SET retracted_seq = ?, retracted_at = ?, retracted_by = ?, "
                     "retracted_reason = ? WHERE id = ?",
                     [seq, at, who, details.get("reason"), details["note_id"]])
    return None


def _apply_case(conn: sqlite3.Connection, event: str, seq: int, at: str | None,
                who: str | None, account: str | None, details: dict[str, Any]) -> None:
    case_id = details["case_id"]
    if event == "case-created":
        conn.execute("INSERT INTO cases (id, name, name_key, description, status, created_seq, "
                     "created_at, created_by, account, changed_seq, changed_at) VALUES "
                     "(?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
                     [case_id, details["name"], fold(details["name"]),
                      details.get("description"), seq, at, who, account, seq, at])
    elif event == "case-renamed":
        conn.execute("UPDATE cases SET name = ?, name_key = ? WHERE id = ?",
                     [details["name"], fold(details["name"]), case_id])
    elif event in ("case-closed", "case-reopened"):
        conn.execute("UPDATE cases SET status = ?, reason = ? WHERE id = ?",
                     ["closed" if event == "case-closed" else "open", details.get("reason"),
                      case_id])
    elif event == "case-added":
        conn.executemany("INSERT OR IGNORE INTO case_captures (case_id, capture_id, seq, at, "
                         "who, account) VALUES (?, ?, ?, ?, ?, ?)",
                         [(case_id, c, seq, at, who, account) for c in details["capture_ids"]])
    else:  # case-removed
        conn.executemany("DELETE FROM case_captures WHERE case_id = ? AND capture_id = ?",
                         [(case_id, c) for c in details["capture_ids"]])
    conn.execute("UPDATE cases SET changed_seq = ?, changed_at = ? WHERE id = ?",
                 [seq, at, case_id])
    conn.execute("INSERT OR IGNORE INTO case_events (case_id, seq) VALUES (?, ?)",
                 [case_id, seq])


def _add_note(conn: sqlite3.Connection, seq: int, at: str | None, who: str | None,
              account: str | None, details: dict[str, Any]) -> None:
    quote = details.get("quote") or {}
    conn.execute(
        "INSERT INTO notes (id, seq, at, who, account, capture_id, case_id, page_url, text, "
        "quote, quote_url, quote_record_id, quote_text_sha256, quote_start, quote_end, "
        "supersedes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [details["note_id"], seq, at, who, account, details["capture_id"],
         details.get("case_id"), details.get("page_url"), details["text"],
         _text(quote.get("text")), _text(quote.get("url")), _text(quote.get("record_id")),
         _text(quote.get("text_sha256")), _int(quote.get("start")), _int(quote.get("end")),
         details.get("supersedes")])
    if details.get("supersedes") is not None:
        conn.execute("UPDATE notes SET superseded_by = ? WHERE id = ?",
                     [details["note_id"], details["supersedes"]])


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
