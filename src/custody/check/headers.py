"""A WARC record's header block: parsed as the spec writes it (case-insensitive names,
folded continuation lines), and checked for what it requires of every record.

Three kinds of finding: a failure (a mandatory field missing or empty, a standard field
given twice, a value that cannot be what the field is), a note (what is legal but worth
saying), and nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..core.fields import MAX_DIGITS, byte_count, w3c_date

VERSION = re.compile(rb"WARC/([0-9]{1,4})\.([0-9]{1,4})", re.IGNORECASE)
TYPES = {"warcinfo", "response", "resource", "request", "metadata", "revisit", "conversion",
         "continuation"}
_NEEDS_TARGET = {"response", "resource", "request", "revisit", "conversion", "continuation"}
_MANDATORY = ("warc-record-id", "content-length", "warc-date", "warc-type")
# the fields WARC 1.1 names; each at most once, except these
_REPEATABLE = {"warc-concurrent-to", "warc-protocol"}
STANDARD = {
    "warc-record-id", "content-length", "warc-date", "warc-type", "content-type",
    "warc-concurrent-to", "warc-block-digest", "warc-payload-digest", "warc-ip-address",
    "warc-refers-to", "warc-refers-to-target-uri", "warc-refers-to-date", "warc-target-uri",
    "warc-truncated", "warc-warcinfo-id", "warc-filename", "warc-profile",
    "warc-identified-payload-type", "warc-segment-number", "warc-segment-origin-id",
    "warc-segment-total-length",
}


@dataclass
class Header:
    version: str
    fields: list[tuple[str, str]]  # as written, in order
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # lower-case name -> times given
    first: dict[str, str] = field(default_factory=dict)  # lower-case name -> first value
    type: str = ""  # WARC-Type, in lower case

    def __post_init__(self) -> None:
        if self.fields and not self.first:
            self.index()

    def index(self) -> None:
        for name, value in self.fields:
            lower = name.lower()
            self.counts[lower] = self.counts.get(lower, 0) + 1
            self.first.setdefault(lower, value)
        self.type = self.first.get("warc-type", "").strip().lower()

    def get(self, name: str) -> str | None:
        """The first value of a field (names compared without case)."""
        return self.first.get(name.lower())

    @property
    def content_length(self) -> int | None:
        return byte_count(self.get("Content-Length"))


def parse(block: bytes) -> Header | None:
    """The header block (without its closing blank line); None when its first line is not
    a WARC version line."""
    crlf = b"\r\n" in block
    newline = b"\r\n" if crlf else b"\n"
    cut = block.find(newline)
    first = block if cut < 0 else block[:cut]
    if VERSION.fullmatch(first.strip()) is None:
        return None
    header = Header(first.strip().decode("ascii"), [])
    if not first.startswith(b"WARC/"):
        header.notes.append(f"version line {header.version!r} is not in upper case")
    if cut < 0:
        _check(header)
        return header
    fields = header.fields
    counts, firsts = header.counts, header.first
    rest = block[cut + len(newline) :].decode("utf-8", errors="replace")
    for number, text in enumerate(rest.split("\r\n" if crlf else "\n"), start=2):
        if text[:1] in (" ", "\t") and fields:  # a folded line continues the value
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {text.strip()}".strip())
            lower = name.lower()
            if counts[lower] == 1:
                firsts[lower] = fields[-1][1]
            continue
        name, sep, value = text.partition(":")
        if not sep or not name or name[-1] in " \t" or name[0] in " \t":
            header.failures.append(f"header line {number} is not a field: {text[:60]!r}")
            continue
        value = value.strip()
        fields.append((name, value))
        lower = name.lower()
        if lower in counts:
            counts[lower] += 1
        else:
            counts[lower] = 1
            firsts[lower] = value
    header.type = firsts.get("warc-type", "").strip().lower()
    _check(header)
    return header


def _check(header: Header) -> None:
    repeated = len(header.counts) != len(header.fields)
    for name, count in header.counts.items() if repeated else ():
        if count > 1 and name not in _REPEATABLE:
            if name in STANDARD:
                header.failures.append(f"{_title(name)} is given {count} times")
            else:
                header.notes.append(f"{name} is given {count} times")
    wanted = list(_MANDATORY)
    if header.type in _NEEDS_TARGET:
        wanted.append("warc-target-uri")
    if header.type == "revisit":
        wanted.append("warc-profile")
    if header.type == "continuation":
        wanted += ["warc-segment-origin-id", "warc-segment-number"]
    for name in wanted:
        value = header.first.get(name)
        if value is None:
            header.failures.append(f"mandatory field {_title(name)} is missing")
        elif not value.strip():
            header.failures.append(f"mandatory field {_title(name)} is empty")
    length = header.first.get("content-length", "").strip()
    if length and byte_count(length) is None:
        header.failures.append(f"Content-Length {length[:40]!r} is not a number of bytes "
                               f"(ASCII digits, at most {MAX_DIGITS})")
    date = (header.get("WARC-Date") or "").strip()
    # W3C-DTF, as WARC 1.1 allows (more or less precise than seconds); WARC 1.0 and 0.17
    # write seconds. Letters in either case (jwat's upper/lower-case fixture is valid).
    if date and w3c_date(date) is None:
        header.failures.append(f"WARC-Date {date[:60]!r} is not a W3C-ISO8601 UTC time")
    record_type = header.type
    if record_type and record_type not in TYPES:
        header.notes.append(f"WARC-Type {record_type!r} is not one the spec defines "
                            "(readers may skip it)")
    record_id = (header.get("WARC-Record-ID") or "").strip()
    if record_id and not (record_id.startswith("<") and record_id.endswith(">")):
        header.notes.append(f"WARC-Record-ID {record_id[:60]!r} is not in angle brackets")


def _title(name: str) -> str:
    return "-".join("ID" if part == "id" else "IP" if part == "ip" else
                    "WARC" if part == "warc" else part.capitalize() for part in name.split("-"))
