"""`custody watch run --queue`: the scheduler of a team's archive, whose runs the
workers capture; one leads across machines (custody.watch.leading). And what a pass of
`watch run` says, with or without the queue."""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from ..core.errors import ExitCode, UsageError
from ..core.terminal import for_terminal
from .common import echo_json


def run_queued(arch: Any, queue_url: str, name: str | None, lease: float, once: bool,
                as_json: bool, key: Any, who: str, tsa: tuple[str, ...],
                **options: Any) -> None:
    import os
    import re
    import socket

    import redis

    from ..core.errors import QueueError
    from ..queue.acceptance import check_queuer
    from ..queue.connection import check_url, shown

    check_url(queue_url)
    if options.pop("ca_bundle") is not None and \
            click.get_current_context().get_parameter_source("ca_bundle") \
            is not click.core.ParameterSource.ENVIRONMENT:
        raise UsageError("--ca-bundle names a file on this machine, and a job never carries "
                         "one: give it to each worker instead (custody worker --ca-bundle)")
    label = f"watch-{socket.gethostname()}-{os.getpid()}" if name is None else name
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", label):
        raise UsageError("a scheduler's name is 1-64 letters, digits, '-', '_' and '.'",
                         where=repr(label[:80]))
    check_queuer(arch, key.public_key())  # refused here, rather than by every worker
    try:
        _lead(arch, queue_url, label, lease, once, as_json, key, who, tsa, options)
    except redis.ResponseError as exc:  # the queue's own keys, written over
        raise QueueError(f"the queue's Redis refused a command ({exc}); its keys were "
                         "written by something other than custody", where=shown(queue_url)
                         ) from None


def _lead(arch: Any, queue_url: str, label: str, lease: float, once: bool, as_json: bool,
          key: Any, who: str, tsa: tuple[str, ...], options: dict[str, Any]) -> None:
    from ..core.config import load as load_config
    from ..watch import Runner
    from ..watch.leading import Scheduler

    options["host_gap"] = 0.0  # the workers keep each host's politeness (the gate)
    scheduler = Scheduler(arch.root, queue_url, name=label, key=key, lease=lease,
                          make_runner=lambda archive, queued: Runner(
                              archive, key=key, who=who, queued=queued,
                              tsa=list(tsa) or load_config(arch.root).tsa, **options))
    try:
        if once:
            end_pass(scheduler.once(), as_json)
            return
        stop: list[int] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: stop.append(signum))
        scheduler.serve(lambda: bool(stop))
    finally:
        scheduler.close()


def end_pass(done: Any, as_json: bool) -> None:
    """What a `watch run --once` pass did, said; exit 130 when a run was interrupted (its
    capture sealed as far as it got, compared with nothing), 5 when one failed or its
    page was cut short (by --timeout, --time-limit: compared with nothing too)."""
    say_pass(done, as_json)
    if any(o.status == "interrupted" for o in done.outcomes):
        sys.exit(ExitCode.INTERRUPTED)
    if any(o.status in ("failed", "truncated") for o in done.outcomes):
        sys.exit(ExitCode.FETCH)


def say_pass(done: Any, as_json: bool) -> None:
    if as_json:
        echo_json("watch-run", {"outcomes": [
            {"watch_id": o.watch_id, "url": o.url, "capture_id": o.capture_id,
             "status": o.status, "change_seq": o.change_seq, "error": o.error,
             "kinds": o.change.kinds if o.change else []} for o in done.outcomes],
            "notified": done.notified})
        return
    for o in done.outcomes:
        what = ", ".join(o.change.kinds) if o.change else o.status
        click.echo(f"{o.watch_id}  {o.capture_id or '-'}  {what}  {o.url}"
                   + (f"  ({for_terminal(o.error)})" if o.error else ""))
    for sent in done.notified:
        click.echo(f"notified {sent['target']}: {len(sent['changes'])} change(s)"
                   + ("" if sent["sent"] else f", NOT SENT: {sent['error']}"))
    if not done.outcomes:
        click.echo("nothing due", err=True)
