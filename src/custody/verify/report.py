"""The outcome of verification: checks, each passed, failed or unchecked.

Verification keeps going after a failure, so a report names every capture, file and
record that is wrong and what differs; "unchecked" (could not be checked) is never
counted as passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .. import __version__

# A report's findings as plain values, as verification jobs send them to the parent:
# checks as (check, subject, outcome, detail, capture id), and notes (and, from a
# report that counts what passes, how many passed).
Findings = tuple[list[tuple[str, str, str, str, str | None]], list[str]] | \
    tuple[list[tuple[str, str, str, str, str | None]], list[str], int]

PASSED, FAILED, UNCHECKED = "passed", "failed", "unchecked"
REPORT_FORMAT = "custody-verify/1"


class Check(NamedTuple):
    check: str  # signature, chain, sha256sums, warc-file, warc-records, record, database, ...
    subject: str  # what was checked: a path, a record id, a table
    outcome: str
    detail: str = ""
    capture_id: str | None = None


@dataclass
class Report:
    root: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    captures: list[str] = field(default_factory=list)
    # a report that only counts the checks that passed, keeping those that did not: the
    # memory of verify then does not grow with the archive (`verify` unless -v/--json)
    summarize: bool = False
    records_passed: int = 0  # (every check that passed and was only counted)
    captured: int = 0  # captures checked, when they are counted and not listed
    _whole: set[tuple[Any, ...]] = field(default_factory=set, repr=False)  # (merge)

    def add(self, check: str, subject: str, outcome: str, detail: str = "",
            capture_id: str | None = None) -> None:
        if self.summarize and outcome == PASSED:
            self.records_passed += 1
            return
        self.checks.append(Check(check, subject, outcome, detail, capture_id))
        if capture_id is None:
            self._whole.add((check, subject, outcome, detail, None))

    def findings(self) -> Findings:
        return ([tuple(c) for c in self.checks], list(self.notes),  # type: ignore[misc]
                self.records_passed)

    def merge(self, findings: Findings) -> None:
        """Add another report's findings; a note already here is not repeated."""
        checks, notes = findings[0], findings[1]
        self.records_passed += findings[2] if len(findings) > 2 else 0
        if self.summarize:
            kept = [c for c in checks if c[2] != PASSED]
            self.records_passed += len(checks) - len(kept)
            checks = kept
        # a finding about the archive as a whole (no capture named) that another job made
        # too is said once (those merged are remembered: a few, however large the report)
        for c in checks:
            if c[4] is None:
                if tuple(c) in self._whole:
                    continue
                self._whole.add(tuple(c))
            self.checks.append(Check._make(c))
        self.notes.extend(n for n in notes if n not in self.notes)

    @property
    def capture_count(self) -> int:
        return self.captured or len(self.captures)

    def count(self, outcome: str) -> int:
        counted = self.records_passed if outcome == PASSED else 0
        return counted + sum(1 for c in self.checks if c.outcome == outcome)

    @property
    def status(self) -> str:
        if self.count(FAILED):
            return FAILED
        return "incomplete" if self.count(UNCHECKED) else PASSED

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "custody_version": __version__,
            "root": self.root,
            "status": self.status,
            "summary": {o: self.count(o) for o in (PASSED, FAILED, UNCHECKED)},
            "captures": self.captures,
            "checks": [c._asdict() for c in self.checks],
            "notes": self.notes,
        }


@contextmanager
def malformed(report: Report, capture_id: str) -> Iterator[None]:
    """A manifest not shaped as custody writes them (a byte flipped in a name, a list
    where a record was) fails, after what was checked of it before: never a traceback."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        report.add("manifest", capture_id, FAILED,
                   f"not as custody writes a manifest ({type(exc).__name__}: {exc}); what "
                   "follows from it was not checked", capture_id)
