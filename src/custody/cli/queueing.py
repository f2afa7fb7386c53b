"""The shared queue: `custody worker` takes jobs; `custody queue status` and
`custody queue retry-failed` look after it (`custody archive --queue` enqueues)."""

from __future__ import annotations

import json
import os
import socket

import click

from .common import (
    json_option,
    open_browser,
    open_media,
    root_option,
    signing_key,
    store_copy,
    store_option,
)

queue_option = click.option(
    "--queue", "queue_url", required=True, envvar="CUSTODY_QUEUE", metavar="URL",
    help="The shared queue: redis://HOST:PORT/DB (env CUSTODY_QUEUE).")


@click.command()
@root_option
@queue_option
@click.option("--name", help="This worker's name: its lane in the archive, its consumer "
                             "name in the queue (default: HOST-PID).")
@click.option("--visibility", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds a job's worker may be silent before another takes the job over.")
@click.option("--exit-when-idle", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Stop once the queue has had no job for SECONDS (default: run until "
                   "stopped).")
@click.option("--max-jobs", type=click.IntRange(min=1), help="Stop after N jobs.")
@click.option("--db", "db_url", envvar="CUSTODY_DB", metavar="URL",
              help="Also copy each sealed capture into the index in PostgreSQL "
                   "(postgresql://HOST/DB).")
@store_option
@click.option("--allow-private", is_flag=True,
              help="Run jobs that ask --allow-private (refused otherwise).")
@click.option("--cookies", type=click.Path(exists=True, dir_okay=False),
              help="Send the cookies in FILE with every job's requests (a job never names "
                   "a file of this machine).")
@click.option("--browser-profile", type=click.Path(exists=True, file_okay=False),
              help="Send the cookies of this Chromium user-data directory, as --cookies.")
@click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False),
              envvar="CUSTODY_CA_BUNDLE", help="Trust these CA certificates for HTTPS.")
def worker(root: str | None, queue_url: str, name: str | None, visibility: float,
           exit_when_idle: float | None, max_jobs: int | None, db_url: str | None,
           store_url: str | None, allow_private: bool, cookies: str | None,
           browser_profile: str | None, ca_bundle: str | None) -> None:
    """Take jobs from the shared queue and capture each as one sealed capture.

    Each job must be signed by a key this archive admits, and its settings pass the
    checks `custody archive` makes; a job that does not is marked failed with its
    reason, and the worker goes on. Files a capture reads (--cookies,
    --browser-profile, --ca-bundle) come from the worker's options, never from a job.

    With --store, the archive is kept in an S3-compatible store and --root is this
    worker's working copy of it (made from the store, or sent to an empty store).

    \b
    custody worker --queue redis://queue.example:6379/0
    custody worker --queue redis://127.0.0.1:6379/0 --root /mnt/archive --name w1
    custody worker --queue redis://q:6379/0 --store s3://evidence/team --root ./w1
    """
    from pathlib import Path

    from ..core.archive import Archive
    from ..queue.acceptance import Permits
    from ..queue.connection import check_url
    from ..queue.worker import Worker
    from ..seal.trust import check_signing_key

    check_url(queue_url)
    if cookies or browser_profile:
        from ..core.cookies import load

        load(cookies, browser_profile)  # readable, before any job is taken
    permits = Permits(allow_private=allow_private,
                      cookies=str(Path(cookies).resolve()) if cookies else None,
                      ca_bundle=str(Path(ca_bundle).resolve()) if ca_bundle else None,
                      browser_profile=(str(Path(browser_profile).resolve())
                                       if browser_profile else None))
    if db_url is not None:
        from ..index.postgres import check_url as check_db_url

        check_db_url(db_url)
    if store_url is not None:
        from ..store.s3 import StoreURL

        StoreURL.parse(store_url)
        arch = Archive.create(root) if not (Archive.resolve_root(root) / "manifests").is_dir() \
            else Archive.open(root)
    else:
        arch = Archive.open(root)
    key_obj = signing_key(arch)
    label = name or f"{socket.gethostname()}-{os.getpid()}"
    if not label.replace("-", "").replace("_", "").replace(".", "").isalnum():
        from ..core.errors import UsageError

        raise UsageError("a worker's name is letters, digits, '-', '_' and '.'", where=label)
    import redis

    from ..core.errors import QueueError
    from ..queue.connection import shown

    try:
        runner = Worker(arch.root, queue_url, name=label, key=key_obj, visibility=visibility,
                        open_visitor=open_browser, open_media=open_media, db_url=db_url,
                        store_url=store_url, permits=permits)
    except redis.ResponseError as exc:  # the queue's own keys, written over
        raise QueueError(f"the queue's Redis refused a command ({exc}); its keys were "
                         "written by something other than custody", where=shown(queue_url)
                         ) from None
    if store_url is not None:
        runner.mirror.store.check()
        runner.join_store()
    check_signing_key(arch, key_obj.public_key())
    runner.say(f"worker {label} takes jobs from the queue")
    runner.run(exit_when_idle=exit_when_idle, max_jobs=max_jobs)
    stats = runner.stats
    runner.say(f"worker {label}: {stats.jobs} jobs, {stats.done} done, {stats.failed} failed, "
               f"{stats.refused} refused, {stats.taken_over} taken over, {stats.pages} "
               "responses; the shared seal "
               f"lock held {runner.seal.seals} times for {runner.seal.held_seconds:.2f} s, "
               f"found taken {runner.seal.waits} times; {runner.gate_asks} host-gate calls" +
               (f"; {runner.mirror.store.calls} store requests, "
                f"{runner.mirror.store.sent // 1024} KB sent, "
                f"{runner.mirror.store.received // 1024} KB read" if runner.mirror else ""))


@click.group()
def queue() -> None:
    """The shared crawl queue: what is pending, in flight, done and failed."""


@queue.command()
@queue_option
@json_option
def status(queue_url: str, as_json: bool) -> None:
    """URLs pending, in flight, done and failed, by host, and the live workers.

    \b
    custody queue status --queue redis://127.0.0.1:6379/0
    """
    from ..queue.connection import connect
    from ..queue.status import status as queue_status

    found = queue_status(connect(queue_url))
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    totals = found["totals"]
    whole = sum(totals.values())
    finished = totals["done"] + totals["failed"]
    width = 30
    filled = int(width * finished / whole) if whole else 0
    click.echo(f"[{'#' * filled}{'.' * (width - filled)}] {finished}/{whole} URLs finished "
               f"({100 * finished / whole if whole else 0:.0f}%)")
    click.echo(f"{'host':<40} {'pending':>8} {'in-flight':>9} {'done':>8} {'failed':>8}")
    for host, counts in found["hosts"].items():
        click.echo(f"{host:<40} {counts['pending']:>8} {counts['inflight']:>9} "
                   f"{counts['done']:>8} {counts['failed']:>8}")
    click.echo(f"{'total':<40} {totals['pending']:>8} {totals['inflight']:>9} "
               f"{totals['done']:>8} {totals['failed']:>8}")
    for label, info in sorted(found["workers"].items()):
        if info.get("role") == "watch scheduler":
            click.echo(f"watch scheduler {label}: leads")
            continue
        doing = f"job {info['job']} ({info['host']})" if info.get("job") else "idle"
        click.echo(f"worker {label}: {doing}")
    for failed in found["failed_jobs"]:
        click.echo(f"failed: job {failed['job']} ({failed['host']}, {len(failed['urls'])} "
                   f"URLs): {failed['reason'] or 'no reason given'}")
    for dropped in found["dropped_messages"]:
        click.echo(f"dropped: message {dropped.get('message')} (job "
                   f"{dropped.get('job') or '?'}), by {dropped.get('worker')}: "
                   f"{dropped.get('reason')}")


@queue.command("retry-failed")
@queue_option
def retry_failed(queue_url: str) -> None:
    """Put every failed job back on the queue.

    \b
    custody queue retry-failed --queue redis://127.0.0.1:6379/0
    """
    from ..queue.connection import connect
    from ..queue.jobs import Queue

    count = Queue(connect(queue_url)).retry_failed()
    click.echo(f"{count} failed job{'' if count == 1 else 's'} queued again")


@click.command()
@root_option
@click.option("--store", "store_url", required=True, envvar="CUSTODY_STORE",
              metavar="s3://BUCKET/PREFIX", help="The archive in S3-compatible storage "
              "(env CUSTODY_STORE; endpoint and credentials as boto3 finds them).")
def pull(root: str | None, store_url: str) -> None:
    """Make --root an exact, indexed copy of the archive an object store holds.

    Only objects that changed since the last pull are fetched; `custody verify`,
    `query`, `search` and `report` then work on the copy.

    \b
    custody pull --store s3://evidence/team --root ./team
    """
    arch = store_copy(store_url, root)
    click.echo(f"{arch.root}: a copy of {store_url}")
