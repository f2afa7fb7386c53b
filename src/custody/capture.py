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

import platform
import secrets
import shutil
import signal
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import __version__, db, manifest, signing
from .crawl import Crawl, Rules, Stats
from .errors import NotFound
from .extraction import (
    Extractor,
    describable,
    extractable,
)
from .fetch import Fetcher
from .frontier import CrawlState, Target
from .guard import AddressGuard
from .rebuild import heal_index
from .root import Archive
from .seal import heal_ledger, seal
from .sink import WarcSeries, WarcSink


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
        crawl = Crawl(fetcher, WarcSink(series, state, extractor), state, settings.rules(),
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
