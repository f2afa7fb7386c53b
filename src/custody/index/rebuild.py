"""The database, rebuilt from the sealed captures alone: the manifests and WARC files.

Extraction reads each payload back from the WARC file, so a rebuilt database holds
the same rows as the one written during the capture (`custody reindex`), and a
capture sealed just before a crash is indexed on the next run (``heal_index``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..core.archive import Archive
from ..extract.workers import describable, document_entry, extract_record, extractable, image_of
from ..seal import manifest
from . import db


def _documents_of(archive: Archive, records: list[dict[str, Any]],
                  ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for record in records:
        if extractable(record):
            doc = extract_record(archive.root, record)
            if doc is not None:
                yield document_entry(doc), doc.to_json()


def index_sealed(archive: Archive, database: Any, sealed: manifest.Sealed) -> None:
    content = sealed.content
    if content is None:
        return
    head = {k: v for k, v in content.items() if k not in ("records", "documents", "images")}
    images = (image_of(archive.root, r) for r in content["records"] if describable(r))
    db.index_capture(database, head, sealed.sha256, content["records"],
                     _documents_of(archive, content["records"]),
                     (image for image in images if image is not None))


def heal_index(archive: Archive, database: Any) -> list[str]:
    """Index sealed captures the database lacks (a crash between sealing and indexing)."""
    known = db.capture_ids(database)
    healed = []
    for sealed in manifest.read_all(archive.manifests_dir):
        if sealed.content is not None and sealed.capture_id not in known:
            index_sealed(archive, database, sealed)
            healed.append(sealed.capture_id)
    return healed
