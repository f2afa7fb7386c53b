"""Annotations that are evidence: cases, tags, notes and the selectors found in the text;
and the list of captures they filter. What `custody case/tag/note/list/selectors` and the
workbench both call.

Every change is one event in the custody log, signed by an archivist's key, chained to
the one before and covered by the log's signed head; custody.db's tables (``cases``,
``case_captures``, ``case_events``, ``tags``, ``notes``: index/annotation.py) are derived
from the events, rebuilt by ``custody reindex`` and compared with the log by ``custody
verify``. Nothing here writes a sealed byte. The ``selectors`` table is computed from the
sealed text when a capture is indexed.

The API (plain functions; each opens custody.db itself, read-only to read; each write
takes the archive's writer and sealing locks for as long as one event takes)::

    from custody.annotate import Signer, CaptureFilters, ...
    signer = Signer(key, who)                     # who: the key's principal (allowed_signers)
    signer = Signer(key, who, account="alice")    # the workbench's user, recorded beside it

    # cases (ref: a case id, or a name, matched whatever its case and spacing)
    create_case(archive, name, signer=, description=None) -> Case
    rename_case(archive, ref, name, signer=) -> Case
    close_case(archive, ref, signer=, reason=None) / reopen_case(...) -> Case
    add_to_case(archive, ref, capture_ids, signer=) -> list[Recorded]
    remove_from_case(archive, ref, capture_ids, signer=, reason=None) -> list[Recorded]
    list_cases(archive, status=None) -> list[Case]
    get_case(archive, ref) -> Case
    show_case(archive, ref) -> CaseDetail          # its captures, newest first; its events

    # tags
    tag_capture(archive, capture_id, tag, signer=) -> Recorded
    untag_capture(archive, capture_id, tag, signer=) -> Recorded
    tags_of(archive, capture_id) -> list[Tag];  all_tags(archive) -> list[TagCount]

    # notes (never edited: supersede or retract)
    add_note(archive, capture_id, text, signer=, page_url=None, quote=None, case=None,
             supersedes=None) -> Note
    retract_note(archive, note_id, reason=, signer=) -> Note
    notes_of(archive, capture_id=None, case=None, standing_only=False) -> list[Note]
    get_note(archive, note_id) -> Note

    # the captures, newest first, filtered and paged
    list_captures(archive, CaptureFilters(case=, tag=, site=, since=, until=, language=,
                  status=, imported=), limit=50, offset=0) -> CapturePage

    # selectors
    selectors_of_capture(archive, capture_id, kind=None) -> list[Selector]
    selectors_of_case(archive, ref, kind=None) -> list[Selector]
    pages_with(archive, kind, value) -> Selector   # every page of the archive holding it

    # a case's log lines, for a package (custody.export.case writes the package)
    case_log(archive, case_id) -> list[LoggedEvent]

Errors are custody.core.errors': UsageError (a name, tag or text the rules refuse, a
quoted passage the sealed text does not hold, a closed case, a tag already there: nothing
was written), NotFound (no such capture, case or note), ArchiveError (no custody.db, or
one made by an earlier custody: `custody reindex`; another custody command writing),
KeyProblem (the key). Each has the exit code the CLI gives it.
"""

from __future__ import annotations

from .caselog import LoggedEvent, case_log
from .cases import (
    Case,
    CaseCapture,
    CaseDetail,
    add_to_case,
    close_case,
    create_case,
    get_case,
    list_cases,
    remove_from_case,
    rename_case,
    reopen_case,
    show_case,
)
from .listing import CaptureFilters, CapturePage, CaptureRow, list_captures
from .notes import Note, Quote, add_note, get_note, notes_of, retract_note
from .recording import Recorded, Signer
from .selectors import Selector, Sighting, pages_with, selectors_of_capture, selectors_of_case
from .tags import Tag, TagCount, all_tags, tag_capture, tags_of, untag_capture

__all__ = [
    "CaptureFilters", "CapturePage", "CaptureRow", "Case", "CaseCapture", "CaseDetail",
    "LoggedEvent", "Note", "Quote", "Recorded", "Selector", "Sighting", "Signer", "Tag",
    "TagCount", "add_note", "add_to_case", "all_tags", "case_log", "close_case",
    "create_case", "get_case", "get_note", "list_captures", "list_cases", "notes_of",
    "pages_with", "remove_from_case", "rename_case", "reopen_case", "retract_note",
    "selectors_of_capture", "selectors_of_case", "show_case", "tag_capture", "tags_of",
    "untag_capture",
]
