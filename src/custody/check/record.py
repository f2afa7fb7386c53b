"""What reading a WARC or ARC file finds: each record, with its place, its header, and
what is wrong with it; and the file as a whole."""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import headers

LISTED = 100  # a file's own failures and notes kept; the rest are counted


@dataclass
class Record:
    start: int  # uncompressed offset of its first byte
    offset: int  # the offset a tool seeks to: its gzip member's, or its own in a plain file
    within: int  # uncompressed bytes into that member where it begins (0: at the start)
    header: headers.Header | None
    member: int | None = None  # index of its gzip member
    length: int | None = None  # bytes in the file from offset: None when not its own member
    failures: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    block_sha256: str | None = None
    payload_sha256: str | None = None
    http_status: int | None = None
    http_type: str | None = None
    digested: bool = False  # it claims a block or payload digest
    end: int | None = None  # uncompressed offset where its block ends
    lost: bool = False  # where the next record begins is not known from this one
    # sha256 of what follows the first CRLF CRLF, where that is not where the head ends
    # (http_head): as custody took a payload's digest before 2026-12-07
    legacy_payload_sha256: str | None = None

    def plain(self, whole: bool = True) -> tuple[Any, ...]:
        """As plain values (a worker process sends it so); not ``whole``: of its header,
        only what a report names (its id and type), all its findings being the record's."""
        header = None
        if self.header is not None:
            fields = self.header.fields if whole else [
                ("WARC-Record-ID", self.record_id), ("WARC-Type", self.header.type)]
            header = (self.header.version, fields, self.header.failures, self.header.notes)
        return (self.start, self.offset, self.within, header, self.member, self.length,
                self.failures, self.unchecked, self.notes, self.block_sha256,
                self.payload_sha256, self.http_status, self.http_type, self.digested,
                self.end, self.lost, self.legacy_payload_sha256)

    @classmethod
    def from_plain(cls, values: tuple[Any, ...]) -> Record:
        header = None if values[3] is None else headers.Header(*values[3])
        return cls(values[0], values[1], values[2], header, *values[4:])

    @property
    def place(self) -> str:
        return str(self.offset) if not self.within else f"{self.offset}+{self.within}"

    @property
    def record_id(self) -> str:
        return ((self.header.get("WARC-Record-ID") if self.header else None) or "").strip()


class Listing:
    """Records kept for import, spooled as plain values to a temporary file that only
    this process can open, and read back in order: what import lists grows with the
    file, and is not held in memory while the file is read."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by close()
        self.count = 0

    def add(self, record: Record) -> None:
        pickle.dump(record.plain(), self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self.count += 1

    def __iter__(self) -> Iterator[Record]:
        self._file.flush()
        try:
            with open(self._file.fileno(), "rb", closefd=False) as reader:
                reader.seek(0)
                for _ in range(self.count):
                    yield Record.from_plain(pickle.load(reader))
        finally:
            self._file.seek(0, 2)  # the reader moved the shared offset: records go at the end

    def close(self) -> None:
        self._file.close()


@dataclass
class FileResult:
    layout: str
    count: int = 0  # records read
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    listing: Listing | None = None  # the records, when they are kept (for import)
    failures_left_out: int = 0
    notes_left_out: int = 0

    def fail(self, text: str) -> None:
        """A failure of the file as a whole (one per damaged gzip member, say): the first
        LISTED are kept, the rest counted."""
        if len(self.failures) < LISTED:
            self.failures.append(text)
        else:
            self.failures_left_out += 1

    def say(self, text: str) -> None:
        if len(self.notes) < LISTED:
            self.notes.append(text)
        else:
            self.notes_left_out += 1

    def all_failures(self) -> list[str]:
        more = self.failures_left_out
        return self.failures + ([f"and {more} more failures of the file"] if more else [])

    def all_notes(self) -> list[str]:
        more = self.notes_left_out
        return self.notes + ([f"and {more} more notes on the file"] if more else [])
