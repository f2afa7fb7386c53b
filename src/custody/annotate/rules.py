"""What an annotation may say: names, tags and texts checked before they are signed into
the custody log, where they stay for good.

A name or a tag is one line of printable text, of bounded length, in NFC; a note is
text of bounded size whose lines may break. Control characters are refused everywhere
(a terminal showing `custody log` would obey them), and so are the bidirectional
overrides and isolates, which can make a name read differently from what it is (the
"Trojan Source" trick): a name in Persian or Arabic needs none of them, since every
place custody shows one isolates it in its own direction. The joiners Persian writes
with (ZWNJ, ZWJ) and the direction marks (LRM, RLM, ALM) are kept; a quoted passage
keeps whatever the page's text holds, since it must be found there.
"""

from __future__ import annotations

import re
import secrets
import unicodedata

from ..core.errors import UsageError
from ..core.terminal import BIDI_CONTROLS

CASE_NAME_MAX = 200
DESCRIPTION_MAX = 4_000
TAG_MAX = 64
NOTE_MAX = 20_000
QUOTE_MAX = 4_000
REASON_MAX = 2_000
ACCOUNT_MAX = 200
CAPTURES_PER_EVENT = 1_000  # a case-added or case-removed event names at most this many

CASE_ID = re.compile(r"case-[0-9a-f]{12}")
NOTE_ID = re.compile(r"note-[0-9a-f]{12}")


def new_case_id() -> str:
    return "case-" + secrets.token_hex(6)


def new_note_id() -> str:
    return "note-" + secrets.token_hex(6)


def check_note_id(note_id: str) -> str:
    if not NOTE_ID.fullmatch(note_id):
        raise UsageError("not a note id (like note-1a2b3c4d5e6f)", where=repr(note_id))
    return note_id


def _clean(text: str, what: str, limit: int, *, lines: bool, bidi: bool = False) -> str:
    text = unicodedata.normalize("NFC", text)
    if lines:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    for ch in text:
        allowed_break = lines and ch in "\n\t"
        if (unicodedata.category(ch) == "Cc" and not allowed_break) or (
                ch in BIDI_CONTROLS and not bidi):
            raise UsageError(f"{what} holds the control character U+{ord(ch):04X}: "
                             "write it without")
        refused = ("Cs",) if bidi else ("Zl", "Zp", "Cs", "Co", "Cn")
        if unicodedata.category(ch) in refused:
            raise UsageError(f"{what} holds U+{ord(ch):04X}, which is not text to show")
    text = text.strip()
    if not text:
        raise UsageError(f"{what} is empty")
    if len(text) > limit:
        raise UsageError(f"{what} is {len(text)} characters long; at most {limit}")
    return text


def case_name(name: str) -> str:
    """A case's name: one line, at most CASE_NAME_MAX characters, white space as one
    space; not one that reads as a case id (a name is looked up after the ids)."""
    cleaned = " ".join(_clean(name, "the case's name", CASE_NAME_MAX, lines=False).split())
    if CASE_ID.fullmatch(cleaned):
        raise UsageError("a case's name cannot look like a case id", where=repr(cleaned))
    return cleaned


def tag(text: str) -> str:
    """A tag: one line of at most TAG_MAX characters, white space as one space, and no
    comma (so that a list of tags reads back as the same tags)."""
    cleaned = " ".join(_clean(text, "the tag", TAG_MAX, lines=False).split())
    if "," in cleaned:
        raise UsageError("a tag cannot hold a comma", where=repr(cleaned))
    return cleaned


def note_text(text: str) -> str:
    return _clean(text, "the note", NOTE_MAX, lines=True)


def quote(text: str) -> str:
    return _clean(text, "the quoted passage", QUOTE_MAX, lines=True, bidi=True)


def description(text: str | None) -> str | None:
    return None if text is None else _clean(text, "the description", DESCRIPTION_MAX,
                                            lines=True)


def reason(text: str | None) -> str | None:
    return None if text is None else _clean(text, "the reason", REASON_MAX, lines=True)


def account(text: str | None) -> str | None:
    return None if text is None else _clean(text, "the account", ACCOUNT_MAX, lines=False)
