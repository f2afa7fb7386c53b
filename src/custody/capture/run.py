"""A capture, start to finish: crawl into WARC files, extract from them, seal, index.

The order on disk is what makes a crash harmless. WARC files are written under a
``.partial`` name and renamed when complete; the crawl's state (frontier,
records, documents) lives in ``.custody/crawls/<capture-id>/``, committed only
after the bytes it describes are flushed. When fetching is over, the capture is
completed by completion.py's steps, each durable and each safe to die after;
before anything else, a run completes what an earlier one left unfinished
(recovery.py). Anything without a manifest is an unsealed leftover that verify
notes but never mistakes for evidence.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..core import cookies as cookie_jar
from ..core import faults
from ..core.archive import Archive
from ..core.atomic import write_atomic
from ..core.capture_ids import new_capture_id
from ..core.errors import NotFound, UsageError
from ..extract.workers import Extractor, Warm
from ..seal import journal
from ..seal.collector import collector_of, iso
from .browsing import browse
from .completion import Result, catch_up, complete, crawls_dir, open_series
from .crawl import Crawl
from .fetch import Fetcher
from .guard import AddressGuard
from .recovery import recover
from .redact import Redactor
from .settings import Settings
from .sink import WarcSink
from .state import CrawlState, Target
from .stats import Stats

ABORT_GRACE = 2.0  # seconds in-flight fetches get to finish after Ctrl-C or SIGTERM


# Makes the browser for a capture with --browser: given the capture's Fetcher (through
# which every request the browser makes is recorded) and its settings, a context manager
# yielding a visitor (custody.browser.session.open_visitor). capture does not import the
# browser package, which builds on it.
OpenVisitor = Callable[[Fetcher, Settings], AbstractContextManager[Any]]
# Likewise for --media: yields the collector that runs yt-dlp on each page through a
# recording proxy (custody.media.session.open_media).
OpenMedia = OpenVisitor


def start(archive: Archive, seeds: list[str], *, key: Ed25519PrivateKey, settings: Settings,
          on_progress: Callable[[Stats, int], None] | None = None,
          open_visitor: OpenVisitor | None = None,
          open_media: OpenMedia | None = None, job: str | None = None,
          gate: Any = None, logins: list[list[str]] | None = None,
          warm: Warm | None = None) -> Result:
    """Capture the seeds (and what the settings say to follow) as one sealed capture.

    A queue worker gives its ``job`` (written to ``.custody/jobs/JOB.json`` with the
    capture id before anything is fetched, and into the manifest) and the ``gate`` that
    keeps each host's politeness across all workers; it completes interrupted seals
    itself, job by job, so none is recovered here. ``logins``: (origin, user, password)
    that seeds carried, kept only in the crawl's private state (core.cookies). ``warm``:
    a worker that readied extraction beside the start (extract.warm)."""
    if not settings.user_agent:  # one agent for the crawler, the browser and yt-dlp
        from ..core.user_agent import browser_user_agent

        settings.user_agent = browser_user_agent()
    with archive.lock():
        collector = collector_of(archive, key)
        recovered = [] if archive.lane is not None else \
            recover(archive, key=key, collector=collector)
        started = datetime.now(UTC)
        capture_id = new_capture_id(started)
        folder = crawls_dir(archive) / capture_id
        try:
            state = CrawlState(folder / "state.db")
            if job is not None:
                write_job_marker(archive, job, capture_id)
            state.begin()
            state.set_meta("capture_id", capture_id)
            if job is not None:
                state.set_meta("job", {"id": job, "worker": archive.lane})
            state.set_meta("started_at", iso(started))
            state.set_meta("seeds", seeds)
            state.set_meta("logins", logins or [])
            state.set_meta("settings", settings.to_json())
            state.set_meta("final_urls", {s: s for s in seeds})
            for seed in seeds:
                state.push(Target(seed, seed, "seed"))
            faults.after("crawl.begin")  # (a test's kill -9 before its seeds are committed)
            state.commit()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # it never began: nothing to keep
            raise
        try:
            result = _run(archive, state, key, collector, on_progress, open_visitor,
                          open_media, gate, warm)
        except UsageError:  # refused before a thing was fetched (a browser window that
            if job is None and not state.warc_files():  # would not open): nothing to resume
                state.close()
                shutil.rmtree(folder, ignore_errors=True)
            raise
        result.notes[:0] = [n for r in recovered for n in r.notes[:1]]
        return result


def jobs_dir(archive: Archive) -> Path:
    return archive.root / ".custody" / "jobs"


def write_job_marker(archive: Archive, job: str, capture_id: str) -> None:
    """Which capture a queue job became, kept until the job is done: a worker that takes
    the job over from one that died finds it, and so never seals the job twice."""
    path = jobs_dir(archive) / f"{job}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps({"job": job, "capture_id": capture_id,
                                    "worker": archive.lane}) + "\n").encode())


def job_done(archive: Archive, job: str, capture_id: str) -> None:
    """The job's marker kept among those done (``jobs/done/``), naming its capture: a
    job put back on the queue after it was done (its state in Redis written by something
    other than a worker) is then found sealed here, and never captured twice."""
    path = jobs_dir(archive) / f"{job}.json"
    done = jobs_dir(archive) / "done" / f"{job}.json"
    if capture_id:
        done.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(done, (json.dumps({"job": job, "capture_id": capture_id,
                                        "worker": archive.lane}) + "\n").encode())
    path.unlink(missing_ok=True)


def read_job_marker(archive: Archive, job: str, *, done: bool = False) -> dict[str, Any] | None:
    """The capture a job became, while it runs (or ``done``: once it was done)."""
    path = jobs_dir(archive) / ("done" if done else "") / f"{job}.json"
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and found.get("capture_id") else None


def resume(archive: Archive, *, key: Ed25519PrivateKey,
           on_progress: Callable[[Stats, int], None] | None = None,
           open_visitor: OpenVisitor | None = None,
           open_media: OpenMedia | None = None, warm: Warm | None = None) -> Result:
    """Continue the newest interrupted crawl without fetching again what it already has;
    a crawl whose sealing was interrupted is sealed."""
    with archive.lock():
        collector = collector_of(archive, key)
        recovered = recover(archive, key=key, collector=collector)
        state = _resumable(archive)
        if state is None:
            if recovered:
                return recovered[-1]
            raise NotFound("no interrupted crawl to resume", where=str(archive.root))
        state.begin()
        state.requeue_inflight()
        if state.meta("sealed_as"):
            # interrupted and sealed as far as it got: the rest is a new capture
            started = datetime.now(UTC)
            state.set_meta("continues", state.meta("sealed_as"))
            state.set_meta("capture_id", new_capture_id(started))
            state.set_meta("started_at", iso(started))
            state.set_meta("sealed_as", None)
            state.set_meta("stopped", None)
        state.commit()
        result = _run(archive, state, key, collector, on_progress, open_visitor, open_media,
                      None, warm)
        result.notes[:0] = [n for r in recovered for n in r.notes[:1]]
        return result


def _resumable(archive: Archive) -> CrawlState | None:
    """The newest crawl that can go on; crawl folders that never began (a state without
    its capture id, left by a start that failed) are removed: they hold nothing."""
    sealing = {entry.crawl for entry in journal.pending(archive)}
    for path in sorted(crawls_dir(archive).glob("*/state.db"), reverse=True):
        if path.parent.name in sealing:
            continue
        try:
            state = CrawlState(path)
            if state.meta("capture_id") is not None and state.meta("settings") is not None:
                return state
            state.close()
        except Exception:  # sqlite3.Error: a state file the failed start left unreadable
            pass
        shutil.rmtree(path.parent, ignore_errors=True)
    return None


def _run(archive: Archive, state: CrawlState, key: Ed25519PrivateKey, collector: dict[str, Any],
         on_progress: Callable[[Stats, int], None] | None,
         open_visitor: OpenVisitor | None, open_media: OpenMedia | None,
         gate: Any, warm: Warm | None = None) -> Result:
    settings = Settings.from_json(state.meta("settings"))
    seeds: list[str] = state.meta("seeds")
    series = open_series(archive, state, collector)
    guard = AddressGuard({(Target(s, s, "seed").host) for s in seeds}, settings.allow_private)
    extractor = Extractor(archive.root, warm=warm)
    catch_up(extractor, state)
    jar = cookie_jar.load(settings.cookies, settings.browser_profile, state.meta("logins"))
    redactor = None
    if jar is not None or settings.interactive:  # the archivist's session (or one that a
        # person signs in to in the window): its secrets are not put in the WARC
        if not state.meta("redaction_key"):
            state.begin()
            state.set_meta("redaction_key", secrets.token_hex(32))
            state.commit()
        redactor = Redactor(bytes.fromhex(state.meta("redaction_key")))
    with Fetcher(user_agent=settings.user_agent, timeout=settings.timeout,
                 max_body=settings.max_bytes, ca_bundle=settings.ca_bundle,
                 insecure=settings.insecure, max_connections=64, guard=guard,
                 cookies=jar) as fetcher, \
            _visitor(open_visitor, fetcher, settings) as visitor, \
            _media(open_media, fetcher, settings) as media:
        sink = WarcSink(series, state, extractor, redactor)
        sink.band = f"capture {state.meta('capture_id')}  ·  {collector.get('operator', '')}"
        crawl = Crawl(fetcher, sink, state, settings.rules(),
                      on_progress=on_progress, visitor=visitor, media=media, gate=gate)
        with _graceful_interrupt(crawl, fetcher):
            stats = browse(crawl, visitor) if settings.interactive else crawl.run()
            if visitor is not None and settings.replay_check:
                if stats.stop_reason == "interrupted":
                    _not_checked(state, "the capture was interrupted")
                else:
                    _check_replay(state, series, visitor)
    state.begin()
    state.set_meta("final_urls", crawl.final_urls)
    state.set_meta("stopped", stats.stop_reason)
    state.commit()
    return complete(archive, state, key=key, collector=collector, series=series,
                    extractor=extractor, stats=stats)


def _check_replay(state: CrawlState, series: Any, visitor: Any) -> None:
    """Each page the browser recorded, replayed from the WARC files as they are now and
    compared with what it showed (custody.browser.replay_check); what was found goes
    into the visits, so it is sealed with them."""
    found = visitor.check_replay(series.readable(), list(state.records()),
                                 state.meta("started_at"))
    if found:
        state.add_to_visits(found)


def _not_checked(state: CrawlState, why: str) -> None:
    """Each visit says it was not replay-checked, and why."""
    result = {"error": why}
    state.add_to_visits({(str(v.get("url")), str(v.get("started_at"))):
                         (result, f"not replay-checked: {why}")
                         for v in state.visits() if not v.get("error")})


def _visitor(open_visitor: OpenVisitor | None, fetcher: Fetcher,
             settings: Settings) -> AbstractContextManager[Any]:
    if not settings.browser:
        return nullcontext(None)
    if open_visitor is None:
        raise UsageError("this capture loads its pages in a browser, and no browser was given "
                         "(custody.browser.session.open_visitor)")
    return open_visitor(fetcher, settings)


def _media(open_media: OpenMedia | None, fetcher: Fetcher,
           settings: Settings) -> AbstractContextManager[Any]:
    if not settings.media:
        return nullcontext(None)
    if open_media is None:
        raise UsageError("this capture runs yt-dlp on its pages, and no media collector was "
                         "given (custody.media.session.open_media)")
    return open_media(fetcher, settings)


class _graceful_interrupt:
    """First Ctrl-C (or SIGTERM): start no fetch, give those in flight a moment, keep what
    they received, and seal. A second one stops at once; `--resume` carries on from there."""

    def __init__(self, crawl: Crawl, fetcher: Fetcher) -> None:
        self.crawl = crawl
        self.fetcher = fetcher
        self.previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.crawl.stopping:
            raise KeyboardInterrupt
        self.crawl.stop("interrupted")
        self.fetcher.abort(after=ABORT_GRACE)

    def __enter__(self) -> None:
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handler)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
