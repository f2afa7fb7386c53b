"""Versions of a page across captures: its history, and what changed between two."""

from __future__ import annotations

import difflib
import sqlite3
from typing import Any

from ..core.errors import NotFound
from ..core.urls import normalise


def history(conn: sqlite3.Connection, url: str) -> list[dict[str, Any]]:
    """Every capture of the URL, oldest first, and whether its text changed."""
    rows = conn.execute(
        # when the page was fetched: for a file imported from another tool, the time its
        # record gives, not the time of the import
        "SELECT c.id, coalesce(r.fetched_at, c.started_at) AS at, r.status_code, "
        "d.text_sha256, r.payload_sha256, c.status LIKE 'imported%' "
        "FROM resources r JOIN captures c ON c.id = r.capture_id "
        # (by its capture first: documents.capture_id is indexed, resource_id is not)
        "LEFT JOIN documents d ON d.capture_id = r.capture_id AND d.resource_id = r.id "
        "WHERE r.url = ? ORDER BY at, c.started_at",
        [normalise(url)],
    ).fetchall()
    out: list[dict[str, Any]] = []
    previous: str | None = None
    for capture_id, captured_at, status, text_sha, payload_sha, imported in rows:
        # the first capture has nothing to compare with
        changed = None if not out else text_sha != previous
        out.append({"capture_id": capture_id, "captured_at": captured_at, "status": status,
                    "text_sha256": text_sha, "payload_sha256": payload_sha,
                    "text_changed": changed, "imported": bool(imported)})
        previous = text_sha
    return out


def _text(conn: sqlite3.Connection, capture_id: str, url: str) -> tuple[str, str]:
    row = conn.execute(
        "SELECT d.text, c.started_at FROM documents d JOIN captures c ON c.id = d.capture_id "
        "WHERE d.capture_id = ? AND d.url = ? ORDER BY d.id DESC LIMIT 1",
        [capture_id, url]).fetchone()
    if row is None:
        known = conn.execute("SELECT 1 FROM captures WHERE id = ?", [capture_id]).fetchone()
        what = "no text of this URL in the capture" if known else "no such capture"
        raise NotFound(what, where=f"{capture_id} {url}")
    return row[0] or "", row[1]


def default_url(conn: sqlite3.Connection, capture_id: str) -> str:
    row = conn.execute("SELECT final_url FROM captures WHERE id = ?", [capture_id]).fetchone()
    if row is None:
        raise NotFound("no such capture", where=capture_id)
    return str(row[0])


def diff(conn: sqlite3.Connection, first: str, second: str,
         url: str | None = None) -> tuple[bool, list[str]]:
    """Whether the page's text is the same in both captures, and a unified line diff;
    without a URL, of every page the two captures share (NotFound when they share none,
    naming what each holds, so that a URL can be given)."""
    if url is not None:
        return _diff_one(conn, first, second, normalise(url))
    shared = _shared(conn, first, second)
    if not shared:
        def some(capture_id: str) -> str:
            rows = conn.execute("SELECT DISTINCT url FROM documents WHERE capture_id = ? "
                                "ORDER BY url LIMIT 3", [capture_id]).fetchall()
            return ", ".join(r[0] for r in rows) or "no page with text"
        for capture_id in (first, second):
            default_url(conn, capture_id)  # NotFound for a capture that is not there
        raise NotFound(f"the two captures share no page: name the page to compare "
                       f"(`custody diff A B URL`); {first} holds {some(first)}; {second} holds "
                       f"{some(second)}")
    same, lines = True, []
    for target in shared:
        one_same, one = _diff_one(conn, first, second, target)
        same = same and one_same
        lines += one
    return same, lines


def _shared(conn: sqlite3.Connection, first: str, second: str) -> list[str]:
    rows = conn.execute("SELECT DISTINCT a.url FROM documents a JOIN documents b "
                        "ON b.url = a.url AND b.capture_id = ? WHERE a.capture_id = ? "
                        "ORDER BY a.url", [second, first]).fetchall()
    return [r[0] for r in rows]


def _diff_one(conn: sqlite3.Connection, first: str, second: str,
              target: str) -> tuple[bool, list[str]]:
    old, old_time = _text(conn, first, target)
    new, new_time = _text(conn, second, target)
    lines = list(difflib.unified_diff(
        old.splitlines(), new.splitlines(), lineterm="",
        fromfile=f"{target} in {first} ({old_time})",
        tofile=f"{target} in {second} ({new_time})"))
    return old == new, lines
