"""The database, rebuilt from the sealed captures alone: the manifests and WARC files.

Extraction reads each payload back from the WARC file, so a rebuilt database holds
the same rows as the one written during the capture (`custody reindex`), and a
capture sealed just before a crash is indexed by recovery (``index_sealed``). A whole
rebuild reads every manifest once, in chain order, one at a time, and extracts in a
pool of processes: linear in the archive, its memory that of one capture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..core.archive import Archive
from ..extract.sealed import SEALED_METADATA
from ..extract.workers import describable, document_entry, extract_record, extractable, image_of
from ..index import db
from . import manifest


def _documents_of(archive: Archive, records: list[dict[str, Any]],
                  sealed: list[dict[str, Any]] | None,
                  ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each document extracted again from its WARC record: those the manifest lists (a
    capture does not extract every record it could: the page as yt-dlp fetched it again,
    its subtitles as fetched), or every extractable record of a manifest that lists
    none. When its text is the one the manifest sealed, the metadata the manifest sealed
    with it (title, author, language...) and the extractor named there are kept: the
    database holds what was sealed, though a later custody would choose a title or name a
    language otherwise."""
    listed = None if sealed is None else {d.get("record_id") for d in sealed}
    kept = {d.get("record_id"): d for d in sealed or [] if isinstance(d.get("metadata"), dict)}
    for record in records:
        if (listed is None or record["record_id"] in listed) and extractable(record):
            doc = extract_record(archive.root, record)
            if doc is None:
                continue
            entry = kept.get(doc.record_id)
            if entry is not None and entry.get("text_sha256") == doc.text_sha256:
                for name in SEALED_METADATA:
                    if name in entry["metadata"]:
                        setattr(doc, name, entry["metadata"][name])
                doc.extractor = str(entry.get("extractor") or doc.extractor)
            yield document_entry(doc), doc.to_json()


def index_sealed(archive: Archive, database: Any, sealed: manifest.Sealed) -> None:
    content = sealed.content
    if content is None:
        return
    head = {k: v for k, v in content.items() if k not in ("records", "documents", "images")}
    pictured = content.get("images")  # as for documents: those listed, when they are
    shown = None if pictured is None else {i.get("record_id") for i in pictured}
    images = (image_of(archive.root, r) for r in content["records"]
              if (shown is None or r["record_id"] in shown) and describable(r))
    db.index_capture(database, head, sealed.sha256, content["records"],
                     _documents_of(archive, content["records"], content.get("documents")),
                     (image for image in images if image is not None))


def heal_index(archive: Archive, database: Any) -> list[str]:
    """Index sealed captures the database lacks: every manifest is read (a database
    removed or made by hand; recovery calls this only when the database's count of
    captures says it lacks some)."""
    known = db.capture_ids(database)
    healed = []
    for path in manifest.paths(archive.manifests_dir):
        if path.stem in known:
            continue
        sealed = manifest.read(path)
        if sealed.content is not None:
            index_sealed(archive, database, sealed)
            healed.append(sealed.capture_id)
    return healed


def rebuild(archive: Archive, path: Any) -> int:
    """A new database at ``path`` holding every sealed capture; how many. Read in the
    ledger's order, one manifest at a time, then any sealed manifest the ledger lacks."""
    from .ledger import Ledger
    from .log_events import catch_up

    database = db.connect(path)
    count = 0
    seen = set()
    try:
        for leaf in Ledger(archive.manifests_dir).iter_leaves():
            seen.add(leaf.capture_id)
            count += _index_one(archive, database, leaf.capture_id)
        for found in manifest.paths(archive.manifests_dir):
            if found.stem not in seen:
                count += _index_one(archive, database, found.stem)
        with database.conn:
            catch_up(archive.root, database.conn)
    finally:
        database.conn.close()
    return count


def _index_one(archive: Archive, database: Any, capture_id: str) -> int:
    try:
        sealed = manifest.read(manifest.manifest_path(archive.manifests_dir, capture_id))
    except OSError:
        return 0  # gone: verify says so
    if sealed.content is None:
        return 0
    index_sealed(archive, database, sealed)
    return 1
