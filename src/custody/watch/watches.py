"""Watches as evidence of intent: ``watch-added``, ``-removed``, ``-paused``, ``-resumed``,
each a signed event of the custody log (written as annotations are, through
custody.annotate's recording), and read back from custody.db's ``watches`` table, which
the index derives from those events."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..annotate import Recorded, Signer, get_case
from ..annotate.recording import reading, record
from ..core.archive import Archive
from ..core.errors import ArchiveError, InvalidURL, NotFound, UsageError
from ..core.urls import check_url
from ..index import watching
from .intervals import parse_interval
from .state import WatchState


@dataclass(frozen=True)
class Watch:
    id: str
    url: str
    every: int  # seconds
    browser: bool
    media: bool
    case_id: str | None
    notify: list[str]
    ignore: list[str]
    status: str  # active, paused, removed
    added_at: str | None
    added_by: str | None
    reason: str | None = None
    screenshot_permille: int | None = None  # its own screenshot threshold (None: default)
    added_seq: int | None = None  # its watch-added event in the custody log
    changed_seq: int | None = None  # the event that gave it its status (added, paused...)


@contextmanager
def watch_reading(archive: Archive) -> Iterator[sqlite3.Connection]:
    """custody.db read-only, with the watches' tables (ArchiveError when it was made
    before them: any command that writes adds them, `custody reindex` too)."""
    with reading(archive) as conn:
        if not watching.has_tables(conn):
            raise ArchiveError("custody.db was made by an earlier custody and lacks the "
                               "watches' tables: run `custody reindex` (or any command that "
                               "writes) to add them", where=str(archive.db_path))
        yield conn


_COLUMNS = ("id, url, every, browser, media, case_id, notify, ignore, status, added_at, "
            "added_by, reason, screenshot_permille, added_seq, changed_seq")


def _watch(row: tuple[Any, ...]) -> Watch:
    return Watch(row[0], row[1], row[2], bool(row[3]), bool(row[4]), row[5],
                 json.loads(row[6]), json.loads(row[7]), row[8], row[9], row[10], row[11],
                 row[12], row[13], row[14])


_STATUS = {"watch-added": "active", "watch-paused": "paused", "watch-resumed": "active",
           "watch-removed": "removed"}


def as_signed(archive: Archive, watches: list[Watch]) -> tuple[list[Watch], list[str]]:
    """Each watch as its signed events say it: what to capture, how often, how, into
    which case, who to tell, what to ignore and the threshold as its ``watch-added``
    says, whether it runs as the event that last set its status says -- read from the
    custody log at the places custody.db's index gives and checked against the lines
    there, rather than as custody.db's row says (derived, and anyone may edit it); and
    the ids of the watches whose events are not there, or not theirs (verify fails
    them)."""
    from ..seal.log_events import placed_events

    found = placed_events(archive.root, [seq for w in watches
                                         for seq in (w.added_seq, w.changed_seq) if seq])

    def event(seq: int | None, watch_id: str) -> dict[str, Any]:
        entry = found[seq].entry if seq in found else {}
        details = entry.get("details")
        mine = isinstance(details, dict) and details.get("watch_id") == watch_id and \
            entry.get("seq") == seq and entry.get("event") in _STATUS
        return entry if mine else {}

    signed, astray = [], []
    for watch in watches:
        entry, last = event(watch.added_seq, watch.id), event(watch.changed_seq, watch.id)
        details = entry.get("details")
        if entry.get("event") != "watch-added" or not last or not isinstance(details, dict):
            astray.append(watch.id)
            continue
        signed.append(Watch(
            watch.id, str(details["url"]), int(details["every"]), bool(details.get("browser")),
            bool(details.get("media")), details.get("case_id"),
            list(details.get("notify") or []), list(details.get("ignore") or []),
            _STATUS[str(last["event"])], str(entry.get("at") or ""), watch.added_by,
            watch.reason, details.get("screenshot_permille"), watch.added_seq,
            watch.changed_seq))
    return signed, astray


def parse_threshold(text: str) -> int:
    """A screenshot threshold as people write it (``5%``, ``2.5``: percent of the page's
    pixels, 0.1 to 100) in thousandths; UsageError for anything else."""
    import re

    written = re.fullmatch(r"\s*([0-9]{1,3})(?:\.([0-9]))?\s*%?\s*", text, flags=re.ASCII)
    permille = int(written[1]) * 10 + int(written[2] or 0) if written else 0
    if not 1 <= permille <= 1000:
        raise UsageError("a screenshot threshold is a percent of the page's pixels from 0.1 "
                         "to 100, to one decimal (5%, 2.5)", where=text)
    return permille


def check_selectors(selectors: list[str]) -> list[str]:
    """CSS selectors as lxml reads them (UsageError naming the one it cannot)."""
    from cssselect import GenericTranslator, SelectorError

    for selector in selectors:
        try:
            GenericTranslator().css_to_xpath(selector)
        except SelectorError as exc:
            raise UsageError(f"not a CSS selector lxml can use: {exc}",
                             where=selector) from exc
    return list(dict.fromkeys(selectors))


def add_watches(archive: Archive, urls: list[str], *, every: str, signer: Signer,
                browser: bool = False, media: bool = False, case: str | None = None,
                notify: list[str] | None = None, ignore: list[str] | None = None,
                screenshot_threshold: str | None = None) -> list[Watch]:
    """Watch each URL (one ``watch-added`` event each); UsageError, nothing written, for a
    URL, interval, selector, threshold or target that is refused; NotFound for a case not
    there. ``screenshot_threshold``: the share of a browser watch's screenshot (``5%``)
    whose change is a change, in place of the default."""
    seconds = parse_interval(every)
    permille = None
    if screenshot_threshold is not None:
        permille = parse_threshold(screenshot_threshold)
        if not browser:
            raise UsageError("a screenshot threshold is for a browser watch (--browser): "
                             "a watch without the browser takes no screenshot")
    checked = []
    for url in dict.fromkeys(urls):
        try:
            checked.append(check_url(url))
        except InvalidURL as exc:
            raise UsageError(str(exc)) from exc
    if not checked:
        raise UsageError("no URL to watch")
    selectors = check_selectors(ignore or [])
    targets = list(dict.fromkeys(notify or []))
    state = WatchState(archive)
    try:
        known = state.targets()
    finally:
        state.close()
    unknown = [t for t in targets if t not in known]
    if unknown:
        raise UsageError("no notification target of that name (add it first: `custody "
                         "watch target add NAME URL`)", where=", ".join(unknown))
    case_id = None
    if case is not None:
        found = get_case(archive, case)
        if found.status != "open":
            raise UsageError("the case is closed", where=found.name)
        case_id = found.id
    with reading(archive) as conn:  # (a database from before the watches has none)
        standing = {r[0] for r in conn.execute(
            "SELECT url FROM watches WHERE status != 'removed'")} \
            if watching.has_tables(conn) else set()
    made = []
    for url in checked:
        if url in standing:
            raise UsageError("this URL is watched already (remove that watch first)",
                             where=url)

    def unwatched(url: str) -> Any:
        def check(conn: sqlite3.Connection) -> dict[str, Any]:
            if conn.execute("SELECT 1 FROM watches WHERE url = ? AND status != 'removed'",
                            [url]).fetchone():
                raise UsageError("this URL is watched already", where=url)
            return {}
        return check

    for url in checked:
        details: dict[str, Any] = {"watch_id": "w-" + secrets.token_hex(6), "url": url,
                                   "every": seconds, "browser": browser, "media": media,
                                   "notify": targets, "ignore": selectors}
        if case_id is not None:
            details["case_id"] = case_id
        if permille is not None:
            details["screenshot_permille"] = permille
        recorded = record(archive, signer, "watch-added", details, unwatched(url))
        made.append(get_watch(archive, str(recorded.details["watch_id"])))
    return made


def _change(archive: Archive, ref: str, event: str, signer: Signer,
            reason: str | None) -> Recorded:
    watch = get_watch(archive, ref)
    details: dict[str, Any] = {"watch_id": watch.id, "url": watch.url}
    if reason:
        details["reason"] = reason
    return record(archive, signer, event, details)


def remove_watch(archive: Archive, ref: str, *, signer: Signer,
                 reason: str | None = None) -> Recorded:
    return _change(archive, ref, "watch-removed", signer, reason)


def pause_watch(archive: Archive, ref: str, *, signer: Signer,
                reason: str | None = None) -> Recorded:
    return _change(archive, ref, "watch-paused", signer, reason)


def resume_watch(archive: Archive, ref: str, *, signer: Signer) -> Recorded:
    return _change(archive, ref, "watch-resumed", signer, None)


def list_watches(archive: Archive, *, status: str | None = None,
                 case: str | None = None) -> list[Watch]:
    """The watches, oldest first (``status``: only those; ``case``: of that case)."""
    case_id = get_case(archive, case).id if case is not None else None
    with watch_reading(archive) as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM watches WHERE (? IS NULL OR status = ?) AND "
            "(? IS NULL OR case_id = ?) ORDER BY added_seq",
            [status, status, case_id, case_id]).fetchall()
    return [_watch(r) for r in rows]


def get_watch(archive: Archive, ref: str) -> Watch:
    """A watch by its id, or by its URL while it stands (NotFound)."""
    with watch_reading(archive) as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM watches WHERE id = ?", [ref]).fetchone()
        if row is None:
            try:
                url = check_url(ref)
            except InvalidURL:
                url = ref
            row = conn.execute(f"SELECT {_COLUMNS} FROM watches WHERE url = ? AND status != "
                               "'removed' ORDER BY added_seq DESC LIMIT 1", [url]).fetchone()
    if row is None:
        raise NotFound("no such watch", where=ref)
    return _watch(row)
