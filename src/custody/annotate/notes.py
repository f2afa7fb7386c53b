"""Notes on captures: written once, never edited. A correction is a new note that names
the one it supersedes; a note withdrawn is retracted, with a reason; both stay in the log
and in every report, marked as such.

A note is about a capture, and may name one of its pages (a URL the capture fetched) and
the case it was written for (then a package of another case leaves it out). It may quote
a passage: the passage must be in the sealed text of the page (or of one of the
capture's pages) -- the text custody.db holds, itself held to the sha256 the manifest
seals -- and the event records where: the page, its record, the sealed text's sha256,
and the passage's first and last character in that text. White space is matched loosely
(a run of it in the passage or the text is one space) and both are read in NFC, so a
passage copied from a rendered page, across its line breaks, is still found.
"""

from __future__ import annotations

import hashlib
import sqlite3
import unicodedata
from dataclasses import dataclass
from typing import Any

from ..core.archive import Archive
from ..core.errors import ArchiveError, NotFound, UsageError
from ..core.urls import normalise
from ..seal.manifest import read_capture
from . import rules
from .cases import find_case
from .recording import Signer, reading, record, require_captures


@dataclass(frozen=True)
class Quote:
    text: str
    url: str | None  # the page whose sealed text holds it
    record_id: str | None
    text_sha256: str | None  # the sealed text's
    start: int | None  # characters of that text, [start, end)
    end: int | None


@dataclass(frozen=True)
class Note:
    id: str
    capture_id: str
    seq: int
    at: str | None
    who: str | None
    account: str | None
    text: str
    page_url: str | None
    case_id: str | None
    quote: Quote | None
    supersedes: str | None
    superseded_by: str | None
    retracted_at: str | None
    retracted_by: str | None
    retracted_reason: str | None

    @property
    def standing(self) -> bool:
        """Neither retracted nor superseded: what the capture's notes say now."""
        return self.retracted_at is None and self.superseded_by is None


_NOTE_SQL = ("SELECT id, capture_id, seq, at, who, account, text, page_url, case_id, quote, "
             "quote_url, quote_record_id, quote_text_sha256, quote_start, quote_end, "
             "supersedes, superseded_by, retracted_at, retracted_by, retracted_reason "
             "FROM notes")


def _note(row: Any) -> Note:
    quote = Quote(*row[9:15]) if row[9] is not None else None
    return Note(id=row[0], capture_id=row[1], seq=row[2], at=row[3], who=row[4],
                account=row[5], text=row[6], page_url=row[7], case_id=row[8], quote=quote,
                supersedes=row[15], superseded_by=row[16], retracted_at=row[17],
                retracted_by=row[18], retracted_reason=row[19])


def add_note(archive: Archive, capture_id: str, text: str, *, signer: Signer,
             page_url: str | None = None, quote: str | None = None, case: str | None = None,
             supersedes: str | None = None) -> Note:
    """Write a note; UsageError (nothing written) for a page the capture did not fetch, a
    passage its sealed text does not hold, a case it is not in, or a note it cannot
    supersede."""
    (cid,) = require_captures(archive, [capture_id])
    details: dict[str, Any] = {"note_id": rules.new_note_id(), "capture_id": cid,
                               "text": rules.note_text(text)}
    _, content = read_capture(archive.manifests_dir, cid)
    if page_url is not None:
        details["page_url"] = _page_of(content, page_url, cid)
    if supersedes is not None:
        details["supersedes"] = rules.check_note_id(supersedes)
    passage = rules.quote(quote) if quote is not None else None

    def check(conn: sqlite3.Connection) -> dict[str, Any]:
        added: dict[str, Any] = {}
        if case is not None:
            found = find_case(conn, case)
            if not conn.execute("SELECT 1 FROM case_captures WHERE case_id = ? AND "
                                "capture_id = ?", [found.id, cid]).fetchone():
                raise UsageError(f"the capture is not in case {found.name!r}", where=cid)
            added["case_id"] = found.id
        if passage is not None:
            added["quote"] = _find_quote(conn, content, passage, details.get("page_url"))
        return added

    record(archive, signer, "note-added", details, check)
    return get_note(archive, details["note_id"])


def retract_note(archive: Archive, note_id: str, *, reason: str, signer: Signer) -> Note:
    """Withdraw a note, saying why; it stays in the log and in reports, marked retracted."""
    note = get_note(archive, rules.check_note_id(note_id))
    said = rules.reason(reason)
    record(archive, signer, "note-retracted",
           {"note_id": note.id, "capture_id": note.capture_id, "reason": said})
    return get_note(archive, note.id)


def get_note(archive: Archive, note_id: str) -> Note:
    with reading(archive) as conn:
        row = conn.execute(f"{_NOTE_SQL} WHERE id = ?", [note_id]).fetchone()
    if row is None:
        raise NotFound("no such note", where=note_id)
    return _note(row)


def notes_of(archive: Archive, capture_id: str | None = None, *, case: str | None = None,
             standing_only: bool = False) -> list[Note]:
    """The notes on a capture, or on a case's captures (less those written for another
    case), or all of them; oldest first. ``standing_only``: leave out the retracted and
    superseded ones."""
    where, params = [], []
    with reading(archive) as conn:
        if capture_id is not None:
            where.append("capture_id = ?")
            params.append(capture_id)
        if case is not None:
            found = find_case(conn, case)
            where.append("capture_id IN (SELECT capture_id FROM case_captures WHERE "
                         "case_id = ?) AND (case_id IS NULL OR case_id = ?)")
            params += [found.id, found.id]
        if standing_only:
            where.append("retracted_seq IS NULL AND superseded_by IS NULL")
        sql = _NOTE_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        rows = conn.execute(sql, params).fetchall()
    return [_note(row) for row in rows]


def _page_of(content: dict[str, Any], page_url: str, capture_id: str) -> str:
    """The page's URL as the capture recorded it; UsageError when it fetched no such URL."""
    try:
        url = normalise(page_url.strip())
    except ValueError as exc:
        raise UsageError(f"not a URL ({exc})", where=repr(page_url)) from exc
    fetched = {str(r.get("target_uri")) for r in content.get("records") or []}
    fetched |= {str(d.get("url")) for d in content.get("documents") or []}
    for candidate in (page_url.strip(), url):
        if candidate in fetched:
            return candidate
    raise UsageError("the capture fetched no such page", where=f"{capture_id} {page_url}")


def _find_quote(conn: sqlite3.Connection, content: dict[str, Any], passage: str,
                page_url: str | None) -> dict[str, Any]:
    sealed = {d["record_id"]: d for d in content.get("documents") or []}
    rows = conn.execute(
        "SELECT record_id, url, text FROM documents WHERE capture_id = ? ORDER BY "
        "url != ?, url != ?, id", [content["capture_id"], page_url or "",
                                   content.get("final_url") or ""]).fetchall()
    if page_url is not None:
        rows = [r for r in rows if r[1] == page_url]
    if not rows:
        raise UsageError("no text of " + (f"the page {page_url}" if page_url else
                                          "the capture") + " to find the passage in")
    for record_id, url, text in rows:
        entry = sealed.get(record_id)
        digest = hashlib.sha256((text or "").encode("utf-8")).hexdigest()
        if entry is None or entry.get("text_sha256") != digest:
            raise ArchiveError("custody.db's text of this page is not the sealed text (run "
                               "custody verify, then custody reindex)", where=url)
        place = locate(passage, text or "")
        if place is not None:  # quoted as the page has it, whatever spaces were typed
            return {"text": (text or "")[place[0]:place[1]], "url": url, "record_id": record_id,
                    "text_sha256": digest, "start": place[0], "end": place[1]}
    where = f"the sealed text of {page_url}" if page_url else "any page's sealed text"
    raise UsageError(f"the quoted passage is not in {where}", where=content["capture_id"])


def locate(passage: str, text: str) -> tuple[int, int] | None:
    """Where the passage is in the text, in the text's characters: as written, or with
    every run of white space as one space and both in NFC."""
    found = text.find(passage)
    if found >= 0:
        return found, found + len(passage)
    wanted = " ".join(unicodedata.normalize("NFC", passage).split())
    canonical, places = _canonical(text)
    found = canonical.find(wanted)
    if found < 0 or not wanted:
        return None
    return places[found], places[found + len(wanted) - 1] + 1


def _canonical(text: str) -> tuple[str, list[int]]:
    """The text with runs of white space as one space, in NFC, and for each of its
    characters the place in ``text`` it stands for (a word NFC changed is placed by its
    start and end)."""
    out: list[str] = []
    places: list[int] = []
    word_start = None
    for i, ch in enumerate([*text, " "]):
        if not ch.isspace():
            if word_start is None:
                word_start = i
            continue
        if word_start is not None:
            word = text[word_start:i]
            normal = unicodedata.normalize("NFC", word)
            if out:
                out.append(" ")
                places.append(word_start - 1)
            out.append(normal)
            if normal == word:
                places.extend(range(word_start, i))
            else:
                places.extend([word_start] * (len(normal) - 1) + [i - 1])
            word_start = None
    return "".join(out), places
