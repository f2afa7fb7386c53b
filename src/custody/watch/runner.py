"""Running the watches: what is due becomes an ordinary sealed capture (capture.run.start,
the path `custody archive` takes, under the archive's writer lock as it takes it),
compared with the URL's previous capture; a change becomes a signed ``watch-changed``
event, and the run's changes one notification per target.

A watch runs at most once in an interval (schedule.py): the interval's number is
claimed before its capture and marked done with its result. After a stop, a watch whose
runs were missed runs once. Watches of one host are ``host_gap`` seconds apart. With a
queue (queued.py), a claimed run is a job for the workers, followed until it is done.

kill -9, at any moment. Before the capture, the claim (interval, job name) is committed;
the capture writes its job marker (``.custody/jobs/<job>.json``, its capture id) before
it fetches anything. A claim found on start-up is finished from what the archive holds:
a sealed capture is compared and recorded (a change already logged for it is found in
the index, never logged twice); a seal cut short is completed (capture recovery); a
capture that never began sealing is left unsealed (verify notes it) and the interval's
run is made again. So no watch is lost, none runs twice in an interval, nothing is
sealed twice.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from ..annotate import Signer, add_to_case
from ..annotate.recording import reading, record
from ..capture import run as capture
from ..capture.settings import Settings
from ..core.archive import Archive
from ..core.errors import ArchiveLocked, CustodyError, UsageError
from ..seal.log_events import catch_up
from .changes import not_before_last_change
from .compare import Change, compare, state_of, with_screenshots
from .observe import captured_at, cut_short, observe
from .outcome import Outcome, Pass
from .queued import Follower, QueuedRuns, job_id
from .schedule import due_time, interval_of
from .state import WatchState
from .volatile import AD_SELECTORS
from .watches import Watch, as_signed, list_watches

log = logging.getLogger("custody.watch")

RETRY = 60.0  # seconds before a run the archive refused (another writer) is tried again
# a capture's bounds: with one writer per archive, captures run one at a time, so a site
# that hangs holds the others back this long at most (and then waits behind them)
CAPTURE_TIMEOUT = 30.0
CAPTURE_TIME_LIMIT = 120.0


class Runner:
    def __init__(self, archive: Archive, *, key: Any, who: str,
                 open_visitor: capture.OpenVisitor | None = None,
                 open_media: capture.OpenMedia | None = None, tsa: list[str] | None = None,
                 host_gap: float = 2.0, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep,
                 ca_bundle: str | None = None, timeout: float = CAPTURE_TIMEOUT,
                 time_limit: float = CAPTURE_TIME_LIMIT,
                 settings: Settings | None = None,
                 queued: QueuedRuns | None = None) -> None:
        self.archive = archive
        self.signer = Signer(key, who)
        self.key = key
        self.open_visitor = open_visitor
        self.open_media = open_media
        self.tsa = tsa or []
        self.host_gap = host_gap
        self.clock = clock  # (a benchmark runs the schedule on a faster clock, and sleeps
        self.sleep = sleep  # by it: both in the clock's seconds)
        self.base_settings = settings
        self.ca_bundle = ca_bundle
        self.timeout, self.time_limit = timeout, time_limit
        self.state = WatchState(archive)
        self.last_hit: dict[str, float] = {}
        self.interrupted = False  # a capture was stopped by Ctrl-C or SIGTERM: stop after it
        self._synced: tuple[int, int] | None = None
        self._markers_cleared = False
        self._watches: dict[str, Watch] = {}
        self.astray: list[Outcome] = []  # watches found not run, for the next pass to say
        self._signed: dict[str, Watch] = {}  # every watch, as its signed events say it
        self._seqs: dict[str, tuple[int | None, int | None]] = {}  # the events read
        # runs put on the Redis queue, for workers to capture (queued.py)
        self.follower = None if queued is None else Follower(
            queued, self.state, finish=self.finish, release=self._release,
            sealed=self._sealed, settings=lambda w: replace(self._settings(w), ca_bundle=None),
            clock=self.clock)

    def close(self) -> None:
        self.state.close()

    # -- one pass --------------------------------------------------------------------------

    def run_due(self, *, wait_for_hosts: bool = True) -> Pass:
        """Finish runs a death cut short, run every watch due now (each at most once),
        then notify; what it did."""
        done = Pass()
        watches = self.sync()
        done.outcomes += self.astray
        self.astray = []
        for watch_id, job in self.state.claimed().items():
            if watch_id in watches:  # (a run claimed by a scheduler with or without --queue)
                local = job.startswith("watch-")
                step = (self.resolve if local else self._queued_elsewhere) \
                    if self.follower is None else \
                    (self.follower.take_over if local else self.follower.follow)
                finished = self._guarded(step, watches[watch_id])
                if finished is not None:
                    done.outcomes.append(finished)
        if not self._markers_cleared:  # (only a death leaves one: look once a start)
            self._clear_markers()
            self._markers_cleared = True
        now = self.clock()
        due = [w for w in self.state.due(now) if w in watches]
        for watch_id in due:
            if self.interrupted:
                break
            watch = watches[watch_id]
            host = urlsplit(watch.url).hostname or ""
            wait = self.last_hit.get(host, -math.inf) + self.host_gap - self.clock()
            if wait > 0:
                if not wait_for_hosts:
                    continue  # the scheduler's loop comes back to it
                self.sleep(wait)
            done.outcomes.append(self._guarded(self.run_watch, watch) or
                                 Outcome(watch.id, watch.url, None, "failed"))
            self.last_hit[host] = self.clock()
        from .notify import deliver

        done.notified = deliver(self.archive, self.state)
        return done

    def _guarded(self, step: Callable[[Watch], Outcome | None],
                 watch: Watch) -> Outcome | None:
        """One watch's step; what it raises is logged and makes its outcome failed, and
        the other watches go on (its claim, if any, is finished by a later pass)."""
        try:
            return step(watch)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a scheduler must not stop for one watch's fault
            log.exception("watch %s: %s", watch.id, exc)
            return Outcome(watch.id, watch.url, None, "failed", error=f"{exc}")

    def sync(self) -> dict[str, Watch]:
        """The active watches; each new one scheduled at once, the removed ones dropped.
        Read again only when the custody log has grown (their events are in it)."""
        try:
            seen = self.archive.manifests_dir.joinpath("ledger", "log.jsonl").stat()
            key: tuple[int, int] | None = (seen.st_size, seen.st_mtime_ns)
        except OSError:
            key = None
        if key is not None and key == self._synced:
            return self._watches
        every = list_watches(self.archive)
        fresh = [w for w in every if self._seqs.get(w.id) != (w.added_seq, w.changed_seq)]
        signed, astray = as_signed(self.archive, fresh)  # (a signed event never changes)
        for watch in fresh:
            self._seqs[watch.id] = (watch.added_seq, watch.changed_seq)
            self._signed.pop(watch.id, None)
            if watch.id in astray:
                self.astray.append(Outcome(watch.id, watch.url, None, "failed", error=(
                    "custody.db's row names no events of the custody log that are its own: "
                    "not run (`custody verify`, then `custody reindex`)")))
                log.error("watch %s: %s", watch.id, self.astray[-1].error)
        self._signed.update((w.id, w) for w in signed)
        present = {w.id for w in every}
        watches = {i: w for i, w in self._signed.items() if w.status == "active" and i in present}
        removed = {i for i, w in self._signed.items() if w.status == "removed"}
        known = dict(self.state.conn.execute("SELECT watch_id, active FROM schedule"))
        now = self.clock()
        with self.state.step() as conn:
            conn.executemany("INSERT INTO schedule (watch_id, next_due) VALUES (?, ?)",
                             [(w, now) for w in watches if w not in known])
            conn.executemany("DELETE FROM schedule WHERE watch_id = ? AND claim_job IS NULL",
                             [(w,) for w in removed if w in known])
            # a paused watch keeps its place (and the interval it last ran in), not due
            conn.executemany("UPDATE schedule SET active = ? WHERE watch_id = ?",
                             [(int(w in watches), w) for w, active in known.items()
                              if bool(active) != (w in watches)])
        self._synced, self._watches = key, watches
        return watches

    def run_watch(self, watch: Watch) -> Outcome:
        now = self.clock()
        number = interval_of(watch.id, watch.every, now)
        job = job_id(watch.id, number) if self.follower else f"watch-{watch.id}-{number}"
        with self.state.step("watch.claim") as conn:
            claimed = conn.execute(
                "UPDATE schedule SET claim_slot = ?, claim_job = ?, claim_at = ?, last_started "
                "= ? WHERE watch_id = ? AND (done_slot IS NULL OR done_slot < ?)",
                [number, job, now, now, watch.id, number]).rowcount
            if not claimed:  # this interval's run was made
                conn.execute("UPDATE schedule SET next_due = ? WHERE watch_id = ?",
                             [due_time(watch.id, watch.every, number + 1), watch.id])
        if not claimed:
            return Outcome(watch.id, watch.url, None, "skipped")
        return self.perform(watch, number, job)

    def perform(self, watch: Watch, number: int, job: str) -> Outcome:
        """The claimed run: its capture, sealed, then compared and recorded (finish)."""
        now = self.clock()
        if self.follower is not None:
            return self.follower.send(watch, number, job)
        log.info("watch %s: capturing %s (interval %d)", watch.id, watch.url, number)
        try:
            result = capture.start(self.archive, [watch.url], key=self.key,
                                   settings=self._settings(watch),
                                   open_visitor=self.open_visitor, open_media=self.open_media,
                                   job=job)
        except ArchiveLocked as exc:
            return self._release(watch, now + min(RETRY, watch.every), str(exc))
        except CustodyError as exc:
            log.error("watch %s: the capture failed: %s", watch.id, exc)
            return self._release(watch, due_time(watch.id, watch.every, number + 1), str(exc))
        if result.status == "interrupted":  # sealed as far as it got; the signal was for us
            self.interrupted = True
        return self.finish(watch, number, job, result.capture_id)

    def _settings(self, watch: Watch) -> Settings:
        base = self.base_settings or Settings(timeout=self.timeout, time_limit=self.time_limit,
                                              retries=1)
        return replace(base, browser=watch.browser, media=watch.media,
                       tsa=list(self.tsa or base.tsa), ca_bundle=self.ca_bundle or base.ca_bundle,
                       volatile=[*AD_SELECTORS, *watch.ignore] if watch.browser else [])

    def _release(self, watch: Watch, next_due: float, error: str) -> Outcome:
        with self.state.step() as conn:
            conn.execute("UPDATE schedule SET claim_slot = NULL, claim_job = NULL, "
                         "claim_at = NULL, next_due = ?, last_outcome = ?, failures = "
                         "failures + 1 WHERE watch_id = ?", [next_due, "failed", watch.id])
        return Outcome(watch.id, watch.url, None, "failed", error=error)

    # -- a run's end -----------------------------------------------------------------------

    def finish(self, watch: Watch, number: int, job: str, capture_id: str) -> Outcome:
        """Compare the sealed capture with the previous one, record a change, and mark the
        interval's run done; each step safe to repeat after a death."""
        slot = self.state.slot(watch.id)
        # (the working state is no evidence: a capture of another page is compared with
        # nothing, rather than raise a change the watched page never made)
        previous, text_capture = (capture if capture and self._of(capture, watch) else None
                                  for capture in ((slot.last_capture, slot.text_capture)
                                                  if slot else (None, None)))
        if watch.case_id is not None:
            # UsageError: in the case already (a run finished after a death)
            with suppress(UsageError):
                add_to_case(self.archive, watch.case_id, [capture_id], signer=self.signer)
        with reading(self.archive) as conn:
            if cut := cut_short(conn, capture_id, watch.url):  # not the page: compared with
                status = "interrupted" if cut == "interrupted" else "truncated"  # nothing
                self.mark_done(watch, number, job, status=status, last_capture=previous,
                               text_capture=text_capture, change_seq=None)
                return Outcome(watch.id, watch.url, capture_id, status, error=cut)
            if previous is not None:
                previous = not_before_last_change(conn, watch.id, previous)
            after = observe(conn, self.archive.root, capture_id, watch.url, watch.ignore)
            before = observe(conn, self.archive.root, previous, watch.url, watch.ignore) \
                if previous else None
            text_before = observe(conn, self.archive.root, text_capture, watch.url,
                                  watch.ignore) \
                if text_capture and text_capture != previous else None
        change = compare(before, after, text_before) if before is not None else None
        if watch.browser and before is not None:
            change = with_screenshots(self.archive.root, change, before, after,
                                      watch.screenshot_permille)
        seq = self._record(watch, change) if change is not None else None
        shows_page = state_of(after) is None and not after.transient() and \
            not after.unfollowed
        # a passing error: the next run is compared with the capture before it
        kept = previous if after.transient() else capture_id
        status = "changed" if change else ("baseline" if before is None else "same")
        if after.transient():  # (compared with nothing: the next run looks again)
            status = "site-error"
        self.mark_done(watch, number, job, status=status, last_capture=kept,
                       text_capture=capture_id if shows_page else text_capture, change_seq=seq)
        if change is not None:
            log.info("watch %s: %s (%s)", watch.id, ", ".join(change.kinds),
                     change.reason or f"{change.counts}")
        return Outcome(watch.id, watch.url, capture_id, status, change, seq)

    def mark_done(self, watch: Watch, number: int, job: str, *, status: str,
                  last_capture: str | None, text_capture: str | None,
                  change_seq: int | None) -> None:
        """The interval's run done, in one transaction with its change's deliveries."""
        with self.state.step("watch.done") as conn:
            if change_seq is not None:
                conn.executemany("INSERT OR IGNORE INTO deliveries (change_seq, target, "
                                 "state) VALUES (?, ?, 'pending')",
                                 [(change_seq, target) for target in watch.notify])
            conn.execute(
                "UPDATE schedule SET done_slot = ?, claim_slot = NULL, claim_job = NULL, "
                "claim_at = NULL, last_capture = ?, text_capture = ?, last_finished = ?, "
                "last_outcome = ?, next_due = ?, failures = CASE WHEN ? THEN failures + 1 "
                "ELSE 0 END WHERE watch_id = ?",
                [number, last_capture, text_capture, self.clock(), status,
                 due_time(watch.id, watch.every, number + 1), status == "site-error",
                 watch.id])
        capture.jobs_dir(self.archive).joinpath(f"{job}.json").unlink(missing_ok=True)

    def _record(self, watch: Watch, change: Change) -> int:
        """The change's event (found, when a run that died logged it already)."""
        with self.archive.lock(), self.archive.sealing():
            import sqlite3

            conn = sqlite3.connect(self.archive.db_path, timeout=10)
            try:
                with conn:
                    catch_up(self.archive.root, conn)
                row = conn.execute("SELECT seq FROM watch_changes WHERE watch_id = ? AND "
                                   "after_capture = ?",
                                   [watch.id, change.after.capture_id]).fetchone()
            finally:
                conn.close()
        if row is not None:
            return int(row[0])
        recorded = record(self.archive, self.signer, "watch-changed",
                          change.details(watch.id, watch.url))
        return recorded.seq

    def _clear_markers(self) -> None:
        """The job markers of runs whose end was recorded (a death came between the two)."""
        claimed = set(self.state.claimed().values())
        for marker in capture.jobs_dir(self.archive).glob("watch-*.json"):
            if marker.stem not in claimed:
                marker.unlink(missing_ok=True)

    def resolve(self, watch: Watch) -> Outcome | None:
        """A run a death cut short: finished from what the archive holds (None: it sealed
        nothing, and its interval's run is due again)."""
        slot = self.state.slot(watch.id)
        assert slot is not None and slot.claim_job is not None and slot.claim_slot is not None
        marker = capture.read_job_marker(self.archive, slot.claim_job)
        capture_id = str(marker["capture_id"]) if marker else None
        if capture_id is not None and not self._sealed(capture_id):
            from ..capture.recovery import recover
            from ..seal.collector import collector_of

            with self.archive.lock():  # a seal cut short is completed, as archive would
                recover(self.archive, key=self.key,
                        collector=collector_of(self.archive, self.key))
        if capture_id is not None and self._sealed(capture_id):
            log.info("watch %s: finishing the run of %s a stop cut short", watch.id,
                     capture_id)
            return self.finish(watch, slot.claim_slot, slot.claim_job, capture_id)
        with self.state.step() as conn:  # it sealed nothing: the interval's run is made again
            conn.execute("UPDATE schedule SET claim_slot = NULL, claim_job = NULL, claim_at = "
                         "NULL, next_due = min(next_due, ?) WHERE watch_id = ?",
                         [self.clock(), watch.id])
        if marker is not None:
            capture.jobs_dir(self.archive).joinpath(f"{slot.claim_job}.json").unlink(
                missing_ok=True)
        log.info("watch %s: a run a stop cut short sealed nothing; it is made again", watch.id)
        return None

    def _of(self, capture_id: str, watch: Watch) -> bool:
        if captured_at(self.archive.manifests_dir, capture_id, watch.url):
            return True
        log.error("watch %s: the working state names %s as its last capture, which is no "
                  "capture of %s; compared with nothing", watch.id, capture_id, watch.url)
        return False

    def _queued_elsewhere(self, watch: Watch) -> Outcome:
        slot = self.state.slot(watch.id)
        return Outcome(watch.id, watch.url, None, "failed", error=(
            f"its run is a job on the Redis queue ({slot.claim_job if slot else '?'}): run "
            "this archive's scheduler with --queue"))

    def _sealed(self, capture_id: str) -> bool:
        from ..seal.manifest import manifest_path

        if not manifest_path(self.archive.manifests_dir, capture_id).is_file():
            return False
        with reading(self.archive) as conn:  # and indexed (a seal completes its index last)
            return conn.execute("SELECT 1 FROM captures WHERE id = ?",
                                [capture_id]).fetchone() is not None

    # -- the scheduler ---------------------------------------------------------------------

    def loop(self, should_stop: Callable[[], bool], *, poll: float = 5.0) -> None:
        """Run what is due until ``should_stop``; sleep until the next run is due, looking
        at the watches again at least every ``poll`` seconds."""
        while not should_stop() and not self.interrupted:
            try:
                self.run_due(wait_for_hosts=False)
            except CustodyError as exc:  # a moment the archive is busy: the next pass
                log.warning("watch: %s", exc)
            upcoming = self.state.next_due()
            pause = poll if upcoming is None else max(0.05, min(poll, upcoming - self.clock()))
            waited = 0.0
            while waited < pause and not should_stop() and not self.interrupted:
                step = min(0.5, pause - waited)
                self.sleep(step)
                waited += step
