"""Replaying captures in a browser: pywb on loopback, over the sealed WARC files in place."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .common import root_option

if TYPE_CHECKING:
    from ..replay.pywb import Replayed


@click.command()
@root_option
@click.argument("target", required=False, metavar="[CAPTURE-ID | URL]")
@click.option("--port", type=click.IntRange(0, 65535), default=0,
              help="Port to serve on (default: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to serve on: loopback unless you mean to share the replay.")
def replay(root: str | None, target: str | None, port: int, host: str) -> None:
    """Replay the archive's captures in a browser, as they were archived (pywb).

    Serves every sealed capture whose files are the sealed ones, each as a collection
    named by its capture id, until Ctrl-C; prints the address of the list of captures,
    and of the capture or URL asked for. Nothing is written to the archive.

    \b
    custody replay
    custody replay 20261202T093000Z-1a2b3c4d
    custody replay https://example.org/statement
    """
    from ..core.archive import Archive
    from ..core.errors import NotFound
    from ..replay import pywb

    archive = Archive.open(root)
    engine = pywb.pywb_bin()
    captures, left_out = pywb.sealed_captures(archive)
    for why in left_out:
        click.echo(f"custody: note: not replayed: {why}", err=True)
    replayed = [r for r, _ in captures]
    port = port or pywb.free_port(host)
    base = f"http://{host}:{port}"
    shown = _addresses(base, replayed, target)
    if target and not shown:
        raise NotFound(f"no replayable capture holds {target}")
    with pywb.temporary_folder() as folder:
        pywb.prepare(Path(folder), captures, engine)
        click.echo(f"replaying {len(replayed)} capture{'' if len(replayed) == 1 else 's'} "
                   f"at {base}/ (Ctrl-C stops)")
        for line in shown:
            click.echo(line)
        sys.stdout.flush()
        code = pywb.serve(Path(folder), engine, host, port)
    if code:
        raise click.ClickException(f"pywb ended with exit code {code}")


def _addresses(base: str, replayed: list[Replayed], target: str | None) -> list[str]:
    """The capture asked for (at its seed), the latest capture of a URL, or every capture."""
    from ..core.capture_ids import check_capture_id
    from ..core.urls import check_url

    if target is None:
        return [f"{c.capture_id}  {base}/{c.capture_id}/{c.seed_url}" for c in replayed]
    if "://" not in target:
        check_capture_id(target)
        return [f"{c.capture_id}  {base}/{c.capture_id}/{c.seed_url}" for c in replayed
                if c.capture_id == target]
    url = check_url(target)
    holding = [c for c in replayed if url in c.urls]
    if not holding:
        return []
    latest = max(holding, key=lambda c: c.started_at)
    return [f"{latest.capture_id}  {base}/{latest.capture_id}/{url}"]
