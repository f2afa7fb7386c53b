"""Checking: `custody verify`, every claim of the archive against its evidence, with the
documented exit codes for passed, failed and could not be checked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..core.errors import ExitCode
from .common import json_option, log_event, root_option


@click.command()
@root_option
@click.argument("capture_ids", nargs=-1)
@json_option
@click.option("-v", "--verbose", is_flag=True, help="List passed checks too.")
@click.option("--against", type=click.Path(exists=True, dir_okay=False),
              help="A checkpoint kept from before: prove the ledger still extends it.")
@click.option("--jobs", type=click.IntRange(min=0), default=None, metavar="N",
              help="Worker processes running the checks [default: one per core; "
                   "0: run them all in this process].")
@click.option("--part-size", "part_bytes", type=click.IntRange(min=1), default=None,
              metavar="BYTES", help="Cut WARC files into parts of at least BYTES for the "
                                    "workers [default: chosen from the archive's size].")
def verify(root: str | None, capture_ids: tuple[str, ...], as_json: bool, verbose: bool,
           against: str | None, jobs: int | None, part_bytes: int | None) -> None:
    """Check signatures, the chain, every file and record, and the database.

    Exit 0: all passed; 1: something failed; 6: nothing failed but something could not
    be checked.

    \b
    custody verify
    custody verify 20261121T101500Z-1a2b3c4d --json
    custody verify --against checkpoint-from-march.txt
    """
    from ..core.archive import Archive
    from ..verify.run import verify as run_verify

    arch = Archive.open(root)
    old = Path(against).read_text(encoding="utf-8", errors="replace") if against else None

    def waiting() -> None:
        click.echo("custody: waiting for the capture being sealed now...", err=True)

    report = run_verify(arch, list(capture_ids) or None, against=old, jobs=jobs,
                        on_wait=waiting, part_bytes=part_bytes)
    from ..verify.report import (  # here: verify forks its first worker before loading it
        FAILED,
        PASSED,
    )

    log_event(arch, "verified", {"status": report.status,
                                  "captures": len(report.captures),
                                  "failed": report.count(FAILED)})
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        for check in report.checks:
            if check.outcome != PASSED or verbose:
                detail = f": {check.detail}" if check.detail else ""
                click.echo(f"{check.outcome.upper():9} {check.check:12} {check.subject}{detail}")
        for note in report.notes:
            click.echo(f"NOTE      {note}")
        summary = ", ".join(f"{report.count(o)} {o}" for o in (PASSED, FAILED, "unchecked"))
        count = len(report.captures)
        click.echo(f"{report.status.upper()}: {count} capture{'' if count == 1 else 's'}; "
                   f"{summary}")
    if report.status == FAILED:
        sys.exit(ExitCode.FAILED)
    if report.status != PASSED:
        sys.exit(ExitCode.UNCHECKED)
