"""Watches: `custody watch add|list|remove|pause|resume|run|changes|target`. Each watch
added, removed, paused or resumed, and each change found, is a signed event in the
custody log (custody.watch); the scheduler captures what is due as `custody archive`
would, and notifies through Apprise."""

from __future__ import annotations

import json
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ..core.errors import UsageError
from .common import (
    account_option,
    annotator,
    archivist,
    echo_json,
    json_option,
    open_browser,
    open_media,
    page_options,
    plain_table,
    root_option,
)
from .watch_queued import end_pass


@click.group()
def watch() -> None:
    """Capture pages again on a schedule; prove what changed or vanished; notify.

    \b
    custody watch add https://example.org/statement --every 6h --notify team
    custody watch run
    custody watch changes --since 7d
    """


@watch.command("add")
@root_option
@click.argument("urls", nargs=-1, required=True)
@click.option("--every", default="1d", show_default=True, metavar="INTERVAL",
              help="How often: 30s, 15m, 6h, 1d.")
@click.option("--browser", is_flag=True, help="Capture each time in headless Chromium.")
@click.option("--media", is_flag=True, help="Run yt-dlp on the page each time.")
@click.option("--case", metavar="NAME", help="Add each capture to this case.")
@click.option("--notify", multiple=True, metavar="TARGET",
              help="Tell this target (`watch target add`) of each change (repeatable).")
@click.option("--ignore", multiple=True, metavar="SELECTOR",
              help="A CSS selector of a part of the page to ignore (repeatable).")
@click.option("--screenshot-threshold", metavar="PERCENT",
              help="With --browser: the share of the screenshot's pixels that must differ "
                   "for a change (0.1-100; default 10%).")
@account_option
@json_option
def watch_add(root: str | None, urls: tuple[str, ...], every: str, browser: bool, media: bool,
              case: str | None, notify: tuple[str, ...], ignore: tuple[str, ...],
              screenshot_threshold: str | None, account: str | None, as_json: bool) -> None:
    """Watch URLs: each added as a signed event; the scheduler (`custody watch run`)
    captures it at its first run, and then every INTERVAL.

    \b
    custody watch add https://example.org/statement --every 6h
    custody watch add https://example.org/a https://example.org/b --every 1d \\
        --case "Protests, Zahedan, 2026" --notify team --ignore ".live-ticker"
    custody watch add https://example.org/front --browser --screenshot-threshold 2.5%
    """
    from ..watch import add_watches, shown

    arch, signer = annotator(root, account)
    made = add_watches(arch, list(urls), every=every, signer=signer, browser=browser,
                       media=media, case=case, notify=list(notify), ignore=list(ignore),
                       screenshot_threshold=screenshot_threshold)
    if as_json:
        echo_json("watches", {"watches": made})
        return
    for one in made:
        click.echo(f"{one.id}  every {shown(one.every)}  {one.url}")


@watch.command("list")
@root_option
@click.option("--case", metavar="NAME", help="Only the watches of this case.")
@click.option("--all", "show_all", is_flag=True, help="Removed watches too.")
@json_option
def watch_list(root: str | None, case: str | None, show_all: bool, as_json: bool) -> None:
    """The watches, with when each is next due and how its last run went.

    \b
    custody watch list
    custody watch list --case "Protests, Zahedan, 2026" --json
    """
    from ..core.archive import Archive
    from ..watch import list_watches, schedule_of, shown

    arch = Archive.open(root)
    found = [w for w in list_watches(arch, case=case) if show_all or w.status != "removed"]
    slots = schedule_of(arch)

    def due(watch_id: str) -> str | None:
        slot = slots.get(watch_id)
        return None if slot is None else datetime.fromtimestamp(slot.next_due, UTC).isoformat(
            timespec="seconds").replace("+00:00", "Z")

    if as_json:
        echo_json("watches", {"watches": [
            {**vars(w), "next_due": due(w.id),
             "last_capture": getattr(slots.get(w.id), "last_capture", None),
             "last_outcome": getattr(slots.get(w.id), "last_outcome", None)} for w in found]})
        return
    rows = [(w.id, w.status, shown(w.every), due(w.id) or "-",
             getattr(slots.get(w.id), "last_outcome", None) or "-", w.url) for w in found]
    click.echo(plain_table(["watch", "status", "every", "next due", "last run", "url"], rows,
                           width=80))


def _change_command(name: str, doc: str, with_reason: bool) -> None:
    @watch.command(name, help=doc)
    @root_option
    @click.argument("ref")
    @click.option("--reason", metavar="TEXT", help="Why (kept in the event).",
                  hidden=not with_reason)
    @account_option
    def command(root: str | None, ref: str, reason: str | None, account: str | None) -> None:
        from .. import watch as library

        arch, signer = annotator(root, account)
        if name == "resume":
            recorded = library.resume_watch(arch, ref, signer=signer)
        else:
            act = library.remove_watch if name == "remove" else library.pause_watch
            recorded = act(arch, ref, signer=signer, reason=reason)
        click.echo(f"{recorded.details['watch_id']}  {recorded.event.removeprefix('watch-')}"
                   f"  {recorded.details['url']}  (custody log event {recorded.seq})")


_change_command("remove", "Stop watching (a signed event; its captures and changes stay).\n\n"
                "\b\ncustody watch remove w-1a2b3c4d5e6f --reason \"case closed\"", True)
_change_command("pause", "Pause a watch until `watch resume` (a signed event).\n\n"
                "\b\ncustody watch pause https://example.org/statement", True)
_change_command("resume", "Resume a paused watch: it runs once at once if it missed runs.\n\n"
                "\b\ncustody watch resume w-1a2b3c4d5e6f", False)


@watch.command("run")
@root_option
@click.option("--once", is_flag=True, help="Run what is due now, notify, and exit.")
@click.option("--host-gap", type=click.FloatRange(0), default=2.0, show_default=True,
              help="Seconds at least between two captures of one host.")
@click.option("--tsa", multiple=True, metavar="URL",
              help="RFC 3161 time-stamping authority (repeatable; default: custody.toml).")
@click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False),
              envvar="CUSTODY_CA_BUNDLE", help="Trust these CA certificates for HTTPS.")
@click.option("--timeout", type=click.FloatRange(0.1), default=30.0, show_default=True,
              help="Seconds one response of a watched page may take.")
@click.option("--time-limit", type=click.FloatRange(1), default=120.0, show_default=True,
              help="Seconds one watch's capture may take in all (then it is sealed).")
@page_options("In a --browser watch")
@click.option("--queue", "queue_url", metavar="URL",
              help="Put each due run on this Redis queue for `custody worker`s; one "
                   "scheduler leads across machines, the others stand by.")
@click.option("--name", help="With --queue: this scheduler's name (default: watch-HOST-PID).")
@click.option("--leader-lease", type=click.FloatRange(1, 600), default=15.0,
              show_default=True, help="With --queue: seconds a silent leader is waited for.")
@click.option("-v", "--verbose", is_flag=True, help="Log each run (to stderr).")
@json_option
def watch_run(root: str | None, once: bool, host_gap: float, tsa: tuple[str, ...],
              ca_bundle: str | None, timeout: float, time_limit: float, behaviors: str,
              behavior_timeout: float, no_replay_check: bool, queue_url: str | None,
              name: str | None, leader_lease: float, verbose: bool, as_json: bool) -> None:
    """Run the watches: each due URL becomes a sealed capture, compared with the last.

    Without --once, the scheduler: it runs until SIGTERM or Ctrl-C (a capture under way
    is sealed first). One scheduler per archive. With --queue, each run is a signed job
    that workers capture; a pass compares the runs whose jobs are done.

    \b
    custody watch run --once          # from cron, or a systemd timer
    custody watch run -v              # as a service (README: a systemd unit)
    custody watch run --queue redis://q.example:6379/0 --root /mnt/evidence
    """
    from ..capture.settings import Settings, parse_behaviors
    from ..core.archive import Archive
    from ..core.config import load as load_config
    from ..watch import Runner, scheduler_lock

    # (--once says each run's outcome, with its error: the log only with -v)
    logging.basicConfig(level=logging.INFO if verbose or not once else logging.CRITICAL,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    context = click.get_current_context()
    given = [f"--{n.replace('_', '-')}" for n in ("name", "leader_lease")
             if context.get_parameter_source(n) is not click.core.ParameterSource.DEFAULT]
    if queue_url is None and given:
        raise UsageError(f"{given[0]} is for a scheduler on a queue (--queue)")
    # how each run captures (a watch says whether with the browser, and with media)
    settings = Settings(timeout=timeout, time_limit=time_limit, retries=1,
                        behaviors=parse_behaviors(behaviors),
                        behavior_timeout=behavior_timeout, replay_check=not no_replay_check)
    arch = Archive.open(root)
    key, who = archivist(arch)
    if queue_url is not None:
        from .watch_queued import run_queued

        run_queued(arch, queue_url, name, leader_lease, once, as_json, key, who, tsa,
                   host_gap=host_gap, settings=settings, ca_bundle=ca_bundle)
        return
    with scheduler_lock(arch):
        runner = Runner(arch, key=key, who=who, open_visitor=open_browser,
                        open_media=open_media, host_gap=host_gap,
                        tsa=list(tsa) or load_config(arch.root).tsa,
                        ca_bundle=str(Path(ca_bundle).resolve()) if ca_bundle else None,
                        settings=settings)
        try:
            if once:
                end_pass(runner.run_due(), as_json)
                return
            stop: list[int] = []

            def stopping(signum: int, frame: Any) -> None:
                stop.append(signum)

            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, stopping)
            logging.getLogger("custody.watch").info("watch: scheduler started on %s",
                                                    arch.root)
            runner.loop(lambda: bool(stop))
        finally:
            runner.close()


@watch.command("changes")
@root_option
@click.option("--since", metavar="WHEN", help="Only since then: 2026-11-20, or an age: 7d.")
@click.option("--watch", "watch_ref", metavar="WATCH", help="Only this watch's (id or URL).")
@click.option("--full", is_flag=True, help="The whole diff kept in each event.")
@json_option
def watch_changes(root: str | None, since: str | None, watch_ref: str | None, full: bool,
                  as_json: bool) -> None:
    """The changes found, newest first: URL, kind, both captures, a short diff.

    \b
    custody watch changes --since 7d
    custody watch changes --watch https://example.org/statement --json
    """
    from ..core.archive import Archive
    from ..watch import get_watch, list_changes, since_moment

    arch = Archive.open(root)
    watch_id = get_watch(arch, watch_ref).id if watch_ref else None
    found = list_changes(arch, since=since_moment(since) if since else None, watch_id=watch_id)
    if as_json:
        echo_json("watch-changes", {"changes": found})
        return
    for change in found:
        click.echo(f"{change.at}  {', '.join(change.kinds)}  {change.url}")
        if change.reason:
            click.echo(f"  {change.reason}")
        click.echo(f"  before {change.before_capture}  after {change.after_capture}  "
                   f"(event {change.seq}, diff sha256 {change.diff_sha256[:16]})")
        lines = change.diff.splitlines()[2:]  # its header names the captures already
        for line in lines if full else lines[:8]:
            click.echo(f"    {line}")
        if not full and len(lines) > 8:
            click.echo(f"    ... {len(lines) - 8} more lines (--full)")
    if not found:
        click.echo("no changes", err=True)


@watch.group("target")
def target() -> None:
    """Where notifications go: any Apprise URL, or hmac://HOST/PATH (a signed webhook).

    \b
    custody watch target add team "mailtos://user:pass@mail.example.org?to=team@example.org"
    custody watch target add hook hmacs://hooks.example.org/custody
    """


@target.command("add")
@root_option
@click.argument("name")
@click.argument("url")
def target_add(root: str | None, name: str, url: str) -> None:
    """Add a target; for hmac:// and hmacs:// prints its HMAC secret (once: keep it).

    \b
    custody watch target add hook hmacs://hooks.example.org/custody
    """
    from ..core.archive import Archive
    from ..watch import add_target

    secret = add_target(Archive.open(root), name, url)
    if secret is not None:
        click.echo(f"secret {secret}")
        click.echo("the receiver checks X-Custody-Signature: sha256=HMAC-SHA256(secret, body)",
                   err=True)
    else:
        click.echo(f"added {name}", err=True)


@target.command("list")
@root_option
@json_option
def target_list(root: str | None, as_json: bool) -> None:
    """The targets: name, kind, whether signed (never their URLs' secrets).

    \b
    custody watch target list
    """
    from ..core.archive import Archive
    from ..watch import list_targets

    found = list_targets(Archive.open(root))
    if as_json:
        click.echo(json.dumps({"format": "custody-watch-targets/1", "targets": found}))
        return
    click.echo(plain_table(["name", "scheme", "signed"],
                           [(t["name"], t["scheme"], t["signed"]) for t in found]))


@target.command("remove")
@root_option
@click.argument("name")
def target_remove(root: str | None, name: str) -> None:
    """Remove a target (what it was not sent yet is dropped).

    \b
    custody watch target remove hook
    """
    from ..core.archive import Archive
    from ..watch import remove_target

    remove_target(Archive.open(root), name)
    click.echo(f"removed {name}", err=True)
