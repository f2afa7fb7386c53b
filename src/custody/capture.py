"""A capture, start to finish: crawl into WARC files, extract from them, seal, index.

The order on disk is what makes a crash harmless. WARC files are written under a
``.partial`` name and renamed when complete; the crawl's state (frontier,
records, documents) lives in ``.custody/crawls/<capture-id>/``, committed only
after the bytes it describes are flushed. Sealing writes the signature and
SHA256SUMS, and last the manifest, whose appearance is the moment the capture
exists. Anything without a manifest is an unsealed leftover that verify notes
but never mistakes for evidence, and ``custody archive --resume`` picks it up.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import signal
import socket
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import __version__, db, extract, manifest, signing
from .crawl import Crawl, Rules, Stats
from .errors import NotFound
from .extraction import (
    DECODE_LIMIT,
    Extractor,
    describable,
    document_entry,
    extract_record,
    extractable,
    image_of,
    read_stored_payload,
)
from .fetch import Exchange, Fetcher
from .frontier import CrawlState, Target
from .guard import AddressGuard
from .links import Links, css_links, html_links
from .root import Archive
from .seal import heal_ledger, seal
from .warc import WarcWriter, read_payload, warc_date, warcinfo_block


@dataclass
class Settings:
    requisites: bool = True
    timeout: float = 30.0
    concurrency: int = 8
    delay: float = 0.0
    depth: int = 0
    scope: str = "host"
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    max_pages: int | None = None
    max_bytes: int | None = None
    time_limit: float | None = None
    retries: int = 2
    respect_robots: bool = False
    allow_private: bool = False
    warc_size: int = 1_000_000_000
    user_agent: str = f"custody/{__version__} (+evidence archiver)"
    tsa: list[str] = field(default_factory=list)
    ca_bundle: str | None = None
    insecure: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def rules(self) -> Rules:
        import re

        return Rules(
            depth=self.depth, scope=self.scope,
            include=[re.compile(p) for p in self.include],
            exclude=[re.compile(p) for p in self.exclude],
            requisites=self.requisites, max_pages=self.max_pages, time_limit=self.time_limit,
            concurrency=self.concurrency, delay=self.delay, retries=self.retries,
            respect_robots=self.respect_robots,
        )


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


def new_capture_id(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def crawls_dir(archive: Archive) -> Path:
    return archive.root / ".custody" / "crawls"


# -- writing the WARC files ------------------------------------------------------------------


class WarcSeries:
    """The capture's WARC files: a new one whenever the current one passes ``max_size``."""

    def __init__(self, archive: Archive, state: CrawlState, capture_id: str, started: datetime,
                 max_size: int, warcinfo: dict[str, str]) -> None:
        self.archive, self.state, self.capture_id = archive, state, capture_id
        self.folder = f"archive/{started:%Y}/{started:%m}"
        self.max_size = max_size
        self.warcinfo = warcinfo
        self.current: WarcWriter | None = None
        for entry in state.warc_files():
            if not entry["complete"]:  # interrupted: continue it after its last committed record
                self.current = WarcWriter(archive.root, entry["path"],
                                          resume_at=state.committed_end(entry["path"]))

    def writer(self) -> WarcWriter:
        if self.current is not None and self.current.size >= self.max_size:
            self.close()
        if self.current is None:
            number = len(self.state.warc_files())
            relpath = f"{self.folder}/{self.capture_id}-{number:05d}.warc.gz"
            self.current = WarcWriter(self.archive.root, relpath)
            self.state.add_warc(relpath)
            entry = self.current.write(
                "warcinfo", warcinfo_block(self.warcinfo), target_uri=None,
                content_type="application/warc-fields",
                headers=[("WARC-Filename", Path(relpath).name)])
            self.state.add_record(entry.to_json())
        return self.current

    def close(self) -> None:
        if self.current is not None:
            done = self.current.close()
            self.state.complete_warc(done.path, done.bytes, done.sha256)
            self.current = None


class _WarcSink:
    """Writes each exchange as request/response (and TLS metadata) records."""

    def __init__(self, series: WarcSeries, state: CrawlState, extractor: Extractor) -> None:
        self.series, self.state, self.extractor = series, state, extractor

    def poll(self) -> None:
        self.extractor.poll(self.state)

    def _write(self, writer: WarcWriter, rec_type: str, block: Any,
               **kwargs: Any) -> dict[str, Any]:
        entry = writer.write(rec_type, block, **kwargs).to_json()
        self.state.add_record(entry)
        return entry

    def store(self, exchange: Exchange, target: Target) -> Links | None:
        date = warc_date(exchange.started_at)
        writer = self.series.writer()  # an exchange's records stay together in one file
        if not exchange.ok or exchange.response is None:
            block = warcinfo_block(
                {"fetch-error": exchange.error_kind or "network", "reason": exchange.error or ""}
            )
            self._write(writer, "metadata", block, target_uri=exchange.url, date=date,
                        content_type="application/warc-fields")
            return None
        extra = [("WARC-Truncated", exchange.truncated)] if exchange.truncated else []
        response = self._write(
            writer, "response", exchange.response, target_uri=exchange.url, date=date,
            content_type="application/http; msgtype=response", headers=extra,
            http_status=exchange.status, ip=exchange.ip,
            payload_type=exchange.headers.get("content-type"),
        )
        concurrent = [("WARC-Concurrent-To", response["record_id"])]
        self._write(writer, "request", exchange.request_bytes, target_uri=exchange.url,
                    date=date, content_type="application/http; msgtype=request",
                    headers=concurrent, ip=exchange.ip)
        if exchange.tls_chain:
            self._write(
                writer, "metadata", _pem_chain(exchange.tls_chain), target_uri=exchange.url,
                date=date, content_type="application/pem-certificate-chain",
                headers=[*concurrent, ("WARC-TLS-Version", exchange.tls_version or ""),
                         ("WARC-TLS-Cipher", exchange.tls_cipher or "")],
            )
        if extractable(response) or describable(response):
            self.extractor.submit(response)
        return self._links(writer, response, exchange)

    def links_of(self, record: dict[str, Any]) -> Links | None:
        """The links of a page stored earlier, read back from its WARC record."""
        ctype = (record.get("payload_type") or "").split(";")[0].strip().lower()
        status = record.get("http_status") or 0
        if ctype not in extract.HTML_TYPES or not 200 <= status < 300:
            return None
        payload = read_stored_payload(self.series.archive.root, record)
        if payload.error or payload.exceeded:
            return None
        charset = extract.header_charset(record.get("payload_type") or "") or "utf-8"
        try:
            text = payload.body.decode(charset, errors="replace")
        except LookupError:
            text = payload.body.decode("utf-8", errors="replace")
        return html_links(text, record["target_uri"])

    def _links(self, writer: WarcWriter, response: dict[str, Any],
               exchange: Exchange) -> Links | None:
        ctype = exchange.content_type
        if exchange.status is None or not 200 <= exchange.status < 300:
            return None
        if ctype not in extract.HTML_TYPES and ctype != "text/css":
            return None  # images, PDFs, scripts...: stored, not parsed for links
        body = _decoded_entity(exchange)
        if body is None:  # too large to have been kept: read it back, within the bound
            payload = read_payload(writer.tmp_path, response["offset"], DECODE_LIMIT)
            if payload.error or payload.exceeded:
                return None
            body = payload.body
        charset = extract.header_charset(exchange.headers.get("content-type", "")) or "utf-8"
        try:
            text = body.decode(charset, errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        if ctype == "text/css":
            return Links(requisites=css_links(text, exchange.url))
        return html_links(text, exchange.url)


def _decoded_entity(exchange: Exchange) -> bytes | None:
    """The kept body with its content-encoding undone, never inflated past the bound."""
    if exchange.entity is None:
        return None
    encoding = exchange.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return exchange.entity
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return None
    wbits = 47 if encoding != "deflate" else 15  # 47: gzip or zlib header, detected
    try:
        inflater = zlib.decompressobj(wbits)
        body = inflater.decompress(exchange.entity, DECODE_LIMIT)
    except zlib.error:
        if encoding != "deflate":
            return None
        try:  # servers send raw deflate as often as zlib-wrapped
            inflater = zlib.decompressobj(-15)
            body = inflater.decompress(exchange.entity, DECODE_LIMIT)
        except zlib.error:
            return None
    return None if inflater.unconsumed_tail else body


def _pem_chain(chain: list[bytes]) -> bytes:
    import base64

    out = []
    for der in chain:
        b64 = base64.b64encode(der).decode()
        lines = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
        out.append(f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n")
    return "".join(out).encode()


# -- running a capture -------------------------------------------------------------------------


def start(archive: Archive, seeds: list[str], *, key: Ed25519PrivateKey, settings: Settings,
          on_progress: Callable[[Stats, int], None] | None = None) -> Result:
    """Capture the seeds (and what the settings say to follow) as one sealed capture."""
    with archive.lock():
        started = datetime.now(UTC)
        capture_id = new_capture_id(started)
        state = CrawlState(crawls_dir(archive) / capture_id / "state.db")
        state.begin()
        state.set_meta("capture_id", capture_id)
        state.set_meta("started_at", iso(started))
        state.set_meta("seeds", seeds)
        state.set_meta("settings", settings.to_json())
        state.set_meta("final_urls", {s: s for s in seeds})
        for seed in seeds:
            state.push(Target(seed, seed, "seed"))
        state.commit()
        return _run(archive, state, key, on_progress)


def resume(archive: Archive, *, key: Ed25519PrivateKey,
           on_progress: Callable[[Stats, int], None] | None = None) -> Result:
    """Continue the newest interrupted crawl without fetching again what it already has."""
    with archive.lock():
        candidates = sorted(crawls_dir(archive).glob("*/state.db"))
        if not candidates:
            raise NotFound("no interrupted crawl to resume", where=str(archive.root))
        state = CrawlState(candidates[-1])
        state.begin()
        state.requeue_inflight()
        if state.meta("sealed_as"):
            # interrupted and sealed as far as it got: the rest is a new capture
            started = datetime.now(UTC)
            state.set_meta("continues", state.meta("sealed_as"))
            state.set_meta("capture_id", new_capture_id(started))
            state.set_meta("started_at", iso(started))
            state.set_meta("sealed_as", None)
        state.commit()
        return _run(archive, state, key, on_progress)


def _collector(archive: Archive, key: Ed25519PrivateKey) -> dict[str, str]:
    public = key.public_key()
    return {
        "software": "custody",
        "version": __version__,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "operator": archive.principal_for(public) or "unknown",
        "key_fingerprint": signing.fingerprint(public),
    }


def _run(archive: Archive, state: CrawlState, key: Ed25519PrivateKey,
         on_progress: Callable[[Stats, int], None] | None) -> Result:
    capture_id = state.meta("capture_id")
    started = datetime.fromisoformat(state.meta("started_at").replace("Z", "+00:00"))
    settings = Settings(**state.meta("settings"))
    seeds: list[str] = state.meta("seeds")
    collector = _collector(archive, key)
    database = db.connect(archive.db_path)
    heal_ledger(archive, key=key, principal=collector["operator"])
    heal_index(archive, database)
    series = WarcSeries(archive, state, capture_id, started, settings.warc_size, {
        "software": f"custody/{__version__}",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "host": collector["host"],
        "operator": collector["operator"],
        "capture-id": capture_id,
        "seeds": " ".join(seeds),
        "settings": " ".join(f"{k}={v}" for k, v in settings.to_json().items()),
    })
    guard = AddressGuard({(Target(s, s, "seed").host) for s in seeds}, settings.allow_private)
    extractor = Extractor(archive.root)
    for record in state.records(("response",)):  # lost with a killed process: do them again
        if (extractable(record) and not state.has_document(record["record_id"])) \
                or describable(record):
            extractor.submit(record)
    with Fetcher(user_agent=settings.user_agent, timeout=settings.timeout,
                 max_body=settings.max_bytes, ca_bundle=settings.ca_bundle,
                 insecure=settings.insecure, max_connections=64, guard=guard) as fetcher:
        crawl = Crawl(fetcher, _WarcSink(series, state, extractor), state, settings.rules(),
                      on_progress=on_progress)
        with _graceful_interrupt(crawl):
            stats = crawl.run()
    state.begin()
    extractor.drain(state)  # before the WARC is renamed under the workers' feet
    series.writer()  # a capture whose every fetch failed still has a WARC: its metadata
    series.close()
    state.commit()
    result = _seal_from_state(archive, state, key, collector, settings, stats, crawl.final_urls,
                              database)
    database.conn.close()
    if result.left == 0:
        state.close()
        shutil.rmtree(state.path.parent, ignore_errors=True)
    else:
        state.begin()
        state.set_meta("sealed_as", capture_id)
        state.forget_output()
        state.commit()
        state.close()
    return result


class _graceful_interrupt:
    """First Ctrl-C (or SIGTERM): stop starting fetches and seal what was fetched.
    A second Ctrl-C stops at once; `custody archive --resume` carries on from there."""

    def __init__(self, crawl: Crawl) -> None:
        self.crawl = crawl
        self.previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.crawl._stopping:
            raise KeyboardInterrupt
        self.crawl.stop("interrupted")

    def __enter__(self) -> None:
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handler)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _seal_from_state(archive: Archive, state: CrawlState, key: Ed25519PrivateKey,
                     collector: dict[str, str], settings: Settings, stats: Stats,
                     final_urls: dict[str, str], database: Any) -> Result:
    capture_id = state.meta("capture_id")
    seeds = state.meta("seeds")
    finished = datetime.now(UTC)
    failures = state.failures()
    responses = state.record_count("response")
    left = state.count("queued") + state.count("inflight")
    if stats.stop_reason == "interrupted" and left:
        status = "interrupted"
    elif not responses:
        status = "failed"
    elif failures:
        status = "partial"
    else:
        status = "complete"
    sequence, previous = manifest.chain_head(archive.manifests_dir)
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
        "stopped": stats.stop_reason,
        "frontier_left": left,
        "continues": state.meta("continues"),
        "collector": collector,
        "settings": settings.to_json(),
        "warc_files": files,
        "failures": failures,
        "chain": {"sequence": sequence + 1, "previous_sha256": previous},
    }
    lists = {
        "records": state.records(),
        "documents": (entry for entry, _ in state.documents()),
    }
    sealed = seal(archive, capture_id, manifest.stream_bytes(head, lists),
                  [(f["path"], f["sha256"]) for f in files], key=key,
                  principal=collector["operator"], tsa=settings.tsa)
    path = sealed.path
    db.index_capture(database, head, sealed.sha256, state.records(("response",)),
                     state.documents(), state.images())
    notes = [f"{doc['url']}: {doc['note']}" for _, doc in state.documents() if doc.get("note")]
    notes += [f"{r['target_uri']}: response truncated ({r['truncated']}), stored as received"
              for r in state.records(("response",)) if r.get("truncated")]
    if settings.tsa and not sealed.tokens:
        notes.append("no TSA answered (" + "; ".join(sealed.timestamp_errors)
                     + "): timestamp pending; `custody timestamp` asks again")
    if left:
        notes.append(f"{left} URLs not fetched ({stats.stop_reason}); "
                     "`custody archive --resume` fetches them" if status == "interrupted"
                     else f"{left} URLs not fetched ({stats.stop_reason})")
    return Result(
        capture_id=capture_id, manifest_path=path, status=status, seeds=seeds,
        final_urls=final_urls, failures=failures, resources=responses,
        documents=sum(1 for _ in state.documents()), stats=stats, stopped=stats.stop_reason,
        left=left if status == "interrupted" else 0, notes=notes,
    )


# -- the database, rebuilt from the sealed captures ------------------------------------------


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
    head = {k: v for k, v in content.items() if k not in ("records", "documents")}
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


def reindex(archive: Archive) -> int:
    """Rebuild custody.db from the manifests and WARC files alone."""
    with archive.lock():
        tmp = archive.root / ".custody.db.rebuild"
        tmp.unlink(missing_ok=True)
        database = db.connect(tmp)
        count = 0
        for sealed in manifest.read_all(archive.manifests_dir):
            if sealed.content is not None:
                index_sealed(archive, database, sealed)
                count += 1
        database.conn.close()
        os.replace(tmp, archive.db_path)
        return count
