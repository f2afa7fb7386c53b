"""`custody import`: a file from another tool, checked, copied byte for byte into
``archive/imported/<capture id>/``, sealed in a manifest of its own (what was imported,
from where, its sha256, when, by whom, and the verdict of `custody check`), appended to
the ledger, and its pages extracted and indexed beside custody's own captures.

Everything is decided before anything is written: the file's bytes are not held already
(the same sha256), it passes `check` (or --accept-damaged), and its records are not all
held already in other containers (a WACZ that packs a WARC imported before, the same
WARC gzipped otherwise, custody's own export brought back: refused unless
--allow-overlap, and a partial overlap is imported with the overlap listed). Then the
seal goes through the sealing journal (kind ``import``), as a capture's does: the copy,
the manifest and what vouches for it, the ledger, the log (`captured`, then `imported`),
the database; a crash anywhere is completed by the next command that writes (or, before
the manifest, undone: the copy is removed, and the import runs again when asked).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..check.run import Checked, check_file
from ..check.wacz import is_package
from ..core import faults
from ..core.archive import Archive
from ..core.capture_ids import new_capture_id
from ..core.config import load as load_config
from ..core.terminal import path_text, shown_path
from ..extract.workers import Extractor, describable, extractable
from ..index import db
from ..seal import journal, manifest
from ..seal.collector import collector_of, iso
from ..seal.history import History
from ..seal.recovery import log_imported
from ..seal.sealing import seal
from ..verify.report import FAILED, PASSED
from .held import Overlap, overlap, same_file
from .records import entries, responses
from .spool import Spool

IMPORTED_DIR = "imported"
_LISTED_PROBLEMS = 200  # the verdict's problems the manifest lists (all are counted)


@dataclass
class Imported:
    source: Path
    status: str  # imported, already, refused
    capture_id: str | None = None
    verdict: str | None = None
    message: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    documents: int = 0
    records: int = 0


class _Store:
    """Extraction's results: the documents to a spool on disk, the images (a line each)
    held."""

    def __init__(self, documents: Spool) -> None:
        self.documents = documents
        self.images: list[dict[str, Any]] = []

    def add_document(self, record_id: str, entry: dict[str, Any],
                     document: dict[str, Any]) -> None:
        self.documents.add([entry, document])

    def add_image(self, image: dict[str, Any]) -> None:
        self.images.append(image)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def import_file(archive: Archive, source: Path, *, key: Ed25519PrivateKey,
                accept_damaged: bool = False, allow_overlap: bool = False) -> Imported:
    """Import one file (the caller holds the writer's lock, and has recovered).

    The file is copied first, into the archive's working folder, and everything after
    reads that copy: its check, its records, and the file sealed are the same bytes,
    whatever is done to the source meanwhile (read three times, a source swapped between
    the check and the copy was sealed with another file's verdict and records)."""
    timings: dict[str, float] = {}
    start = perf_counter()
    sha256 = file_sha256(source)
    earlier = same_file(archive, sha256)
    if earlier is not None:
        return Imported(source, "already", earlier, message=f"already in the archive, a file "
                        f"of capture {earlier} (the same bytes): nothing done")
    timings["hash"] = perf_counter() - start
    faults.after("import.hashed")
    work = archive.root / ".custody" / "imports"
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob("*.copy"):  # an import killed before its copy was placed
        stale.unlink(missing_ok=True)
    copy = work / f"{os.urandom(8).hex()}.copy"
    try:
        start = perf_counter()
        if not _copy(source, copy, sha256):
            return Imported(source, "refused", message=(
                "the file changed while it was imported (its bytes are no longer those "
                "hashed): not imported; import it again once nothing writes it"))
        timings["copy"] = perf_counter() - start
        return _import_copy(archive, source, copy, sha256, timings, key=key,
                            accept_damaged=accept_damaged, allow_overlap=allow_overlap)
    finally:
        copy.unlink(missing_ok=True)


def _import_copy(archive: Archive, source: Path, copy: Path, sha256: str,
                 timings: dict[str, float], *, key: Ed25519PrivateKey, accept_damaged: bool,
                 allow_overlap: bool) -> Imported:
    start = perf_counter()
    checked = check_file(copy, name=shown_path(source), keep_sha256=True)
    timings["check"] = perf_counter() - start
    verdict = checked.status
    if checked.kind not in ("warc", "arc", "wacz") or \
            (checked.kind == "wacz" and not is_package(copy)):
        return Imported(source, "refused", verdict=verdict,
                        message="not a WARC, ARC or WACZ file: not imported")
    if verdict == FAILED and not accept_damaged:
        first = next(c for c in checked.report.checks if c.outcome == FAILED)
        return Imported(source, "refused", verdict=verdict, message=(
            f"fails check ({checked.report.count(FAILED)} problems; first: {first.subject}: "
            f"{first.detail}): not imported (`custody check` lists them; --accept-damaged "
            "imports it with its verdict recorded)"))
    started = datetime.now(UTC)
    capture_id = new_capture_id(started)
    folder = archive.archive_dir / IMPORTED_DIR / capture_id
    target = folder / _safe_name(source.name)
    relpath = archive.relative(target)
    work = archive.root / ".custody" / "imports"
    with Spool(work) as records, Spool(work) as documents:
        left_out = entries(checked, relpath, records)
        held = overlap(archive, responses(checked))
        if held.count and held.count >= held.checked and not allow_overlap:
            return Imported(source, "refused", verdict=verdict, message=(
                f"all {held.checked} of its response records are in the archive already, in "
                f"{held.describe()}: not imported (--allow-overlap imports it, the overlap "
                "recorded in its manifest)"))
        faults.after("import.checked")
        journal.begin(archive, capture_id, kind=journal.IMPORT, source=path_text(source))
        _place(copy, target)
        faults.after("import.copy")
        start = perf_counter()
        store = _Store(documents)
        extractor = Extractor(archive.root, workers=os.cpu_count() or 1)
        for record in records:
            if extractable(record) or describable(record):
                extractor.submit(record)
        extractor.drain(store)
        timings["extract"] = perf_counter() - start
        start = perf_counter()
        collector = collector_of(archive, key)
        lists: dict[str, Iterable[dict[str, Any]]] = {
            "records": records, "documents": (entry for entry, _ in documents),
            "images": store.images}
        with archive.sealing():
            history = History.open(archive.root, write=True)
            head = _head(archive, checked, capture_id, started, collector, relpath, sha256,
                         source, records, left_out, accept_damaged, history.head(), held)
            sealed = seal(archive, history, capture_id, manifest.stream_bytes(head, lists),
                          [(relpath, sha256)], key=key, principal=collector["operator"],
                          tsa=load_config(archive.root).tsa)
            log_imported(archive, history, sealed.path, key=key,
                         principal=collector["operator"])
        timings["seal"] = perf_counter() - start
        start = perf_counter()
        with archive.sealing():
            database = db.open_writer(archive.db_path)
            try:
                db.index_capture(database, head, sealed.sha256, records,
                                 (tuple(pair) for pair in documents), store.images)
            finally:
                database.close()
            faults.after("seal.database")
            journal.end(archive, capture_id)
        timings["index"] = perf_counter() - start
        listed, found = records.count, documents.count
    notes = [f"{left_out} records not reachable by offset are not indexed"] if left_out else []
    if held.count:
        notes.append(f"{held.count} of its {held.checked} response records are in the "
                     f"archive already ({held.describe()}): recorded in its manifest")
    if held.differing:
        notes.append(f"{held.differing} of its response records have the WARC-Record-ID of "
                     "a record the archive holds, with another payload: not copies of them "
                     "(recorded in its manifest)")
    return Imported(source, "imported", capture_id, verdict,
                    f"imported as {capture_id} ({verdict} check)" +
                    "".join(f"; {n}" for n in notes), timings, found, listed)


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".")
    return cleaned or "imported"


def _copy(source: Path, copy: Path, sha256: str) -> bool:
    """Byte for byte, durably: the copy must hash to what was hashed (False, and no copy,
    where it does not: the file changed)."""
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(copy, "wb") as out:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != sha256:
        copy.unlink()
        return False
    os.chmod(copy, 0o444)  # sealed: read-only, never the source's mode (set-id bits)
    return True


def _place(copy: Path, target: Path) -> None:
    """The checked copy moved to its place in archive/ (the same file system), durably."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(copy, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _head(archive: Archive, checked: Checked, capture_id: str, started: datetime,
          collector: dict[str, Any], relpath: str, sha256: str, source: Path,
          listed: Spool, left_out: int, accept_damaged: bool,
          chain: tuple[int, str | None], held: Overlap) -> dict[str, Any]:
    sequence, previous = chain
    page = next((r for r in listed if r["type"] == "response" and r.get("http_status") and
                 200 <= r["http_status"] < 300 and r.get("target_uri")), None)
    seed = page["target_uri"] if page else source.resolve().as_uri()
    report = checked.report
    problems = [f"{c.outcome}: {c.check} {c.subject}: {c.detail}" for c in report.checks
                if c.outcome != PASSED]
    verdict = {"status": report.status, "format": checked.kind,
               "summary": {o: report.count(o) for o in ("passed", "failed", "unchecked")},
               "problems": problems[:_LISTED_PROBLEMS],
               "problems_total": report.count(FAILED) + report.count("unchecked"),
               "notes": report.notes[:_LISTED_PROBLEMS]}
    size = (archive.root / relpath).stat().st_size
    return {
        "format": manifest.FORMAT,
        "capture_id": capture_id,
        "kind": "import",
        "seed_url": seed,
        "seed_urls": [seed],
        "final_url": seed,
        "final_urls": {seed: seed},
        "started_at": iso(started),
        "finished_at": iso(datetime.now(UTC)),
        "status": "imported" if report.status != FAILED else "imported-damaged",
        "collector": collector,
        "settings": {"import": True, "accept_damaged": accept_damaged},
        "warc_files": [{"path": relpath, "bytes": size, "sha256": sha256, "imported": True}],
        "imported": [{
            "path": relpath, "source": path_text(source.resolve()),
            "source_name": path_text(source.name),
            "sha256": sha256, "bytes": size, "imported_at": iso(started),
            "imported_by": {"operator": collector["operator"],
                            "key_fingerprint": collector["key_fingerprint"],
                            "host": collector["host"]},
            "check": verdict,
            "records_listed": listed.count, "records_not_listed": left_out,
            **({"overlap": held.to_json()} if held.count or held.differing else {}),
        }],
        "failures": [],
        "chain": {"sequence": sequence + 1, "previous_sha256": previous},
    }

