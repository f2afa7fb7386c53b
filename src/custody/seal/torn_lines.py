"""What an append cut short can leave after the last newline of the ledger's leaves and
of the custody log -- the start of one line as custody writes it, and nothing else --
told apart from what no interrupted append leaves (lines joined by carriage returns,
bytes written there, a whole line whose newline was taken away): the first is cut by the
next writer, the second fails verify and is never cut, so that no signed line is lost."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..core.torn import tail_torn

_LONGEST_LEAF = 20 + 1 + 128 + 1 + 64  # a leaf line's number, capture id and hash
_LEAF_REST = re.compile(rb"[0-9A-Za-z._-]{1,128}(?: [0-9a-f]{0,64})?")
_WHOLE_LEAF = re.compile(rb"\d+ [0-9A-Za-z._-]{1,128} [0-9a-f]{64}")
_LONGEST_EVENT = 64 << 20


def could_begin_leaf(tail: bytes, index: int) -> bool:
    """Whether ``tail`` is the start of leaf ``index``'s line (``N ID HASH``)."""
    head = f"{index} ".encode()
    if len(tail) <= len(head):
        return head.startswith(tail)
    return tail.startswith(head) and _LEAF_REST.fullmatch(tail[len(head):]) is not None


def torn_event_problem(tail: bytes) -> str | None:
    """None when ``tail`` is the start of one event as custody writes it (canonical JSON
    on one line), cut short; else why it is not (a whole event is not cut short: its
    newline was taken away, and it is kept)."""
    if not b'{"'.startswith(tail[:2]):
        return "not the start of an event"
    if tail.endswith(b"}"):
        try:
            json.loads(tail)
        except ValueError:
            pass
        else:
            return "a whole event without its end of line: a newline removed?"
    if b"\r" in tail:
        return "lines ended by carriage returns"
    if b'}{"' in tail:  # never inside one canonical event: two events run together
        return "events run together"
    return None


def leaf_tail_problem(path: Path, size: int) -> str | None:
    """None when what follows the leaves file's last newline is nothing, or the start of
    leaf ``size``'s line; else what it is."""
    torn = tail_torn(path)
    if not torn:
        return None
    if torn <= _LONGEST_LEAF:
        tail = _tail(path, torn)
        if _WHOLE_LEAF.fullmatch(tail):  # whole: never cut as if an append were cut short
            return f"line {size + 1} is a whole leaf line without its end of line (a " \
                "newline removed?): not an interrupted append"
        if could_begin_leaf(tail, size):
            return None
    return f"line {size + 1} is no leaf line: {torn} bytes without an end of line, " \
        "not the start of the leaf an interrupted append would have written"


def log_tail_problem(path: Path) -> str | None:
    """None when what follows the custody log's last newline is nothing, or the start of
    one event; else what it is."""
    torn = tail_torn(path)
    if not torn:
        return None
    problem = torn_event_problem(_tail(path, torn)) if torn <= _LONGEST_EVENT else \
        "more than one event's bytes"
    return None if problem is None else \
        f"ends in {torn} bytes without an end of line that are no event cut short ({problem})"


def _tail(path: Path, size: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(-size, 2)
        return fh.read()
