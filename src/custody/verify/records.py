"""Verification of a capture's WARC files against its manifest: each file's size and
sha256, that it holds exactly the sealed records at their places, and each record's
WARC header fields and block digest, recomputed from the file.

A file is read as jobs (see pool): one for its sha256, and its records in parts cut at
their sealed places, each part inflated and compared with the manifest's records on
its own. The parts stand for the file only when its sha256 is the sealed one and every
place held exactly one whole gzip member; in any other case -- an altered file, a part
that did not hold -- the file is walked member by member here, so that what changed
is found and located.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ..core.archive import Archive
from ..seal import manifest
from ..warc.scan import Member, contiguous, file_sha256, read_members, scan
from .report import FAILED, PASSED, UNCHECKED, Report

_MIN_PART = 256 * 1024  # smaller parts cost more in hand-over than they save
_MAX_PART = 64 * 1024 * 1024  # a worker whose parent was killed notices within a part
CheckRow = tuple[str, str, str, str, str | None]


@dataclass
class FilePlan:
    """One WARC file of a capture, and the numbers of the jobs that read it. Its records
    are read from the manifest when asked for, not held: an archive's manifests need not
    fit in memory together."""

    sealed: manifest.Sealed
    entry: dict[str, Any]  # the manifest's warc_files entry: path, bytes, sha256
    sha256_job: int | None = None  # None: no sealed layout to cut, walked here
    part_jobs: list[int] = field(default_factory=list)

    @property
    def capture_id(self) -> str:
        return self.sealed.capture_id

    @property
    def records(self) -> list[dict[str, Any]]:
        """The manifest's records in the file, by offset."""
        return records_of(self.sealed, self.entry["path"])


def records_of(sealed: manifest.Sealed, relpath: str) -> list[dict[str, Any]]:
    """The manifest's records in the file, by offset (laid out once while the manifest
    is held, see manifest.Sealed.derived)."""
    try:
        return list(warc_layout_of(sealed)[1].get(relpath, []))
    except ValueError:  # unreadable since it was planned: nothing to compare with
        return []


Layout = tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]


def warc_layout_of(sealed: manifest.Sealed) -> Layout:
    """manifest.warc_layout of the manifest, made once while it is held; ValueError as
    that raises it."""
    made = sealed.derived("warc_layout", _layout)
    if isinstance(made, ValueError):
        raise ValueError(str(made))
    return made


def _layout(content: dict[str, Any] | None) -> Any:
    try:
        return manifest.warc_layout(content)
    except ValueError as exc:
        return exc


def plan(archive: Archive, sealed: manifest.Sealed, add: Callable[[Any], int],
         part_size: int, summarize: bool = False,
         hashed: Mapping[Path, int] | None = None) -> list[FilePlan]:
    """The capture's files, with jobs added (``add`` returns a job's number) for those
    there to read whose sealed places follow one another from the start; a file whose
    sha256 is a job already (``hashed``: its number by path) is not hashed again.
    ValueError when the manifest's lists of files and records cannot be read."""
    known = hashed or {}

    def sha256_job(path: Path) -> int:
        number = known.get(path)
        return add(partial(file_sha256, path)) if number is None else number

    files, by_file = warc_layout_of(sealed)
    plans = []
    for relpath, entry in files.items():
        one = FilePlan(sealed, entry)
        plans.append(one)
        records = by_file.get(relpath, [])
        layout = [(r["offset"], r["length"]) for r in records]
        path = archive.root / relpath
        if entry.get("imported") and path.is_file():  # another tool's file: its sha256
            one.sha256_job = sha256_job(path)
            continue
        if not contiguous(layout) or not path.is_file():
            continue
        one.sha256_job = sha256_job(path)
        start, cut = 0, 0
        for i, (offset, length) in enumerate(layout):
            if offset + length - cut >= part_size or i == len(layout) - 1:
                one.part_jobs.append(add(partial(check_part, path, sealed, relpath, start,
                                                 i + 1, summarize)))
                start, cut = i + 1, offset + length
    return plans


def part_size(total_bytes: int, workers: int, smallest: int = _MIN_PART) -> int:
    """Parts small enough that each worker takes several -- text (slow to inflate) and
    photos (stored, quick) then fall to every worker alike -- and bounded."""
    if workers < 2:
        return _MAX_PART
    return min(_MAX_PART, max(smallest, total_bytes // (workers * 16)))


def check_part(path: Path, sealed: manifest.Sealed, relpath: str, start: int, stop: int,
               summarize: bool = False
               ) -> tuple[list[CheckRow], list[tuple[int, str | None]] | None, int] | None:
    """A job: the file's records ``start`` to ``stop`` at their sealed places, inflated
    and compared with the manifest, taking the file to be as sealed (its sha256 is
    checked on its own); their checks, the (offset, record id) found, and 0. None when a
    place does not hold one whole gzip member. ``summarize``: the checks that passed are
    counted (the third value), not sent, and the places found are None when they are the
    sealed ones -- so that what the parent holds does not grow with the archive."""
    cid = sealed.capture_id
    records = records_of(sealed, relpath)[start:stop]
    members = read_members(path, [(r["offset"], r["length"]) for r in records])
    if members is None:
        return None
    checks = [record_check(m, cid, relpath, r) for m, r in zip(members, records, strict=True)]
    places = [(m.offset, m.headers.get("WARC-Record-ID")) for m in members]
    if not summarize:
        return checks, places, 0
    kept = [c for c in checks if c[2] != PASSED]
    sealed_places = [(r["offset"], r["record_id"]) for r in records]
    return kept, None if places == sealed_places else places, len(checks) - len(kept)


def check_file(archive: Archive, one: FilePlan, result: Callable[[int], Any],
               report: Report) -> None:
    """The file's checks, from its jobs' results (``result`` hands one over) or, when
    they do not stand for the file, from a walk of it here."""
    cid, relpath = one.capture_id, one.entry["path"]
    path = archive.root / relpath
    if not path.is_file():
        report.add("warc-file", relpath, FAILED, "missing", cid)
        report.add("warc-records", relpath, UNCHECKED, "the file is missing", cid)
        return
    try:
        _check_file(path, one, result, report)
    except OSError as exc:
        report.add("warc-file", relpath, UNCHECKED, f"cannot be read: {exc.strerror or exc}", cid)
        report.add("warc-records", relpath, UNCHECKED, "the file cannot be read", cid)


def _check_imported(path: Path, one: FilePlan, result: Callable[[int], Any],
                    report: Report) -> None:
    """A file imported from another tool: sealed whole, by its size and sha256 (its
    records were checked by `custody check` when it was imported, and the manifest
    keeps that verdict); a change to any byte fails here."""
    cid, relpath, entry = one.capture_id, one.entry["path"], one.entry
    size, digest = result(one.sha256_job) if one.sha256_job is not None else \
        file_sha256(path)
    problems = []
    if size != entry["bytes"]:
        problems.append(f"{size} bytes, manifest says {entry['bytes']}")
    if digest != entry["sha256"]:
        problems.append(f"sha256 {digest}, manifest says {entry['sha256']} (the imported "
                        "file was changed; `custody check` on it shows where)")
    report.add("warc-file", relpath, FAILED if problems else PASSED, "; ".join(problems), cid)
    outcome = FAILED if problems else PASSED
    detail = "the file is not the one imported" if problems else \
        f"{len(one.records)} records listed; imported file, checked when it was imported"
    report.add("warc-records", relpath, outcome, detail, cid)


def _check_file(path: Path, one: FilePlan, result: Callable[[int], Any],
                report: Report) -> None:
    cid, relpath, entry = one.capture_id, one.entry["path"], one.entry
    if entry.get("imported"):
        _check_imported(path, one, result, report)
        return
    sealed_sha = str(entry["sha256"])
    parts: list[Any] = []
    records = one.records
    if one.sha256_job is not None:
        size, digest = result(one.sha256_job)
        if digest == sealed_sha and size == sum(r["length"] for r in records):
            parts = [result(n) for n in one.part_jobs]
    passed = 0
    present: list[tuple[int, str | None]] | None
    if parts and all(p is not None for p in parts) and \
            len({p[1] is None for p in parts}) == 1:
        # (None: each part's places are the sealed ones, which the parts did not send)
        present = None if parts[0][1] is None else \
            [place for _, places, _ in parts for place in places]
        rows = [row for checks, _, _ in parts for row in checks]
        passed = sum(n for _, _, n in parts)
        error = None
    else:  # altered, or not cut: walk it to find what changed, and where
        walked = scan(path, sealed_sha, [(r["offset"], r["length"]) for r in records])
        size, digest, error = walked.size, walked.sha256, walked.error
        present = [(m.offset, m.headers.get("WARC-Record-ID")) for m in walked.members]
        at = {m.offset: m for m in walked.members}
        rows = [record_check(at.get(r["offset"]), cid, relpath, r) for r in records]

    problems = []
    if size != entry["bytes"]:
        problems.append(f"{size} bytes, manifest says {entry['bytes']}")
    if digest != sealed_sha:
        problems.append(f"sha256 {digest}, manifest says {sealed_sha}")
    report.add("warc-file", relpath, FAILED if problems else PASSED, "; ".join(problems), cid)

    listed = [(r["offset"], r["record_id"]) for r in records]
    if present is None:
        present = listed
    if present == listed and error is None:
        report.add("warc-records", relpath, PASSED, f"{len(present)} records", cid)
    else:
        found = set(present)
        parts_text = [error] if error else []
        gone = [f"{rid} at {off}" for off, rid in listed if (off, rid) not in found]
        sealed_places = set(listed)
        extra = [f"{rid} at {off}" for off, rid in present if (off, rid) not in sealed_places]
        if gone:
            parts_text.append("not found where the manifest puts them: " + ", ".join(gone[:5]))
        if extra:
            parts_text.append("not in the manifest: " + ", ".join(extra[:5]))
        report.add("warc-records", relpath, FAILED, "; ".join(parts_text) or "order differs", cid)
    report.merge((rows, []))
    report.records_passed += passed


def record_check(member: Member | None, cid: str, relpath: str,
                 record: dict[str, Any]) -> CheckRow:
    """One record against its manifest entry, as a report row."""
    subject = f"{relpath}@{record['offset']} {record['record_id']}"
    if member is None:
        return ("record", subject, FAILED, "no readable record starts at this offset", cid)
    problems = []
    if member.length != record["length"] or member.member_sha256 not in (
            None, record["member_sha256"]):  # None: the whole file is as sealed
        problems.append("record bytes differ from the sealed ones")
    if member.error:
        problems.append(member.error)
    headers = member.headers
    for field_name, key in (("WARC-Record-ID", "record_id"), ("WARC-Type", "type"),
                            ("WARC-Target-URI", "target_uri")):
        if headers.get(field_name) != record.get(key):
            problems.append(f"WARC header {field_name} is {headers.get(field_name)!r}, "
                            f"manifest says {record.get(key)!r}")
    if headers.get("WARC-Block-Digest") != f"sha256:{record['block_sha256']}":
        problems.append("WARC-Block-Digest header differs from the manifest")
    if member.block_sha256 is not None and member.block_sha256 != record["block_sha256"]:
        problems.append(f"block sha256 is {member.block_sha256}, "
                        f"manifest says {record['block_sha256']} (HTTP headers or body changed)")
    return ("record", subject, FAILED if problems else PASSED, "; ".join(problems), cid)
