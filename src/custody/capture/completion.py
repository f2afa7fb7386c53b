"""The end of a capture: from a finished crawl to a sealed, indexed capture.

The steps, each a durable write after which a crash is harmless (faults.SEAL_STEPS
names them, and the tests kill custody after each one):

1. the sealing journal names the capture (journal.py): from here on, any later run
   completes it instead of leaving it to ``--resume``;
2. extraction catches up, and the last WARC file is renamed into place;
3. the manifest under a temporary name, its signature, its timestamps, SHA256SUMS;
4. the manifest's rename: the capture exists, and is never written again;
5. its ledger leaf, a checkpoint over the ledger (history, SSH signature, copy), its
   `captured` event in the custody log (seal.publish);
6. its rows in custody.db;
7. the crawl's working folder removed, or kept for ``--resume`` when URLs are left;
8. the journal entry removed.

A crash before 4 leaves nothing sealed: what step 3 wrote is discarded and the capture
sealed afresh from the crawl's state. A crash after 4 leaves a sealed capture whose
remaining steps are done by the next run, each only if it was not done. Meanwhile
verify reports the unfinished steps as notes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .. import __version__
from ..core import faults
from ..core.archive import Archive
from ..extract.workers import Extractor, describable, extractable
from ..index import db
from ..seal import journal, manifest
from ..seal.collector import iso
from ..seal.history import History
from ..seal.recovery import publish_unfinished
from ..seal.sealing import seal
from .redact import write_credentials
from .settings import Settings
from .sink import WarcSeries
from .state import CrawlState
from .stats import Stats


@dataclass
class Result:
    capture_id: str
    manifest_path: Path
    status: str
    seeds: list[str]
    final_urls: dict[str, str]
    failures: list[dict[str, str]]
    resources: int
    documents: int
    stats: Stats | None = None
    stopped: str | None = None
    left: int = 0  # URLs still queued: `custody archive --resume` fetches them
    notes: list[str] = field(default_factory=list)


def crawls_dir(archive: Archive) -> Path:
    return archive.root / ".custody" / "crawls"


def warcinfo_fields(state: CrawlState, collector: dict[str, Any]) -> dict[str, str]:
    settings = Settings.from_json(state.meta("settings"))
    return {
        "software": f"custody/{__version__}",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "host": collector["host"],
        "operator": collector["operator"],
        "capture-id": state.meta("capture_id"),
        "seeds": " ".join(state.meta("seeds")),
        "settings": " ".join(f"{k}={v}" for k, v in settings.to_json().items()),
    }


def open_series(archive: Archive, state: CrawlState, collector: dict[str, Any]) -> WarcSeries:
    started = datetime.fromisoformat(state.meta("started_at").replace("Z", "+00:00"))
    settings = Settings.from_json(state.meta("settings"))
    return WarcSeries(archive, state, state.meta("capture_id"), started, settings.warc_size,
                      warcinfo_fields(state, collector))


def catch_up(extractor: Extractor, state: CrawlState) -> None:
    """Hand extraction the stored responses it has not given a result for (lost when a
    process was killed): it does them again, from the WARC."""
    for record in state.records(("response",)):
        if state.kept_unextracted(record["record_id"]):
            continue  # stored to be kept, not extracted (yt-dlp's own fetches)
        if (extractable(record) and not state.has_document(record["record_id"])) \
                or describable(record):
            extractor.submit(record)


def complete(archive: Archive, state: CrawlState, *, key: Ed25519PrivateKey,
             collector: dict[str, Any], series: WarcSeries | None = None,
             extractor: Extractor | None = None, stats: Stats | None = None) -> Result:
    """Seal and index the crawl whose state this is (its fetching is over); the caller
    holds the archive's writer lock."""
    capture_id = state.meta("capture_id")
    journal.begin(archive, capture_id, state.path.parent.name)
    faults.after("seal.journal")
    if series is None:
        series = open_series(archive, state, collector)
    if extractor is None:
        extractor = Extractor(archive.root)
        catch_up(extractor, state)
    state.begin()
    extractor.drain(state)  # before the WARC is renamed under the workers' feet
    state.commit()
    with archive.sealing():
        history = History.open(archive.root, write=True)
        if archive.shared is not None and not archive.mirrored:
            # another worker's seal a crash left unpublished (the store settles its own)
            publish_unfinished(archive, history, key=key, principal=collector["operator"])
        state.begin()
        if series.current is None and not state.warc_files():
            series.writer()  # a capture whose every fetch failed still has a WARC: its warcinfo
        series.close()  # (one interrupted after its files were whole gets no empty one more)
        state.commit()
        faults.after("seal.warc")
        result, head, sha256 = _seal(archive, history, state, key, collector, stats)
        database = db.open_writer(archive.db_path)
        try:
            db.index_capture(database, head, sha256, state.records(("response",)),
                             state.documents(), state.images())
        finally:
            database.close()
        faults.after("seal.database")
        finish_state(state, sealed_as=capture_id, left=result.left)
        faults.after("seal.crawl-state")
        journal.end(archive, capture_id)
    return result


def finish_state(state: CrawlState, *, sealed_as: str, left: int) -> None:
    """After sealing: remove the crawl's working folder, or, with URLs left to fetch, keep
    its frontier (what was seen) for `--resume` and forget what was sealed."""
    if left == 0:
        state.close()
        shutil.rmtree(state.path.parent, ignore_errors=True)
        return
    state.begin()
    state.set_meta("sealed_as", sealed_as)
    state.forget_output()
    state.commit()
    state.close()


def _seal(archive: Archive, history: History, state: CrawlState, key: Ed25519PrivateKey,
          collector: dict[str, Any], stats: Stats | None) -> tuple[Result, dict[str, Any], str]:
    capture_id = state.meta("capture_id")
    seeds = state.meta("seeds")
    settings = Settings.from_json(state.meta("settings"))
    final_urls = state.meta("final_urls", {s: s for s in seeds})
    stopped = state.meta("stopped")
    finished = datetime.now(UTC)
    failures = state.failures()
    responses = state.record_count("response")
    left = state.count("queued") + state.count("inflight")
    if stopped == "interrupted" and left:
        status = "interrupted"
    elif not responses:
        status = "failed"
    elif failures:
        status = "partial"
    else:
        status = "complete"
    answered = seed_errors(state, seeds, final_urls)
    if answered and status == "complete":  # sealed as sent, but not the page asked for
        status = "partial"
    sequence, previous = history.head()
    files = [{"path": f["path"], "bytes": f["bytes"], "sha256": f["sha256"]}
             for f in state.warc_files()]
    head = {
        "format": manifest.FORMAT,
        "capture_id": capture_id,
        "seed_url": seeds[0],
        "seed_urls": seeds,
        "final_url": final_urls.get(seeds[0], seeds[0]),
        "final_urls": final_urls,
        "started_at": state.meta("started_at"),
        "finished_at": iso(finished),
        "status": status,
        "stopped": stopped,
        "frontier_left": left,
        "continues": state.meta("continues"),
        "collector": collector,
        "settings": settings.to_json(),
        "warc_files": files,
        "failures": failures,
        "chain": {"sequence": sequence + 1, "previous_sha256": previous},
    }
    if state.meta("job"):  # a queue job: which one, and the worker that captured it
        head["job"] = state.meta("job")
    redactions = list(state.redactions())
    if redactions:  # the archivist's credentials: replaced in the WARC, kept aside
        head["redactions"] = write_credentials(archive.root, capture_id,
                                               state.meta("redaction_key"), redactions)
    lists = {
        "records": state.records(),
        "documents": (entry for entry, _ in state.documents()),
        "images": state.images(),
    }
    if settings.browser:  # what the browser did on each page: only browser captures say
        lists["visits"] = state.visits()
    if settings.media:  # what yt-dlp found on each page
        lists["media"] = state.media()
    sealed = seal(archive, history, capture_id, manifest.stream_bytes(head, lists),
                  [(f["path"], f["sha256"]) for f in files], key=key,
                  principal=collector["operator"], tsa=settings.tsa)
    notes = [f"{seed}: the server answered HTTP {code} (sealed as it was sent; the page "
             "itself was not there)" for seed, code in answered]
    notes += _document_notes(state)
    if settings.media:
        notes += _media_notes(state)
    notes += [f"{r['target_uri']}: response truncated ({r['truncated']}), stored as received"
              for r in state.records(("response",)) if r.get("truncated")]
    if not settings.tsa:
        notes.append("no RFC 3161 timestamp: no time-stamping authority is configured "
                     "(--tsa URL, or tsa in custody.toml), so the capture's time rests on "
                     "this machine's clock and the signature; `custody timestamp --tsa URL` "
                     "adds one later")
    elif not sealed.tokens:
        notes.append("no TSA answered (" + "; ".join(sealed.timestamp_errors)
                     + "): timestamp pending; `custody timestamp` asks again")
    if left:
        notes.append(f"{left} URLs not fetched ({stopped}); "
                     "`custody archive --resume` fetches them" if status == "interrupted"
                     else f"{left} URLs not fetched ({stopped})")
    result = Result(
        capture_id=capture_id, manifest_path=sealed.path, status=status, seeds=seeds,
        final_urls=final_urls, failures=failures, resources=responses,
        documents=sum(1 for _ in state.documents()), stats=stats, stopped=stopped,
        left=left if status == "interrupted" else 0, notes=notes,
    )
    return result, head, sealed.sha256


def seed_errors(state: CrawlState, seeds: list[str],
                final_urls: dict[str, str]) -> list[tuple[str, int]]:
    """The seeds whose last answer (after their redirects) was an HTTP error: 4xx, 5xx."""
    wanted = {final_urls.get(seed, seed): seed for seed in seeds}
    found: dict[str, int] = {}
    for record in state.records(("response",)):
        seed = wanted.get(str(record.get("target_uri")))
        code = record.get("http_status")
        if seed is not None and isinstance(code, int):
            found[seed] = code  # (the last answer to it, as retried)
    return [(seed, found[seed]) for seed in seeds if found.get(seed, 0) >= 400]


def _media_notes(state: CrawlState) -> list[str]:
    """What yt-dlp found, page by page, and (once) that ffmpeg was not there to merge."""
    notes = []
    unmerged = False
    for media in state.media():
        files = [f for f in media["files"] if f["role"] == "media"]
        if media.get("error"):
            notes.append(f"{media['page']}: yt-dlp failed: {media['error']}")
        elif not media.get("found"):
            notes.append(f"{media['page']}: yt-dlp found no media")
        else:
            title = f" \"{media['title']}\"" if media.get("title") else ""
            notes.append(f"{media['page']}: {len(files)} media file(s){title} "
                         f"({media.get('extractor') or 'yt-dlp'})")
        notes += [f"{media['page']}: {f['name']}: cut off "
                  + ("when the capture was stopped" if f["truncated"] == "unspecified"
                     else f"at the media {f['truncated']} limit") + ", stored as fetched"
                  for f in files if f.get("truncated")]
        unmerged = unmerged or (not media.get("merged", True) and len(files) > 1)
    if unmerged:
        notes.append("ffmpeg is not installed: video and audio that come apart were stored "
                     "as separate files, as fetched, and not merged")
    return notes


def _document_notes(state: CrawlState) -> list[str]:
    """What extraction noted of each document; of a page the browser rendered, which copy
    the note is about (the server's HTML often has no text when its scripts write it)."""
    documents = [doc for _, doc in state.documents()]
    rendered = {doc["url"] for doc in documents if doc.get("source") == "rendered"
                and doc.get("text_sha256") and not doc.get("note")}
    notes = []
    for doc in documents:
        if not doc.get("note"):
            continue
        if doc.get("source") == "rendered":
            notes.append(f"{doc['url']} (as rendered): {doc['note']}")
        elif doc["url"] in rendered:
            notes.append(f"{doc['url']} (as the server sent it): {doc['note']}; the rendered "
                         "page's text is kept")
        else:
            notes.append(f"{doc['url']}: {doc['note']}")
    return notes


def result_of(path: Path, notes: list[str]) -> Result:
    """What a sealed manifest says of its capture, as an archive run reports it."""
    content = manifest.read(path).content or {}
    records = content.get("records") or []
    status = content.get("status", "")
    left = content.get("frontier_left") or 0
    return Result(
        capture_id=content.get("capture_id", path.stem), manifest_path=path, status=status,
        seeds=content.get("seed_urls") or [], final_urls=content.get("final_urls") or {},
        failures=content.get("failures") or [],
        resources=sum(1 for r in records if r.get("type") == "response"),
        documents=len(content.get("documents") or []), stopped=content.get("stopped"),
        left=left if status == "interrupted" else 0, notes=notes)
