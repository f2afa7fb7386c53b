"""A crawl's state on disk: the frontier, what has been fetched, and what it produced.

Kept in a SQLite file under ``.custody/crawls/<capture-id>/`` so that a crawl of
100,000 URLs holds neither its frontier nor its records in memory, and so that a
crawl killed outright can be resumed: a record counts only once its row is
committed here, which happens after its bytes are flushed to the WARC file.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS urls (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    seed TEXT NOT NULL,
    kind TEXT NOT NULL,            -- seed, page, requisite
    depth INTEGER NOT NULL,
    requisite_depth INTEGER NOT NULL,
    chain TEXT NOT NULL DEFAULT '', -- redirect hops that led here, space separated
    state TEXT NOT NULL,           -- queued, inflight, done, failed, skipped
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    referrer TEXT NOT NULL DEFAULT ''  -- the page that linked to it or needs it
);
CREATE INDEX IF NOT EXISTS urls_queue ON urls (state, depth, id);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY, record_id TEXT NOT NULL, type TEXT NOT NULL,
    target_uri TEXT, warc_path TEXT NOT NULL,
    offset INTEGER NOT NULL, end_offset INTEGER NOT NULL, json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_uri ON records (target_uri);
CREATE TABLE IF NOT EXISTS documents (
    record_id TEXT PRIMARY KEY, entry TEXT NOT NULL, document TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (id INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS unextracted (record_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS images (record_id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS visits (id INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS media (id INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS redactions (
    id INTEGER PRIMARY KEY, record_id TEXT NOT NULL, json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS warc_files (
    path TEXT PRIMARY KEY, complete INTEGER NOT NULL DEFAULT 0, bytes INTEGER, sha256 TEXT
);
"""


@dataclass(frozen=True)
class Target:
    url: str
    seed: str
    kind: str  # seed, page, requisite
    depth: int = 0
    requisite_depth: int = 0
    chain: tuple[str, ...] = ()
    attempts: int = 0
    referrer: str = ""  # the page it was found on: sent as Referer, as a browser does

    @property
    def host(self) -> str:
        try:
            return (urlsplit(self.url).hostname or "").lower()
        except ValueError:  # a link recorded as unusable: it has no host to speak of
            return ""


class CrawlState:
    def __init__(self, path: Path) -> None:
        self.path = path
        # private: it holds the session's values (cookies, logins) until they are sealed
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.executescript(SCHEMA)
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(urls)")}
        if "referrer" not in columns:  # a crawl begun by an earlier custody, resumed
            self.conn.execute("ALTER TABLE urls ADD COLUMN referrer TEXT NOT NULL DEFAULT ''")
        self._in_tx = False

    def close(self) -> None:
        self.conn.close()

    # -- transactions: batched, committed after the WARC bytes they describe are flushed ----

    def begin(self) -> None:
        if not self._in_tx:
            self.conn.execute("BEGIN")
            self._in_tx = True

    def commit(self) -> None:
        if self._in_tx:
            self.conn.execute("COMMIT")
            self._in_tx = False

    # -- meta ------------------------------------------------------------------------------------

    def set_meta(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, json.dumps(value)])

    def meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    # -- the frontier --------------------------------------------------------------------------

    def push(self, target: Target, state: str = "queued") -> str:
        """Queue a URL unless this crawl has seen it: "new"; "seen"; or "closer" when a page
        already fetched turns out nearer the seed than it was when fetched."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO urls (url, host, seed, kind, depth, requisite_depth, chain, "
            "state, referrer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [target.url, target.host, target.seed, target.kind, target.depth,
             target.requisite_depth, " ".join(target.chain), state, target.referrer],
        )
        if cur.rowcount > 0:
            return "new"
        # found again by a shorter path (fetches finish out of order): keep the shorter
        row = self.conn.execute("SELECT depth, state FROM urls WHERE url = ?",
                                [target.url]).fetchone()
        if row is None or row[0] <= target.depth:
            return "seen"
        self.conn.execute("UPDATE urls SET depth = ? WHERE url = ?", [target.depth, target.url])
        return "closer" if row[1] == "done" else "seen"

    def response_record(self, url: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT json FROM records WHERE type = 'response' AND target_uri = ? "
            "ORDER BY seq DESC LIMIT 1", [url]).fetchone()
        return json.loads(row[0]) if row else None

    def seed_of(self, url: str) -> tuple[str, int] | None:
        """The seed a URL of this crawl came from, and its depth."""
        row = self.conn.execute("SELECT seed, depth FROM urls WHERE url = ?", [url]).fetchone()
        return (row[0], row[1]) if row else None

    def depth_of(self, url: str, default: int) -> int:
        row = self.conn.execute("SELECT depth FROM urls WHERE url = ?", [url]).fetchone()
        return row[0] if row else default

    def state_of(self, url: str) -> str | None:
        row = self.conn.execute("SELECT state FROM urls WHERE url = ?", [url]).fetchone()
        return row[0] if row else None

    def seen(self, url: str) -> bool:
        return self.conn.execute("SELECT 1 FROM urls WHERE url = ?", [url]).fetchone() is not None

    def next(self, limit: int, busy_hosts: Iterable[str], now: float,
             kinds: tuple[str, ...] | None = None,
             room: Callable[[str], int] | None = None) -> list[Target]:
        """Up to ``limit`` queued URLs that may start now, within each host's room; marks them."""
        busy = list(busy_hosts)
        sql = ("SELECT id, url, host, seed, kind, depth, requisite_depth, chain, attempts, "
               "referrer FROM urls WHERE state = 'queued' AND not_before <= ?")
        params: list[Any] = [now]
        if busy:
            sql += f" AND host NOT IN ({','.join('?' * len(busy))})"
            params += busy
        if kinds is not None:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params += list(kinds)
        sql += " ORDER BY depth, id LIMIT ?"  # breadth first: shallow pages before deep ones
        params.append(limit * 4)
        taken: Counter[str] = Counter()
        chosen = []
        for row in self.conn.execute(sql, params).fetchall():
            host = row[2]
            if room is not None and taken[host] >= room(host):
                continue
            taken[host] += 1
            chosen.append(row)
            if len(chosen) >= limit:
                break
        if chosen:
            ids = [r[0] for r in chosen]
            self.conn.execute(
                f"UPDATE urls SET state = 'inflight' WHERE id IN ({','.join('?' * len(ids))})", ids
            )
        return [Target(url, seed, kind, depth, rdepth, tuple(chain.split()) if chain else (),
                       attempts, referrer)
                for _, url, _, seed, kind, depth, rdepth, chain, attempts, referrer in chosen]

    def next_wake(self, kinds: tuple[str, ...] | None = None) -> float | None:
        """When the earliest queued URL (of these kinds) may start; None when there is none."""
        sql, params = "SELECT min(not_before) FROM urls WHERE state = 'queued'", []
        if kinds is not None:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params = list(kinds)
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row and row[0] is not None else None

    def mark(self, url: str, state: str) -> None:
        self.conn.execute("UPDATE urls SET state = ? WHERE url = ?", [state, url])

    def settle(self, url: str) -> None:
        """A queued URL fetched by other means (yt-dlp, say): done, not to be fetched."""
        self.conn.execute("UPDATE urls SET state = 'done' WHERE url = ? AND state = 'queued'",
                          [url])

    def retry_later(self, url: str, at: float) -> None:
        self.conn.execute(
            "UPDATE urls SET state = 'queued', attempts = attempts + 1, not_before = ? "
            "WHERE url = ?", [at, url])

    def requeue_inflight(self) -> int:
        return self.conn.execute(
            "UPDATE urls SET state = 'queued' WHERE state = 'inflight'").rowcount

    def count(self, state: str, kinds: tuple[str, ...] | None = None) -> int:
        sql, params = "SELECT count(*) FROM urls WHERE state = ?", [state]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params += list(kinds)
        return self.conn.execute(sql, params).fetchone()[0]

    def pages_started(self) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM urls WHERE kind != 'requisite' AND state != 'queued' "
            "AND state != 'skipped'").fetchone()[0]

    # -- what the crawl produced --------------------------------------------------------------

    def add_record(self, entry: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO records (record_id, type, target_uri, warc_path, offset, end_offset, "
            "json) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [entry["record_id"], entry["type"], entry["target_uri"], entry["warc_path"],
             entry["offset"],
             entry["offset"] + entry["length"], json.dumps(entry, sort_keys=True)],
        )

    def records(self, types: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
        sql, params = "SELECT json FROM records", []
        if types:
            sql += f" WHERE type IN ({','.join('?' * len(types))})"
            params = list(types)
        for (text,) in self.conn.execute(sql + " ORDER BY seq", params):
            yield json.loads(text)

    def last_seq(self) -> int:
        """The number of the last record stored: on a --resume, what earlier runs stored."""
        return self.conn.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0]

    def held_payloads(self, url: str, through: int) -> set[tuple[int | None, str]]:
        """The status and payload digest of each response for ``url`` stored as records
        up to number ``through``."""
        rows = self.conn.execute("SELECT json FROM records WHERE type = 'response' AND "
                                 "target_uri = ? AND seq <= ?", [url, through])
        held = set()
        for (entry,) in rows:
            record = json.loads(entry)
            if record.get("payload_sha256") is not None:
                held.add((record.get("http_status"), record["payload_sha256"]))
        return held

    def record_count(self, rec_type: str | None = None) -> int:
        if rec_type is None:
            return self.conn.execute("SELECT count(*) FROM records").fetchone()[0]
        return self.conn.execute(
            "SELECT count(*) FROM records WHERE type = ?", [rec_type]).fetchone()[0]

    def committed_end(self, warc_path: str) -> int:
        row = self.conn.execute(
            "SELECT max(end_offset) FROM records WHERE warc_path = ?", [warc_path]).fetchone()
        return row[0] or 0

    def add_document(self, record_id: str, entry: dict[str, Any], document: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO documents VALUES (?, ?, ?)",
            [record_id, json.dumps(entry, sort_keys=True),
             json.dumps(document, ensure_ascii=False)],
        )

    def has_document(self, record_id: str) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM documents WHERE record_id = ?", [record_id]).fetchone() is not None

    def not_extracted(self, record_id: str) -> None:
        """A record stored to be kept, not extracted (yt-dlp's own fetch of a page):
        catching up after a kill leaves it so."""
        self.conn.execute("INSERT OR IGNORE INTO unextracted VALUES (?)", [record_id])

    def kept_unextracted(self, record_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM unextracted WHERE record_id = ?",
                                 [record_id]).fetchone() is not None

    def documents(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for entry, document in self.conn.execute(
            "SELECT d.entry, d.document FROM documents d JOIN records r "
            "ON r.record_id = d.record_id ORDER BY r.seq"
        ):
            yield json.loads(entry), json.loads(document)

    def add_image(self, image: dict[str, Any]) -> None:
        self.conn.execute("INSERT OR REPLACE INTO images VALUES (?, ?)",
                          [image["record_id"], json.dumps(image)])

    def images(self) -> Iterator[dict[str, Any]]:
        for (text,) in self.conn.execute(
                "SELECT i.json FROM images i JOIN records r ON r.record_id = i.record_id "
                "ORDER BY r.seq"):
            yield json.loads(text)

    def add_to_visits(self, found: dict[tuple[str, str], tuple[dict[str, Any], str | None]],
                      ) -> None:
        """Each visit's replay check (``found`` by the visit's url and started_at: what
        was found, and a note for the visit), in the visits' summaries; one transaction."""
        self.begin()
        for row_id, text in self.conn.execute("SELECT id, json FROM visits").fetchall():
            summary = json.loads(text)
            result = found.get((summary.get("url"), summary.get("started_at")))
            if result is None:
                continue
            summary["replay"], note = result
            if note:
                summary["notes"] = [*summary.get("notes", []), note]
            self.conn.execute("UPDATE visits SET json = ? WHERE id = ?",
                              [json.dumps(summary, ensure_ascii=False), row_id])
        self.commit()

    def add_visit(self, summary: dict[str, Any]) -> None:
        """A page the browser loaded: what the manifest says of it."""
        self.conn.execute("INSERT INTO visits (json) VALUES (?)",
                          [json.dumps(summary, ensure_ascii=False)])

    def visits(self) -> Iterator[dict[str, Any]]:
        for (text,) in self.conn.execute("SELECT json FROM visits ORDER BY id"):
            yield json.loads(text)

    def add_media(self, summary: dict[str, Any]) -> None:
        """What yt-dlp did on a page (--media): what the manifest says of it."""
        self.conn.execute("INSERT INTO media (json) VALUES (?)",
                          [json.dumps(summary, ensure_ascii=False)])

    def media(self) -> Iterator[dict[str, Any]]:
        for (text,) in self.conn.execute("SELECT json FROM media ORDER BY id"):
            yield json.loads(text)

    def add_redactions(self, record_id: str, items: list[dict[str, str]]) -> None:
        """Credentials replaced in a record (redact.py), with their values: kept here,
        in the crawl's private state, until sealing writes them to the credentials file."""
        self.conn.execute("INSERT INTO redactions (record_id, json) VALUES (?, ?)",
                          [record_id, json.dumps(items)])

    def redactions(self) -> Iterator[tuple[str, list[dict[str, str]]]]:
        for record_id, text in self.conn.execute(
                "SELECT record_id, json FROM redactions ORDER BY id"):
            yield record_id, json.loads(text)

    def add_failure(self, failure: dict[str, Any]) -> None:
        self.conn.execute("INSERT INTO failures (json) VALUES (?)", [json.dumps(failure)])

    def failures(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT json FROM failures ORDER BY id")
        return [json.loads(text) for (text,) in rows]

    def forget_output(self) -> None:
        """After sealing part of a crawl: keep the frontier (what was seen), drop the rest."""
        for table in ("records", "documents", "images", "failures", "warc_files", "visits",
                      "media", "redactions"):
            self.conn.execute(f"DELETE FROM {table}")

    # -- WARC files ------------------------------------------------------------------------------

    def add_warc(self, path: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO warc_files (path) VALUES (?)", [path])

    def complete_warc(self, path: str, size: int, sha256: str) -> None:
        self.conn.execute(
            "UPDATE warc_files SET complete = 1, bytes = ?, sha256 = ? WHERE path = ?",
            [size, sha256, path])

    def warc_files(self) -> list[dict[str, Any]]:
        return [{"path": p, "complete": bool(c), "bytes": b, "sha256": s}
                for p, c, b, s in self.conn.execute(
                    "SELECT path, complete, bytes, sha256 FROM warc_files ORDER BY rowid")]


def now() -> float:
    return time.time()
