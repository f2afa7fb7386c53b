"""`custody check`: any WARC, ARC or WACZ file, told apart by its bytes (not its name),
read through and reported as `verify` reports: each item passed, failed or unchecked,
every problem with its place."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..core import scratch
from ..core.errors import UsageError
from ..core.terminal import shown_path
from ..verify.report import FAILED
from . import arcfile, wacz, warcfile
from .findings import CheckReport, FileFindings
from .record import FileResult, Listing
from .stream import GZIP_MAGIC

WARC, ARC, WACZ = "warc", "arc", "wacz"
PARALLEL_BYTES = 16 * 1024 * 1024  # a gzip WARC this large is read in parts, in parallel


@dataclass
class Checked:
    """One file: what it is, its report, and what was read of it (for import)."""

    path: Path
    kind: str
    report: CheckReport
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


def check_file(path: Path, *, name: str | None = None, keep_sha256: bool = False,
               report: CheckReport | None = None, listing: bool | None = None) -> Checked:
    """Check one file, adding to ``report`` (a new one when None). ``keep_sha256`` (for
    import) keeps each record's block and payload sha256, and its records in a listing
    on disk (``listing`` says otherwise when given)."""
    name = name or shown_path(path)
    if not path.is_file():
        raise UsageError("no such file", where=name)
    keep = keep_sha256 if listing is None else listing
    with open(path, "rb") as fh:
        head, inflated = _first_bytes(fh)
    kind = sniff(head, inflated)
    report = report if report is not None else CheckReport(name)
    if kind is None:
        report.add("file", name, FAILED, f"not a WARC, ARC or WACZ file (begins {head[:16]!r})")
        return Checked(path, "unknown", report)
    checked = Checked(path, kind, report)
    if kind == WACZ:
        _check_wacz(path, name, checked, keep_sha256, keep)
        return checked
    gzipped = head.startswith(GZIP_MAGIC)
    if gzipped and not path.name.endswith(".gz"):
        report.note(f"{name}: gzip-compressed, though its name does not end in .gz")
    findings = FileFindings(report, name, warc=kind == WARC, listing=Listing() if keep else None)
    result = None
    if kind == WARC and gzipped:
        result = _in_parts(path, keep_sha256, findings)
    if result is None:
        with open(path, "rb") as fh:
            reader = warcfile.check if kind == WARC else arcfile.check
            result = reader(fh, gzipped=gzipped, keep_sha256=keep_sha256, sink=findings)
    findings.close(result)
    checked.files[""] = result
    return checked


def _in_parts(path: Path, keep_sha256: bool, findings: FileFindings) -> FileResult | None:
    """A large gzip WARC read in parts by worker processes, each from the first member
    after its part's start, its records spooled to disk. The parts stand for the file
    only when they meet end to end from its first byte to its last and every member
    holds one whole record: their records are then handed to ``findings`` in order.
    Otherwise (None) the file is read through in one pass, which places every problem."""
    from functools import partial

    from ..verify.pool import Pool, default_workers

    size = path.stat().st_size
    workers = default_workers()
    if size < PARALLEL_BYTES or not workers:
        return None
    count = workers * 16
    bounds = [size * i // count for i in range(count + 1)]
    with scratch.folder("custody-check-") as folder:  # a kill -9's goes with the next
        jobs = [partial(warcfile.check_range, path, bounds[i], bounds[i + 1], keep_sha256,
                        str(folder)) for i in range(count)]
        with Pool(jobs, workers) as pool:
            parts = [pool.result(i) for i in range(count)]
        at, spools = 0, []
        for part in parts:
            if part is None:
                continue
            begin, stopped, spool, records, well = part
            if begin != at or not well:
                return None
            spools.append((spool, records))
            at = stopped
        if at != size:
            return None
        result = FileResult("gzip, one record per member")
        for spool, records in spools:
            for record in warcfile.read_spool(spool, records):
                result.count += 1
                findings(record)
            Path(spool).unlink()
    return result


def _check_wacz(path: Path, name: str, checked: Checked, keep_sha256: bool,
                keep: bool) -> None:
    report = checked.report
    package_result, package = wacz.check(path, name, report)
    for note in package_result.notes:
        report.note(note)
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
                findings = FileFindings(report, subject, warc=kind == WARC,
                                        listing=Listing() if keep else None)
                with package.open(entry) as fh:
                    reader = warcfile.check if kind == WARC else arcfile.check
                    try:
                        result = reader(fh, gzipped=head.startswith(GZIP_MAGIC),
                                        keep_sha256=keep_sha256, sink=findings)
                    except (zipfile.BadZipFile, OSError, EOFError) as exc:
                        result = FileResult("unreadable")
                        result.fail(f"cannot be read from the ZIP ({exc})")
                findings.close(result)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                report.add("warc-file", subject, FAILED, f"cannot be read from the ZIP ({exc})")
                continue
            checked.files[entry] = result
