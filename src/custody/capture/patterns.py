"""A crawl's include and exclude patterns: Python's regular expressions, never able to hold
the crawl.

The patterns are the archivist's, or a queued job's, and the URLs they are matched
against are the archived site's: a pattern that backtracks without end on a URL the site
chose (``(a|aa)+b``, ``(\\w+/)+logout``) would hold the crawl, and with it the signals
that stop it and a queue worker's heartbeat, for minutes or for ever.

A pattern with at most one unbounded repetition, of one character at a time (``.*``,
``[a-z]+``), and no backreference cannot do that, and is matched by ``re`` itself. Any
other is matched by the ``regex`` module (the same syntax, for what such patterns use),
each search bounded in time and run without holding the interpreter's lock: one that
takes longer is taken as not matching an include and as matching an exclude (the URL is
not followed). A pattern that overruns three times is given less time after (a page of
many such links cannot stall the crawl for long), and the log says so once a pattern. A
pattern that only ``re`` reads (``regex`` reads ``{name}`` as a fuzzy match) is matched
by ``re``.
"""

from __future__ import annotations

import logging
import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

TIMEOUT = 0.25  # seconds one search may take, until a pattern has overrun three times
TIMEOUT_AFTER = 0.01  # and then
OVERRUNS = 3

log = logging.getLogger("custody.capture")


class Pattern:
    def __init__(self, source: str) -> None:
        self.pattern = source
        self._plain = re.compile(source)  # (UsageError first, in validation.py)
        self._bounded: Any = None
        self.overruns = 0
        if _may_backtrack(self._plain):
            import regex  # (only then: its import costs a capture 10-15 ms)

            try:
                self._bounded = regex.compile(source)
            except regex.error:
                log.warning("the pattern %r is matched without a time bound (the regex "
                            "module does not read it as re does)", source[:80])

    def search(self, text: str) -> bool | None:
        """Whether the pattern is found in ``text``; None when it could not tell in time."""
        if self._bounded is None:
            return self._plain.search(text) is not None
        timeout = TIMEOUT if self.overruns < OVERRUNS else TIMEOUT_AFTER
        try:
            return self._bounded.search(text, timeout=timeout, concurrent=True) is not None
        except TimeoutError:
            self.overruns += 1
            if self.overruns == 1:
                log.warning("the pattern %r took more than %.2f s on %s: a URL it cannot "
                            "decide on in time is taken as matching an exclude and not "
                            "an include (said once)", self.pattern[:80], timeout, text[:200])
            return None


def matches(patterns: list[Pattern], text: str, *, slow: bool) -> bool:
    """Whether any pattern is found in ``text``; ``slow``: what a pattern that could not
    tell in time counts as (True for an exclude: the URL is not followed)."""
    for pattern in patterns:
        found = pattern.search(text)
        if found or (found is None and slow):
            return True
    return False


_ONE_CHARACTER = {sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN, sre.CATEGORY}
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}


def _may_backtrack(compiled: re.Pattern[str]) -> bool:
    """Whether a pattern may take more than polynomial, or more than quadratic, time: two
    or more unbounded (or long) repetitions, one inside another, or a backreference."""
    unbounded = 0

    def walk(items: Any, inside: bool) -> bool:
        nonlocal unbounded
        for op, value in items:
            if op in _REPEATS:
                _, high, sub = value
                wide = high == sre.MAXREPEAT or high > 64
                if wide:
                    unbounded += 1
                    if inside or unbounded > 1 or any(o not in _ONE_CHARACTER
                                                      for o, _ in sub):
                        return True  # (a repeated group, alternation, repetition...)
                if walk(sub, inside or wide):
                    return True
            elif op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
                return True
            elif op == sre.SUBPATTERN:
                if walk(value[-1], inside):
                    return True
            elif op == sre.BRANCH:
                if any(walk(branch, inside) for branch in value[1]):
                    return True
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                if walk(value[1], inside):
                    return True
            elif op == getattr(sre, "ATOMIC_GROUP", None) and walk(value, inside):
                return True
        return False

    try:
        return walk(sre_parse.parse(compiled.pattern, compiled.flags), False)
    except Exception:  # a parser that changed: bound it all the same
        return True
