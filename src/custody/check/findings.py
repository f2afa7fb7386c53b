"""What `custody check` finds, kept so that its memory does not grow with the file: a
file of 300,000 tiny records must not hold 300,000 records, rows or notes.

Each record is judged as it is read and then let go (warcfile, arcfile). ``CheckReport``
counts every row; of those that did not pass it keeps the first ``KEEP`` of each outcome
(what import seals and a caller asks about), and writes every one to a spool on disk,
from which the command prints them; passed rows go to the spool only when they are to
be printed (``-v``, ``--json``). ``FileFindings`` turns one file's records into rows and
notes, finds repeated record ids through an index on disk, and keeps the records for
import in a ``Listing`` (on disk too).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from ..verify.report import FAILED, PASSED, UNCHECKED, Check, Report
from .record import FileResult, Listing, Record

KEEP = 1000  # rows of each outcome but passed kept in memory; all are counted and spooled
NOTES = 1000  # notes kept in memory; all are spooled


def _spool() -> IO[str]:
    return tempfile.TemporaryFile("w+", encoding="utf-8")


class CheckReport(Report):
    """A report that counts every row, keeps the first KEEP failed and KEEP unchecked
    rows (and NOTES notes), and spools every row but the passed ones -- those too when
    ``every`` -- in the order a person reads them: a file's own row before its records'."""

    def __init__(self, root: str = "", *, every: bool = False) -> None:
        super().__init__(root)
        self.every = every
        self.tally = {PASSED: 0, FAILED: 0, UNCHECKED: 0}
        self.kept = {FAILED: 0, UNCHECKED: 0}
        self.rows_left_out = 0  # failed or unchecked rows counted, not kept in memory
        self.notes_left_out = 0
        self._rows, self._notes = _spool(), _spool()
        self._out = self._rows  # where rows go now: the spool, or a file's section of it
        self._section: tuple[int, IO[str]] | None = None

    def add(self, check: str, subject: str, outcome: str, detail: str = "",
            capture_id: str | None = None) -> None:
        self._add(Check(check, subject, outcome, detail, capture_id))

    def _add(self, row: Check, at: int | None = None) -> None:
        self.tally[row.outcome] = self.tally.get(row.outcome, 0) + 1
        if row.outcome == PASSED:
            if self.every:
                self._out.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        self._out.write(json.dumps(row, ensure_ascii=False) + "\n")
        if self.kept.get(row.outcome, 0) >= KEEP:
            self.rows_left_out += 1
            return
        self.kept[row.outcome] = self.kept.get(row.outcome, 0) + 1
        if at is None:
            self.checks.append(row)
        else:
            self.checks.insert(at, row)

    def note(self, text: str) -> None:
        self._notes.write(json.dumps(text, ensure_ascii=False) + "\n")
        if len(self.notes) < NOTES:
            self.notes.append(text)
        else:
            self.notes_left_out += 1

    def begin(self) -> None:
        """The rows that follow are a file's records: its own row, known at its end, is
        to be read before them (``end``)."""
        self._section = (len(self.checks), _spool())
        self._out = self._section[1]

    def end(self, check: str, subject: str, outcome: str, detail: str) -> None:
        assert self._section is not None
        at, section = self._section
        self._section, self._out = None, self._rows
        self._add(Check(check, subject, outcome, detail, None), at)
        section.seek(0)
        shutil.copyfileobj(section, self._rows)
        section.close()

    def count(self, outcome: str) -> int:
        return self.tally.get(outcome, 0)

    def rows(self) -> Iterator[Check]:
        """Every spooled row, in order."""
        yield from (Check._make(json.loads(line)) for line in _lines(self._rows))

    def all_notes(self) -> Iterator[str]:
        yield from (str(json.loads(line)) for line in _lines(self._notes))

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["checks"] = [row._asdict() for row in self.rows()]
        data["notes"] = list(self.all_notes())
        return data

    def close(self) -> None:
        self._rows.close()
        self._notes.close()


def _lines(spool: IO[str]) -> Iterator[str]:
    spool.flush()
    spool.seek(0)
    try:
        yield from spool
    finally:
        spool.seek(0, 2)  # more may be written after, even when reading stopped early


class _Ids:
    """The record ids of one file, on disk (SQLite's private temporary database, its page
    cache bounded), each with the place it was first seen."""

    def __init__(self) -> None:
        self.db: sqlite3.Connection | None = None

    def first(self, record_id: str, place: str) -> str | None:
        """Where the id was seen before; None the first time."""
        if self.db is None:
            self.db = sqlite3.connect("")  # "": a temporary database on disk
            self.db.execute("PRAGMA cache_size = -4096")  # KiB
            self.db.execute("CREATE TABLE ids (id BLOB PRIMARY KEY, place TEXT) WITHOUT ROWID")
        key = hashlib.sha256(record_id.encode("utf-8", errors="surrogatepass")).digest()
        if self.db.execute("INSERT OR IGNORE INTO ids VALUES (?, ?)", (key, place)).rowcount:
            return None
        return str(self.db.execute("SELECT place FROM ids WHERE id = ?", (key,)).fetchone()[0])

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


class FileFindings:
    """One WARC or ARC file's records, as they are judged: rows and notes in the report,
    repeated record ids (WARC), records without digests counted, and the records kept
    for import when ``listing`` is given. Call it with each record; ``close`` at the end."""

    def __init__(self, report: CheckReport, subject: str, *, warc: bool,
                 listing: Listing | None = None) -> None:
        self.report, self.subject, self.warc, self.listing = report, subject, warc, listing
        self.ids = _Ids()
        self.count = 0  # records seen (a file cut short by a ZIP error still had these)
        self.silent = 0  # records that claim no digest
        report.begin()

    def __call__(self, record: Record) -> None:
        report, subject = self.report, self.subject
        self.count += 1
        place = record.place
        record_id = record.record_id
        if self.warc and record_id:
            before = self.ids.first(record_id, place)
            if before is not None:
                record.notes.append(f"its WARC-Record-ID is also that of the record at "
                                    f"{before} (the spec wants each unique; a tool that "
                                    "looks records up by id finds one of them)")
        if self.warc and record.header and not record.digested:
            self.silent += 1
        what = f"{subject}@{place} {record_id or '(no record id)'}"
        if not record.failures and not record.unchecked:
            report.add("record", what, PASSED)
        else:
            report.add("record", what, FAILED if record.failures else UNCHECKED,
                       "; ".join(record.failures + record.unchecked))
        for note in record.notes:
            report.note(f"{subject}@{place}: {note}")
        if self.listing is not None:
            self.listing.add(record)

    def close(self, result: FileResult) -> None:
        self.ids.close()
        result.listing = self.listing
        count = result.count = self.count
        if self.silent:
            result.say(f"{self.silent} of {count} records claim no digest: their bytes are "
                       "checked for framing and fields only")
        failures = result.all_failures()
        detail = "; ".join([f"{result.layout}, {count} record{'' if count == 1 else 's'}",
                            *failures])
        self.report.end("warc-file", self.subject, FAILED if failures else PASSED, detail)
        for note in result.all_notes():
            self.report.note(f"{self.subject}: {note}")
