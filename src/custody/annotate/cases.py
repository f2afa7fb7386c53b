"""Cases: the investigations captures are gathered into. Each change is a signed event
(case-created, -renamed, -closed, -reopened, -added, -removed); custody.db's ``cases``,
``case_captures`` and ``case_events`` say what they add up to.

A case is named by its id (``case-`` and 12 hex digits, made when it is created) or by
its name, which is unique among the archive's cases whatever its case or spacing. A
closed case takes no captures in and gives none up until it is reopened.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from ..core.archive import Archive
from ..core.capture_ids import check_capture_id
from ..core.errors import NotFound, UsageError
from ..index.annotation import fold
from . import rules
from .recording import Recorded, Signer, reading, record, require_captures


@dataclass(frozen=True)
class Case:
    id: str
    name: str
    status: str  # open, closed
    description: str | None
    created_at: str | None
    created_by: str | None
    changed_at: str | None
    captures: int  # how many it holds
    notes: int  # notes on its captures (those of other cases left out), retracted too
    reason: str | None = None  # why it was closed or reopened, if said


@dataclass(frozen=True)
class CaseCapture:
    """A capture in a case: when it was added, by whom, and what it is."""

    capture_id: str
    added_at: str | None
    added_by: str | None
    started_at: str | None
    seed_url: str | None
    final_url: str | None
    status: str | None
    title: str | None
    language: str | None


@dataclass(frozen=True)
class CaseDetail:
    case: Case
    captures: list[CaseCapture] = field(default_factory=list)
    events: list[int] = field(default_factory=list)  # its case events' numbers in the log


_CASE_SQL = (
    "SELECT c.id, c.name, c.status, c.description, c.created_at, c.created_by, c.changed_at, "
    "(SELECT count(*) FROM case_captures cc WHERE cc.case_id = c.id), "
    "(SELECT count(*) FROM notes n JOIN case_captures cc ON cc.capture_id = n.capture_id "
    " AND cc.case_id = c.id WHERE n.case_id IS NULL OR n.case_id = c.id), c.reason "
    "FROM cases c")


# a capture's final page's title (or language), else its first page's: by index, whatever
# the number of its pages
_PAGE = ("coalesce((SELECT {0} FROM documents WHERE url = c.final_url AND capture_id = c.id "
         "ORDER BY id LIMIT 1), (SELECT {0} FROM documents WHERE capture_id = c.id ORDER BY id "
         "LIMIT 1))")


def find_case(conn: sqlite3.Connection, ref: str) -> Case:
    """The case with this id, or else this name (NotFound)."""
    row = conn.execute(f"{_CASE_SQL} WHERE c.id = ?", [ref]).fetchone()
    if row is None:
        row = conn.execute(f"{_CASE_SQL} WHERE c.name_key = ?", [fold(ref)]).fetchone()
    if row is None:
        raise NotFound("no such case", where=repr(ref))
    return Case(*row)


def list_cases(archive: Archive, *, status: str | None = None) -> list[Case]:
    """Every case, the most recently changed first (``status``: only open or closed)."""
    if status not in (None, "open", "closed"):
        raise UsageError(f"a case is open or closed, not {status!r}")
    with reading(archive) as conn:
        where = " WHERE c.status = ?" if status else ""
        rows = conn.execute(f"{_CASE_SQL}{where} ORDER BY c.changed_seq DESC",
                            [status] if status else []).fetchall()
    return [Case(*row) for row in rows]


def get_case(archive: Archive, ref: str) -> Case:
    with reading(archive) as conn:
        return find_case(conn, ref)


def show_case(archive: Archive, ref: str) -> CaseDetail:
    """The case, its captures (the most recently captured first) and its events."""
    with reading(archive) as conn:
        case = find_case(conn, ref)
        rows = conn.execute(
            "SELECT cc.capture_id, cc.at, cc.who, c.started_at, c.seed_url, c.final_url, "
            f"c.status, {_PAGE.format('title')}, {_PAGE.format('language')} "
            "FROM case_captures cc LEFT JOIN captures c ON c.id = cc.capture_id "
            "WHERE cc.case_id = ? ORDER BY c.started_at DESC, cc.capture_id DESC",
            [case.id]).fetchall()
        events = [r[0] for r in conn.execute(
            "SELECT seq FROM case_events WHERE case_id = ? ORDER BY seq", [case.id])]
    return CaseDetail(case, [CaseCapture(*row) for row in rows], events)


def create_case(archive: Archive, name: str, *, signer: Signer,
                description: str | None = None) -> Case:
    details: dict[str, object] = {"case_id": rules.new_case_id(), "name": rules.case_name(name)}
    described = rules.description(description)
    if described is not None:
        details["description"] = described
    record(archive, signer, "case-created", details)
    return get_case(archive, str(details["case_id"]))


def rename_case(archive: Archive, ref: str, name: str, *, signer: Signer) -> Case:
    new_name = rules.case_name(name)
    case = get_case(archive, ref)
    if new_name == case.name:
        raise UsageError("the case has that name already", where=repr(new_name))
    record(archive, signer, "case-renamed",
           {"case_id": case.id, "name": new_name, "previous": case.name})
    return get_case(archive, case.id)


def close_case(archive: Archive, ref: str, *, signer: Signer,
               reason: str | None = None) -> Case:
    return _set_status(archive, ref, "case-closed", signer, reason)


def reopen_case(archive: Archive, ref: str, *, signer: Signer,
                reason: str | None = None) -> Case:
    return _set_status(archive, ref, "case-reopened", signer, reason)


def _set_status(archive: Archive, ref: str, event: str, signer: Signer,
                reason: str | None) -> Case:
    case = get_case(archive, ref)
    details: dict[str, object] = {"case_id": case.id, "name": case.name}
    said = rules.reason(reason)
    if said is not None:
        details["reason"] = said
    record(archive, signer, event, details)
    return get_case(archive, case.id)


def add_to_case(archive: Archive, ref: str, capture_ids: list[str], *,
                signer: Signer) -> list[Recorded]:
    """Add the captures not in the case yet (each sealed here), in events of at most
    CAPTURES_PER_EVENT; UsageError when all of them are in it already."""
    return _change(archive, ref, capture_ids, "case-added", signer, None)


def remove_from_case(archive: Archive, ref: str, capture_ids: list[str], *,
                     signer: Signer, reason: str | None = None) -> list[Recorded]:
    """Take the captures out of the case (only a case's membership changes: the captures,
    and the notes on them, stay); UsageError when none of them is in it."""
    return _change(archive, ref, capture_ids, "case-removed", signer, rules.reason(reason))


def _change(archive: Archive, ref: str, capture_ids: list[str], event: str, signer: Signer,
            reason: str | None) -> list[Recorded]:
    if not capture_ids:
        raise UsageError("no capture ids given")
    ids = require_captures(archive, capture_ids) if event == "case-added" else \
        [check_capture_id(c) for c in dict.fromkeys(capture_ids)]
    case = get_case(archive, ref)
    with reading(archive) as conn:
        held = {r[0] for r in conn.execute(
            "SELECT capture_id FROM case_captures WHERE case_id = ?", [case.id])}
    wanted = [c for c in ids if (c in held) == (event == "case-removed")]
    if not wanted:
        raise UsageError("already in the case" if event == "case-added" else
                         "not in the case", where=", ".join(ids[:10]))
    written = []
    for start in range(0, len(wanted), rules.CAPTURES_PER_EVENT):
        part = wanted[start:start + rules.CAPTURES_PER_EVENT]
        details: dict[str, object] = {"case_id": case.id, "name": case.name,
                                      "capture_ids": part}
        if reason is not None:
            details["reason"] = reason
        recorded = record(archive, signer, event, details)
        written.append(recorded)
    return written
