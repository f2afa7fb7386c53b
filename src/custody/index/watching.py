"""Watches and the changes they found, as the custody log's events make them: custody.db's
tables ``watches`` and ``watch_changes``.

A watch is evidence of intent (who asked for a page to be captured again, and when), and
a change is evidence of what two sealed captures show; both are signed events in the
log, and these tables are derived from them alone, in the log's order, by the rules
below (applied through annotation.py as each event is indexed), so ``custody reindex``
rebuilds them and ``custody verify`` compares them with the log. When a watch is next
due is not evidence: that is the scheduler's working state (custody.watch.state).

The events and their ``details``:

- ``watch-added`` watch_id, url, every (seconds), [browser], [media], [case_id],
  [notify: target names], [ignore: CSS selectors], [screenshot_permille: the
  share of a browser watch's screenshot, in thousandths (1-1000), whose change is a
  ``screenshot`` change; none: watch/pixels.py's default]
- ``watch-removed`` / ``watch-paused`` / ``watch-resumed`` watch_id, url, [reason]
- ``watch-changed`` watch_id, url, kinds, before and after (each capture_id and
  manifest_sha256), capture_ids (the two), counts, diff_sha256 (of the whole diff),
  diff (its first lines), [reason]

each with an optional ``account``, as annotation events have.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

EVENTS = ("watch-added", "watch-removed", "watch-paused", "watch-resumed", "watch-changed")
CHANGE_KINDS = ("text", "gone", "returned", "redirected", "media-removed", "tls",
                "screenshot")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS watches (id TEXT PRIMARY KEY, url TEXT NOT NULL, every "
    "INTEGER NOT NULL, browser INTEGER NOT NULL, media INTEGER NOT NULL, case_id TEXT, "
    "notify TEXT NOT NULL, ignore TEXT NOT NULL, status TEXT NOT NULL, added_seq INTEGER "
    "NOT NULL, added_at TEXT, added_by TEXT, account TEXT, changed_seq INTEGER NOT NULL, "
    "changed_at TEXT, reason TEXT, screenshot_permille INTEGER)",
    "CREATE INDEX IF NOT EXISTS watches_url ON watches (url)",
    "CREATE TABLE IF NOT EXISTS watch_changes (seq INTEGER PRIMARY KEY, at TEXT, watch_id "
    "TEXT NOT NULL, url TEXT NOT NULL, kinds TEXT NOT NULL, before_capture TEXT NOT NULL, "
    "before_manifest_sha256 TEXT NOT NULL, after_capture TEXT NOT NULL, "
    "after_manifest_sha256 TEXT NOT NULL, counts TEXT NOT NULL, diff_sha256 TEXT NOT NULL, "
    "diff TEXT NOT NULL, reason TEXT)",
    "CREATE INDEX IF NOT EXISTS watch_changes_watch ON watch_changes (watch_id, seq)",
)
TABLES = {
    "watches": ("id", "SELECT id, url, every, browser, media, case_id, notify, ignore, status, "
                      "added_seq, added_at, added_by, account, changed_seq, changed_at, reason, "
                      "screenshot_permille FROM {} ORDER BY id"),
    "watch_changes": ("seq", "SELECT seq, at, watch_id, url, kinds, before_capture, "
                             "before_manifest_sha256, after_capture, after_manifest_sha256, "
                             "counts, diff_sha256, diff, reason FROM {} ORDER BY seq"),
}


def has_tables(conn: sqlite3.Connection) -> bool:
    found = {row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
        list(TABLES))}
    return found == set(TABLES) and any(
        row[1] == "screenshot_permille" for row in conn.execute("PRAGMA table_info(watches)"))


def migrate(conn: sqlite3.Connection) -> None:
    """A ``watches`` table made before per-watch thresholds gets its column: the watches
    it holds were added without one (none: the default), so nothing else changes."""
    columns = {row[1] for row in conn.execute("PRAGMA main.table_info(watches)")}
    if columns and "screenshot_permille" not in columns:
        conn.execute("ALTER TABLE main.watches ADD COLUMN screenshot_permille INTEGER")


def older_columns(query: str, columns: set[str]) -> str:
    """A TABLES query of ``watches`` for a table made before per-watch thresholds (which
    it holds none of: NULL in their place)."""
    return query if "screenshot_permille" in columns else \
        query.replace("screenshot_permille", "NULL")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _shape(event: str, details: dict[str, Any]) -> str | None:
    for name in ("watch_id", "url"):
        if not isinstance(details.get(name), str) or not details[name]:
            return f"no {name}"
    for name in ("reason", "case_id", "account"):
        if details.get(name) is not None and not isinstance(details[name], str):
            return f"{name} is not text"
    if event == "watch-added":
        every = details.get("every")
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            return "every is not a number of seconds"
        for name in ("notify", "ignore"):
            if details.get(name) is not None and not _strings(details[name]):
                return f"{name} is not a list of text"
        permille = details.get("screenshot_permille")
        if permille is not None and (isinstance(permille, bool) or not isinstance(
                permille, int) or not 1 <= permille <= 1000):
            return "screenshot_permille is not a whole number from 1 to 1000"
    if event == "watch-changed":
        if not _strings(details.get("kinds")) or not details["kinds"]:
            return "no kinds"
        for side in ("before", "after"):
            one = details.get(side)
            if not isinstance(one, dict) or not isinstance(one.get("capture_id"), str) or \
                    not isinstance(one.get("manifest_sha256"), str):
                return f"no {side} capture"
        if not isinstance(details.get("diff_sha256"), str) or \
                not isinstance(details.get("diff"), str):
            return "no diff"
        if not isinstance(details.get("counts", {}), dict):
            return "counts is not an object"
    return None


def refusal(conn: sqlite3.Connection, event: str, details: dict[str, Any]) -> str | None:
    """Why the rules refuse this watch event now (None: it applies)."""
    shape = _shape(event, details)
    if shape is not None:
        return shape
    row = conn.execute("SELECT status FROM watches WHERE id = ?",
                       [details["watch_id"]]).fetchone()
    if event == "watch-added":
        return f"watch {details['watch_id']} exists" if row else None
    if row is None:
        return f"no watch {details['watch_id']}"
    status = row[0]
    if event == "watch-changed":
        return None  # a run begun before a removal still reports what it found
    if status == "removed":
        return "the watch was removed"
    if event == "watch-paused" and status == "paused":
        return "the watch is paused already"
    if event == "watch-resumed" and status != "paused":
        return "the watch is not paused"
    return None


def apply(conn: sqlite3.Connection, seq: int, at: str | None, who: str | None,
          event: str, details: dict[str, Any]) -> None:
    """Apply one watch event the rules allow."""
    account = details.get("account")
    if event == "watch-added":
        conn.execute(
            "INSERT INTO watches (id, url, every, browser, media, case_id, notify, ignore, "
            "status, added_seq, added_at, added_by, account, changed_seq, changed_at, "
            "screenshot_permille) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?)",
            [details["watch_id"], details["url"], details["every"],
             int(bool(details.get("browser"))), int(bool(details.get("media"))),
             details.get("case_id"), json.dumps(details.get("notify") or []),
             json.dumps(details.get("ignore") or []), seq, at, who, account, seq, at,
             details.get("screenshot_permille")])
    elif event == "watch-changed":
        before, after = details["before"], details["after"]
        conn.execute(
            "INSERT OR REPLACE INTO watch_changes (seq, at, watch_id, url, kinds, "
            "before_capture, before_manifest_sha256, after_capture, after_manifest_sha256, "
            "counts, diff_sha256, diff, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [seq, at, details["watch_id"], details["url"], json.dumps(details["kinds"]),
             before["capture_id"], before["manifest_sha256"], after["capture_id"],
             after["manifest_sha256"], json.dumps(details.get("counts") or {},
                                                  sort_keys=True),
             details["diff_sha256"], details["diff"], details.get("reason")])
    else:
        status = {"watch-removed": "removed", "watch-paused": "paused",
                  "watch-resumed": "active"}[event]
        conn.execute("UPDATE watches SET status = ?, reason = ?, changed_seq = ?, "
                     "changed_at = ? WHERE id = ?",
                     [status, details.get("reason"), seq, at, details["watch_id"]])
