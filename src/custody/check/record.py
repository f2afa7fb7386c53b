"""What reading a WARC or ARC file finds: each record, with its place, its header, and
what is wrong with it; and the file as a whole."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import headers


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
                self.end, self.lost)

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


@dataclass
class FileResult:
    layout: str
    records: list[Record] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
