"""Documents from stored responses, extracted beside the crawl on every core.

Each job names a response record; the worker reads the payload back from the WARC
file (never the live bytes) and returns the document. Where `custody archive` forked
its warm worker as it started (warm.py), that worker is the first of the workers;
otherwise small captures are extracted in-process, which is quicker than starting
workers, and past a handful of documents a process pool takes over. Either way
extraction keeps up with fetching without holding the crawl's loop. Jobs go to the
workers in batches while they are busy, one at a time when one may be idle, and the
crawl collects only those done.
"""

from __future__ import annotations

import os
import queue
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..core import faults
from ..core.processes import die_with_parent
from ..warc.payload import Payload, read_payload
from ..warc.records import partial_path
from . import content as extract
from .sealed import SEALED_METADATA
from .sources import MEDIA_FILE, MEDIA_INFO, POST, RENDERED

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

# Decoded (de-chunked, decompressed) bytes read back from a response for extraction or
# links. A larger body -- a gzip bomb, or a huge page -- is stored as sent, never inflated
# beyond this, and not extracted.
DECODE_LIMIT = 16 * 1024 * 1024
# what an extractor's name says when the body began after an interim answer or a line of
# white space in the head (warc.payload.final_head), or ended before the record did:
# there, custody before 2026-12-07 extracted the rest of the head, or what followed the
# body, with it, and a database rebuilt from its captures holds another text, honestly
REFRAMED = "body framed as an HTTP client frames it"
INLINE = 12  # documents extracted in-process before workers are started (no warm worker)
MAX_PENDING = 1000  # documents in flight before the crawl waits for extraction to catch up
# documents sent to a worker at once while the workers are busy: one message each way
# for several, where each took the crawl's process a pipe write and a pickling thread's
# turn
BATCH = 8




def open_shadow_roots(html: bytes) -> bytes:
    """What a shadow root shows is the page's text too: the DOM's ``<template
    shadowrootmode>`` elements, which extraction would skip as inert, become plain
    elements. Only the copy given to extraction changes; the record stays as rendered."""
    import lxml.html

    tree = lxml.html.fromstring(html)
    for template in tree.iter("template"):
        if template.get("shadowrootmode") is not None:
            template.tag = "div"
    return bytes(lxml.html.tostring(tree, encoding="utf-8"))


def _payload_type(record: dict[str, Any]) -> str | None:
    """The media type of a 2xx response's payload, or of a rendered DOM; None otherwise."""
    target = str(record.get("target_uri"))
    if record["type"] == "resource" and target.startswith(RENDERED):
        return "text/html"
    if record["type"] == "resource" and target.startswith(MEDIA_INFO):
        return extract.MEDIA_INFO_TYPE
    if record["type"] == "resource" and target.startswith(POST):
        return extract.POST_TYPE
    if record["type"] == "resource" and target.startswith(MEDIA_FILE):
        ctype = (record.get("payload_type") or "").split(";")[0].strip().lower()
        return ctype if ctype in extract.SUBTITLE_TYPES else None
    status = record.get("http_status")
    if record["type"] != "response" or status is None or not 200 <= status < 300:
        return None
    return (record.get("payload_type") or "").split(";")[0].strip().lower()


def page_url(record: dict[str, Any]) -> str:
    """The URL a record's text is the text of: the page's own, for a rendered DOM."""
    target = str(record["target_uri"])
    if target.startswith(MEDIA_FILE):
        return target.removeprefix(MEDIA_FILE).rpartition("#")[0]
    return target.removeprefix(RENDERED).removeprefix(MEDIA_INFO).removeprefix(POST)


def extractable(record: dict[str, Any]) -> bool:
    return _payload_type(record) in extract.EXTRACTABLE


def describable(record: dict[str, Any]) -> bool:
    """An image whose dimensions and capture date go into the database."""
    return _payload_type(record) in extract.IMAGE_TYPES


def image_of(root: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    payload = read_stored_payload(root, record)
    info = None if payload.exceeded else extract.image_info(payload.body)
    if info is None:
        return None
    return {"record_id": record["record_id"], "url": record["target_uri"], **info}


def read_stored_payload(root: Path, record: dict[str, Any]) -> Payload:
    """A record's payload from its WARC, which may be renamed from .partial as we look."""
    final = root / record["warc_path"]
    for path in (final, partial_path(final), final):
        try:
            return read_payload(path, record["offset"], DECODE_LIMIT)
        except FileNotFoundError:
            continue
    raise FileNotFoundError(f"{final} and its .partial are both gone")


def extract_record(root: Path, record: dict[str, Any]) -> extract.Document | None:
    """Extract one response, reading its payload back from the WARC."""
    rendered = str(record["target_uri"]).startswith(RENDERED)
    media = str(record["target_uri"]).startswith((MEDIA_INFO, MEDIA_FILE))
    post = str(record["target_uri"]).startswith(POST)
    header = "text/html; charset=utf-8" if rendered else record.get("payload_type") or ""
    ctype = _payload_type(record) or header.split(";")[0].strip().lower()
    payload = read_stored_payload(root, record)
    body = b"" if payload.exceeded else payload.body
    if rendered and b"shadowrootmode" in body:
        body = open_shadow_roots(body)
    doc = extract.extract(page_url(record), ctype, header, body)
    if doc is None:
        return None
    doc.record_id = record["record_id"]
    doc.source = ("rendered" if rendered else "media" if media else "post" if post
                  else "http")
    if payload.reframed:  # another text than custody before 2026-12-07 extracted: say so
        made, sep, named = doc.extractor.partition(";")
        doc.extractor = f"{made.rstrip()}, {REFRAMED}{sep}{named}"
    notes = [doc.note, payload.error]
    if payload.past_end:
        notes.append(f"{payload.past_end} bytes after the body's end (its Content-Length) "
                     "are kept in the record, not extracted")
    if payload.exceeded:
        notes = [f"decoded body exceeds {DECODE_LIMIT} bytes (a gzip bomb?); not extracted"]
    doc.note = "; ".join(n for n in notes if n) or None
    return doc


def document_entry(doc: extract.Document) -> dict[str, Any]:
    """What the manifest says of a document."""
    return {"record_id": doc.record_id, "url": doc.url, "text_sha256": doc.text_sha256,
            "extractor": doc.extractor,
            "metadata": {name: getattr(doc, name) for name in SEALED_METADATA}}


Result = tuple[str, dict[str, Any], dict[str, Any]] | None


def _job(root: str, record: dict[str, Any]) -> Result:
    if describable(record):
        image = image_of(Path(root), record)
        return None if image is None else ("image", image, {})
    doc = extract_record(Path(root), record)
    return None if doc is None else ("document", document_entry(doc), doc.to_json())


def extract_batch(root: str, records: list[dict[str, Any]]) -> list[Result]:
    """Records extracted one after another: a pool worker's and the warm worker's job."""
    faults.after("extract.worker-batch")  # (a test's stand-in for the OOM killer)
    return [_job(root, record) for record in records]


class DocumentStore(Protocol):
    def add_document(self, record_id: str, entry: dict[str, Any],
                     document: dict[str, Any]) -> None: ...

    def add_image(self, image: dict[str, Any]) -> None: ...


class Warm(Protocol):
    """What the extractor asks of a worker made ready beside the crawl (warm.py)."""

    def accepts(self) -> bool: ...

    def submit(self, root: str, records: list[dict[str, Any]]) -> Future[list[Result]]: ...

    @property
    def asked(self) -> int: ...

    def close(self) -> None: ...


class Extractor:
    def __init__(self, root: Path, workers: int | None = None,
                 warm: Warm | None = None) -> None:
        """``warm``: a worker made ready beside the crawl (warm.py): the first of the
        ``workers``, sent the first documents as they are stored."""
        self.root = root
        self.warm = warm
        # one core stays with the crawl itself (fetching, writing the WARC, the frontier)
        self.workers = workers or max(1, (os.cpu_count() or 1) - 1)
        self._pool: ProcessPoolExecutor | None = None
        self._inline: list[dict[str, Any]] = []
        self._batch: list[dict[str, Any]] = []  # for the workers, not sent yet
        # each batch sent: its records, and whether the warm worker has it; finished ones
        # are put in _done by the pool's or the warm worker's thread, so that poll() takes
        # what is done without looking at what is not (concurrent.futures.wait locked
        # every pending future, each time)
        self._sent: dict[Future[list[Result]], tuple[list[dict[str, Any]], bool]] = {}
        self._broken = False  # a worker died: the pool is started again before it is used
        self._done: queue.SimpleQueue[Future[list[Result]]] = queue.SimpleQueue()
        self._waiting = 0  # records sent whose results are not stored yet
        self._submitted = 0

    def submit(self, record: dict[str, Any]) -> None:
        self._submitted += 1
        if self._submitted <= INLINE and not self._warm():
            self._inline.append(record)  # extracted here, unless the capture goes on
            return
        self._batch.append(record)
        if self._inline:  # more than a handful: the workers take over
            self._batch, self._inline = self._inline + self._batch, []
        if len(self._batch) >= BATCH or self._idle():
            self._send()

    def _warm(self) -> bool:
        return self.warm is not None and self.warm.accepts()

    def _start(self) -> ProcessPoolExecutor:
        # imported here: a capture of a few pages, extracted in-process, needs none of it
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the crawl runs threads, and a forked copy of their locks hangs
        context = multiprocessing.get_context("spawn")
        size = max(1, self.workers - self._warm())  # the warm worker is one of them
        return ProcessPoolExecutor(size, mp_context=context,
                                   initializer=die_with_parent, initargs=(os.getpid(),))

    def _pool_now(self) -> ProcessPoolExecutor:
        """The pool, started again if a worker died (one dead worker breaks the pool)."""
        if self._pool is None or self._broken:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool, self._broken = self._start(), False
        return self._pool

    def _idle(self) -> bool:
        """A worker may have nothing to do: batches out, less those finished, are fewer
        than the workers."""
        return len(self._sent) - self._done.qsize() < self.workers

    def _send(self) -> None:
        from concurrent.futures.process import BrokenProcessPool

        for start in range(0, len(self._batch), BATCH):
            records = self._batch[start:start + BATCH]
            # the warm worker while it is alive, unless it has work and others are free
            warm = self.warm if self._warm() else None
            to_warm = warm is not None and (self.workers == 1 or warm.asked < 2)
            if warm is not None and to_warm:
                future = warm.submit(str(self.root), records)
            else:
                try:
                    future = self._pool_now().submit(extract_batch, str(self.root), records)
                except BrokenProcessPool:  # a worker died since the last look: a new pool
                    self._broken = True
                    future = self._pool_now().submit(extract_batch, str(self.root), records)
            self._sent[future] = records, to_warm
            self._waiting += len(records)
            future.add_done_callback(self._done.put)
        self._batch = []

    def poll(self, store: DocumentStore) -> None:
        """Store what is done; wait only when too much is waiting."""
        while self._sent:
            try:
                future = self._done.get(block=self._waiting > MAX_PENDING)
            except queue.Empty:
                break
            self._take(store, future)
        if self._batch and self._idle():
            self._send()  # a crawl slower than extraction: do not keep a worker waiting

    def drain(self, store: DocumentStore) -> None:
        # a capture of a few documents is extracted here, at the end: starting workers
        # would take longer than the extraction itself
        for record in self._inline:
            self._store(store, _job(str(self.root), record))
        self._inline.clear()
        if self._batch:
            self._send()
        while self._sent:
            self._take(store, self._done.get())
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self.warm is not None:  # its models would stay in memory for nothing
            self.warm.close()
            self.warm = None

    def _take(self, store: DocumentStore, future: Future[list[Result]]) -> None:
        from concurrent.futures.process import BrokenProcessPool

        records, warm = self._sent.pop(future)
        self._waiting -= len(records)
        try:
            results = future.result()
        except BrokenProcessPool:  # the warm worker's, here, as they would have been
            results = [_job(str(self.root), r) for r in records] if warm else \
                self._again(records)
        for result in results:
            self._store(store, result)

    def _again(self, records: list[dict[str, Any]]) -> list[Result]:
        """A worker died under these records (the OOM killer, say), and broke the pool:
        each is extracted again alone, in a pool started again; one whose worker dies
        too is extracted here, so that its document is what extraction gives, whatever
        killed a worker."""
        from concurrent.futures.process import BrokenProcessPool

        self._broken = True
        results: list[Result] = []
        for record in records:
            try:
                results += self._pool_now().submit(extract_batch, str(self.root),
                                                   [record]).result()
            except BrokenProcessPool:
                self._broken = True
                results.append(_job(str(self.root), record))
        return results

    @staticmethod
    def _store(store: DocumentStore, result: Result) -> None:
        if result is None:
            return
        kind, entry, document = result
        if kind == "image":
            store.add_image(entry)
        else:
            store.add_document(entry["record_id"], entry, document)
