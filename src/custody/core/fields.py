"""Values of header fields that come from outside -- HTTP from servers and browsers,
WARC and ARC headers from other tools' files -- read strictly, so that no value can
end in a traceback.

Python's own parsers are too lenient for this: ``"²".isdigit()`` is true and
``int("²")`` fails; ``int()`` takes ``"+5"``, ``" 5 "``, ``"1_0"`` and Arabic-Indic
digits, and refuses 5,000 digits with a ValueError of its own. Each reader here takes
exactly what the spec's grammar allows (ASCII digits, ``1*DIGIT``; ``1*HEXDIG``;
``3DIGIT``; W3C-DTF) and answers None for anything else, which the caller reports as a
finding or a one-line error.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

MAX_DIGITS = 18  # 10^18 bytes is an exabyte: no real length is longer
_DIGITS = re.compile(rb"[0-9]{1,%d}" % MAX_DIGITS)
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_STATUS = re.compile(rb"[1-9][0-9]{2}")
# W3C-DTF as WARC 1.1 allows it (WARC 1.0 writes seconds): ASCII digits only
_W3C = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2})(?:[Tt]([0-9]{2}):([0-9]{2})"
                  r"(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?[Zz])?)?)?")
_ARC_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})?")


def _ascii(value: str | bytes | None) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return value.strip().encode("ascii")
        except UnicodeEncodeError:
            return None
    return value.strip()


def byte_count(value: str | bytes | None) -> int | None:
    """A length or count (``1*DIGIT``): at most MAX_DIGITS ASCII digits; else None."""
    raw = _ascii(value)
    return int(raw) if raw is not None and _DIGITS.fullmatch(raw) else None


def hex_count(value: str | bytes | None) -> int | None:
    """A chunk size (``1*HEXDIG``, at most 16 of them); else None."""
    raw = _ascii(value)
    return int(raw, 16) if raw is not None and _HEX.fullmatch(raw) else None


def status_code(value: str | bytes | None) -> int | None:
    """An HTTP status code (``3DIGIT``, 100 to 999); else None."""
    raw = _ascii(value)
    return int(raw) if raw is not None and _STATUS.fullmatch(raw) else None


def w3c_date(value: str | None) -> datetime | None:
    """A WARC-Date (W3C-DTF, UTC: a year, to a fraction of a second) as the first
    moment it names; None when it is not one, or names no real day or time."""
    match = _W3C.fullmatch((value or "").strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, _fraction = match.groups()
    seconds = int(second or 0)
    if seconds == 60 and hour == "23" and minute == "59":
        seconds = 59  # a leap second is a real time that datetime cannot hold
    try:
        return datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                        int(minute or 0), seconds, tzinfo=UTC)
    except ValueError:  # month 13, 30 February, hour 25
        return None


def arc_date(value: str | None) -> datetime | None:
    """An ARC archive date (YYYYMMDDhhmmss, or without its seconds); None otherwise."""
    match = _ARC_DATE.fullmatch((value or "").strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(p or 0) for p in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
