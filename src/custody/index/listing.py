"""What listing captures needs from custody.db, kept so that a page of 100,000 captures,
filtered or not, is read from an index in the order it is shown: each capture's facets
(the sites it holds pages of, the languages of its pages) with its start time, and
indexes on the captures' time and status.

A site is kept at every level of its host name, its labels reversed and ended by a dot
(``org.``, ``org.example.``, ``org.example.www.`` for www.example.org), so that asking
for a domain -- its subdomains too -- is one key of the index, newest first, rather than
a range to gather and sort. An IP address is kept whole. Derived from the capture's seed,
final and page URLs and its documents' languages; written when a capture is indexed
(and so by ``custody reindex``), filled once for a database made before the table was.
"""

from __future__ import annotations

import ipaddress
import sqlite3
from urllib.parse import urlsplit

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS capture_facets (kind TEXT NOT NULL, value TEXT NOT NULL, "
    "started_at TEXT NOT NULL, capture_id TEXT NOT NULL, PRIMARY KEY (kind, value, "
    "started_at, capture_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS capture_facets_capture ON capture_facets (capture_id)",
    "CREATE INDEX IF NOT EXISTS captures_started ON captures (started_at, id)",
    "CREATE INDEX IF NOT EXISTS captures_status ON captures (status, started_at)",
)
FACETS = ("site", "lang")


def site_key(host: str) -> str:
    """``www.example.org`` -> ``org.example.www.``; an IP address as it is, and a dot."""
    text = host.strip().strip(".").lower().strip("[]")
    if _is_ip(text):
        return text + "."
    labels = [label for label in text.split(".") if label]
    return ".".join(reversed(labels)) + "." if labels else ""


def site_keys(host: str) -> list[str]:
    """The keys a host is found by: its own, and each of its parent domains'."""
    key = site_key(host)
    if not key or _is_ip(host.strip().strip(".").lower().strip("[]")):
        return [key] if key else []
    labels = key[:-1].split(".")
    return [".".join(labels[:n]) + "." for n in range(1, len(labels) + 1)]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def host_of(url: str | None) -> str | None:
    try:
        return urlsplit(url or "").hostname
    except ValueError:  # an imported record's URL that no parser takes
        return None


def ensure(conn: sqlite3.Connection) -> None:
    """The table and indexes, the table filled for every capture when it is new."""
    new = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                       "name = 'capture_facets'").fetchone() is None
    for statement in SCHEMA:
        conn.execute(statement)
    if new:
        for (capture_id,) in conn.execute("SELECT id FROM captures").fetchall():
            index_capture(conn, capture_id)


def facets_of(conn: sqlite3.Connection, capture_id: str) -> set[tuple[str, str, str, str]]:
    """The rows a capture's facets are, as its rows in captures and documents give them."""
    row = conn.execute("SELECT started_at, seed_url, final_url FROM captures WHERE id = ?",
                       [capture_id]).fetchone()
    if row is None:
        return set()
    started, *urls = row
    pages = conn.execute("SELECT url, language FROM documents WHERE capture_id = ?",
                         [capture_id]).fetchall()
    urls += [url for url, _ in pages]
    keys = {key for url in urls if (host := host_of(url)) for key in site_keys(host)}
    languages = {language for _, language in pages if language}
    return {("site", key, started, capture_id) for key in keys} | \
        {("lang", language, started, capture_id) for language in languages}


def index_capture(conn: sqlite3.Connection, capture_id: str) -> None:
    conn.execute("DELETE FROM capture_facets WHERE capture_id = ?", [capture_id])
    conn.executemany("INSERT OR IGNORE INTO capture_facets (kind, value, started_at, "
                     "capture_id) VALUES (?, ?, ?, ?)", sorted(facets_of(conn, capture_id)))
