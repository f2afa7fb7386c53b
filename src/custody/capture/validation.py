"""The rules a capture's settings keep, written once: `custody archive` checks its options
with them, and a queue worker checks every job's settings with them before it uses any.

A job comes from Redis, which anyone who can reach it may write; the command line's own
checks (click's ranges) never saw it. So the rules live here, as data the click options
are built from (``LIMITS``) and one function both call (``check_settings``): a type, a
range, a choice or a pattern that compiles, every field present, none unknown. A value
that passed here cannot crash or hang a crawl: ``concurrency`` is at least 1, a delay or
a timeout has an upper bound, a regular expression compiles, a header has no line break.

Settings naming files of the machine that reads them (``LOCAL_PATHS``) are checked for
type here; whether they may come from where they come from is the caller's rule (a
worker takes them from its own configuration, never from a job).
"""

from __future__ import annotations

import math
import re
from dataclasses import fields
from typing import Any

from ..core.errors import InvalidURL, UsageError
from .rules import SCOPES
from .settings import BEHAVIORS, Settings

# (least, most) of each number; None: no bound. `custody archive`'s options use them too.
LIMITS: dict[str, tuple[float | None, float | None]] = {
    "depth": (0, 100),
    "concurrency": (1, 64),
    "retries": (0, 10),
    "timeout": (0.1, 3600),  # one response: an hour is past any server's patience
    "delay": (0, 3600),  # between two requests to a host; more would hold a worker for days
    "page_timeout": (1, 3600),
    "behavior_timeout": (1, 3600),
    "time_limit": (0.1, None),
    "media_time_limit": (0.1, None),
    "max_pages": (1, None),
    "max_bytes": (1, None),
    "max_media_bytes": (1, None),
    "warc_size": (1, None),
}
INTEGERS = ("depth", "concurrency", "retries", "max_pages", "max_bytes", "max_media_bytes",
            "warc_size")
OPTIONAL = ("time_limit", "media_time_limit", "max_pages", "max_bytes", "max_media_bytes")
FLAGS = ("requisites", "respect_robots", "allow_private", "insecure", "browser", "media",
         "replay_check", "interactive")
LOCAL_PATHS = ("cookies", "ca_bundle", "browser_profile")  # files of the reading machine
PATTERNS = ("include", "exclude")
MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 2000
MAX_TSA = 20
MAX_USER_AGENT = 1000
NAMES = tuple(f.name for f in fields(Settings))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def least(name: str) -> float:
    low = LIMITS[name][0]
    assert low is not None
    return low


def most(name: str) -> float | None:
    return LIMITS[name][1]


def check_settings(data: object) -> Settings:
    """The settings ``data`` (a mapping, as ``Settings.to_json`` writes it) describes: every
    field present and valid, none unknown. UsageError naming the first that is not."""
    if not isinstance(data, dict):
        raise UsageError(f"settings are an object of named values, not {_kind(data)}")
    unknown = sorted(str(k) for k in data if k not in NAMES)
    if unknown:
        raise UsageError(f"unknown setting {unknown[0]!r} (from a newer custody?)")
    missing = [name for name in NAMES if name not in data]
    if missing:
        raise UsageError(f"setting {missing[0]!r} is missing")
    values = {name: _checked(name, data[name]) for name in NAMES}
    return Settings(**values)


def _checked(name: str, value: object) -> Any:
    if name in FLAGS:
        if not isinstance(value, bool):
            raise UsageError(f"setting {name!r} is true or false, not {_kind(value)}")
        return value
    if name in LIMITS:
        if value is None and name in OPTIONAL:
            return None
        return _number(name, value)
    if name == "scope":
        if value not in SCOPES:
            raise UsageError(f"setting 'scope' is one of {', '.join(SCOPES)}, not "
                             f"{_shown(value)}")
        return value
    if name in PATTERNS:
        return _patterns(name, value)
    if name == "user_agent":
        return _user_agent(value)
    if name == "tsa":
        return _tsa(value)
    if name == "behaviors":
        return _behaviors(value)
    if name == "volatile":
        if not isinstance(value, list) or len(value) > MAX_PATTERNS or not all(
                isinstance(v, str) and v and len(v) <= MAX_PATTERN_LENGTH
                and not _CONTROL.search(v) for v in value):
            raise UsageError(f"setting 'volatile' is a list of at most {MAX_PATTERNS} CSS "
                             f"selectors, not {_shown(value)}")
        return list(value)
    if name in LOCAL_PATHS:
        if value is None:
            return None
        if not isinstance(value, str) or not value or "\x00" in value:
            raise UsageError(f"setting {name!r} is the path of a file, not {_kind(value)}")
        return value
    raise UsageError(f"setting {name!r} has no rule")  # a field added without one


def _behaviors(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"setting 'behaviors' is a list of names, not {_kind(value)}")
    unknown = [v for v in value if v not in BEHAVIORS]
    if unknown:
        raise UsageError(f"setting 'behaviors': {_shown(unknown[0])} is none of "
                         f"{', '.join(BEHAVIORS)}")
    return [kind for kind in BEHAVIORS if kind in value]


def _number(name: str, value: object) -> int | float:
    integer = name in INTEGERS
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            (integer and not isinstance(value, int)):
        raise UsageError(f"setting {name!r} is {'a whole number' if integer else 'a number'}, "
                         f"not {_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"setting {name!r} is a finite number, not {value}")
    low, high = LIMITS[name]
    if (low is not None and value < low) or (high is not None and value > high):
        bound = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise UsageError(f"setting {name!r} is {bound}, not {_shown(value)}")
    return value if integer else float(value)


def _patterns(name: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise UsageError(f"setting {name!r} is a list of regular expressions, not "
                         f"{_kind(value)}")
    if len(value) > MAX_PATTERNS:
        raise UsageError(f"setting {name!r} holds {len(value)} patterns; at most "
                         f"{MAX_PATTERNS}")
    for pattern in value:
        check_pattern(pattern, name)
    return list(value)


def check_pattern(pattern: str, name: str = "pattern") -> str:
    """A regular expression that compiles, of a sane length; UsageError otherwise."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise UsageError(f"{name}: a regular expression of {len(pattern)} characters; at "
                         f"most {MAX_PATTERN_LENGTH}")
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise UsageError(f"{name}: {pattern[:80]!r} is not a regular expression "
                         f"({exc})") from None
    return pattern


def _user_agent(value: object) -> str:
    if not isinstance(value, str):
        raise UsageError(f"setting 'user_agent' is text, not {_kind(value)}")
    if not value:
        return value  # the default: the worker's Chromium's own
    if not value.strip():
        raise UsageError("setting 'user_agent' is blank")
    if len(value) > MAX_USER_AGENT or _CONTROL.search(value):
        # a line break in a header would let the value write headers of its own
        raise UsageError("setting 'user_agent' is one line of at most "
                         f"{MAX_USER_AGENT} characters, without control characters")
    return value


def _tsa(value: object) -> list[str]:
    from ..core.urls import check_url

    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise UsageError(f"setting 'tsa' is a list of URLs, not {_kind(value)}")
    if len(value) > MAX_TSA:
        raise UsageError(f"setting 'tsa' holds {len(value)} URLs; at most {MAX_TSA}")
    for url in value:
        try:
            check_url(url)
        except InvalidURL as exc:
            raise UsageError(f"setting 'tsa': {exc}") from None
    return list(value)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"the text {_shown(value)}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return {"list": "a list", "dict": "an object"}.get(type(value).__name__,
                                                       type(value).__name__)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
