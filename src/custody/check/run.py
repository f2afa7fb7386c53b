"""`custody check`: any WARC, ARC or WACZ file, told apart by its bytes (not its name),
read through and reported as `verify` reports: each item passed, failed or unchecked,
every problem with its place."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..core.errors import UsageError
from ..verify.report import FAILED, PASSED, UNCHECKED, Check, Report
from . import arcfile, wacz, warcfile
from .record import FileResult, Record
from .stream import GZIP_MAGIC

WARC, ARC, WACZ = "warc", "arc", "wacz"
PARALLEL_BYTES = 16 * 1024 * 1024  # a gzip WARC this large is read in parts, in parallel


@dataclass
class Checked:
    """One file: what it is, its report, and what was read of it (for import)."""

    path: Path
    kind: str
    report: Report
    files: dict[str, FileResult] = field(default_factory=dict)  # "" or WACZ entry
    stored: dict[str, int] = field(default_factory=dict)  # WACZ entry -> offset in the file

    @property
    def status(self) -> str:
        return self.report.status


def sniff(head: bytes, inflated: bytes) -> str | None:
    """The kind of file whose first bytes, and first inflated bytes if gzip, are given."""
    if head.startswith(b"PK\x03\x04"):
        return WACZ
    text = inflated if head.startswith(GZIP_MAGIC) else head
    if text[:5].upper() == b"WARC/":
        return WARC
    if text.startswith(b"filedesc://"):
        return ARC
    return None


def _first_bytes(fh: IO[bytes]) -> tuple[bytes, bytes]:
    import zlib

    head = fh.read(64 * 1024)
    inflated = b""
    if head.startswith(GZIP_MAGIC):
        try:
            inflated = zlib.decompressobj(wbits=31).decompress(head, 64)
        except zlib.error:
            inflated = b""
    return head, inflated


def check_file(path: Path, *, name: str | None = None, keep_sha256: bool = False) -> Checked:
    name = name or str(path)
    if not path.is_file():
        raise UsageError("no such file", where=name)
    with open(path, "rb") as fh:
        head, inflated = _first_bytes(fh)
    kind = sniff(head, inflated)
    report = Report(name)
    if kind is None:
        report.add("file", name, FAILED, f"not a WARC, ARC or WACZ file (begins {head[:16]!r})")
        return Checked(path, "unknown", report)
    checked = Checked(path, kind, report)
    if kind == WACZ:
        _check_wacz(path, name, checked, keep_sha256)
        return checked
    gzipped = head.startswith(GZIP_MAGIC)
    if gzipped and not path.name.endswith(".gz"):
        report.notes.append(f"{name}: gzip-compressed, though its name does not end in .gz")
    result = None
    if kind == WARC and gzipped:
        result = _in_parts(path, keep_sha256)
    if result is None:
        with open(path, "rb") as fh:
            reader = warcfile.check if kind == WARC else arcfile.check
            result = reader(fh, gzipped=gzipped, keep_sha256=keep_sha256)
    checked.files[""] = result
    add_rows(report, name, result)
    return checked


def _in_parts(path: Path, keep_sha256: bool) -> FileResult | None:
    """A large gzip WARC read in parts by worker processes, each from the first member
    after its part's start. The parts stand for the file only when they meet end to end
    from its first byte to its last and every member holds one whole record; otherwise
    (None) the file is read through in one pass, which places every problem."""
    from functools import partial

    from ..verify.pool import Pool, default_workers

    size = path.stat().st_size
    workers = default_workers()
    if size < PARALLEL_BYTES or not workers:
        return None
    count = workers * 16
    bounds = [size * i // count for i in range(count + 1)]
    jobs = [partial(warcfile.check_range, path, bounds[i], bounds[i + 1], keep_sha256)
            for i in range(count)]
    with Pool(jobs, workers) as pool:
        parts = [pool.result(i) for i in range(count)]
    at, records = 0, []
    for part in parts:
        if part is None:
            continue
        begin, stopped, plain, well = part
        if begin != at or not well:
            return None
        records += plain
        at = stopped
    if at != size:
        return None
    result = FileResult("gzip, one record per member",
                                 [Record.from_plain(p) for p in records])
    warcfile.finish(result)
    return result


def _check_wacz(path: Path, name: str, checked: Checked, keep_sha256: bool) -> None:
    package_result, package = wacz.check(path, name)
    report = checked.report
    for row in package_result.rows:
        report.add(*row)
    report.notes += package_result.notes
    checked.stored = package_result.stored
    if package is None:
        return
    with package:
        for entry in package_result.warcs:
            subject = f"{name}!{entry}"
            try:
                with package.open(entry) as fh:
                    head, inflated = _first_bytes(fh)
                kind = sniff(head, inflated)
                if kind not in (WARC, ARC):
                    report.add("warc-file", subject, FAILED, "not a WARC or ARC file")
                    continue
                with package.open(entry) as fh:
                    reader = warcfile.check if kind == WARC else arcfile.check
                    result = reader(fh, gzipped=head.startswith(GZIP_MAGIC),
                                    keep_sha256=keep_sha256)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                report.add("warc-file", subject, FAILED, f"cannot be read from the ZIP ({exc})")
                continue
            checked.files[entry] = result
            add_rows(report, subject, result)


def add_rows(report: Report, subject: str, result: FileResult) -> None:
    count = len(result.records)
    detail = "; ".join([f"{result.layout}, {count} record{'' if count == 1 else 's'}",
                        *result.failures])
    report.add("warc-file", subject, FAILED if result.failures else PASSED, detail)
    rows, notes = report.checks, report.notes
    for record in result.records:  # a row per record: kept lean, there may be millions
        place = record.place
        what = f"{subject}@{place} {record.record_id or '(no record id)'}"
        if not record.failures and not record.unchecked:
            rows.append(Check("record", what, PASSED, "", None))
        else:
            outcome = FAILED if record.failures else UNCHECKED
            rows.append(Check("record", what, outcome,
                              "; ".join(record.failures + record.unchecked), None))
        if record.notes:
            notes += [f"{subject}@{place}: {n}" for n in record.notes]
    notes += [f"{subject}: {n}" for n in result.notes]
