"""Checking: `custody verify`, every claim of the archive against its evidence, and
`custody check`, any WARC, ARC or WACZ file on its own; both with the documented exit
codes for passed, failed and could not be checked."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..core.errors import ExitCode
from .common import json_option, log_event, root_option, store_copy, store_option


@click.command()
@root_option
@store_option
@click.argument("capture_ids", nargs=-1)
@json_option
@click.option("-v", "--verbose", is_flag=True, help="List passed checks too.")
@click.option("--against", type=click.Path(exists=True, dir_okay=False),
              help="A checkpoint kept from before: prove the ledger still extends it.")
@click.option("--jobs", type=click.IntRange(min=0), default=None, metavar="N",
              help="Worker processes running the checks, beside this one [default: one per "
                   "core but one; "
                   "0: run them all in this process].")
@click.option("--part-size", "part_bytes", type=click.IntRange(min=1), default=None,
              metavar="BYTES", help="Cut WARC files into parts of at least BYTES for the "
                                    "workers [default: chosen from the archive's size].")
def verify(root: str | None, store_url: str | None, capture_ids: tuple[str, ...],
           as_json: bool, verbose: bool, against: str | None, jobs: int | None,
           part_bytes: int | None) -> None:
    """Check signatures, the chain, every file and record, and the database.

    Exit 0: all passed; 1: something failed; 6: nothing failed but something could not
    be checked.

    \b
    custody verify
    custody verify 20261121T101500Z-1a2b3c4d --json
    custody verify --against checkpoint-from-march.txt
    custody verify --store s3://evidence/team   # a copy fetched to --root, then checked
    """
    from ..core.archive import Archive
    from ..verify.run import verify as run_verify

    old = Path(against).read_text(encoding="utf-8", errors="replace") if against else None
    if old is not None:  # a wrong file named is no failed verification: nothing is logged
        from ..core.errors import UsageError
        from ..seal.ledger import parse_checkpoint

        try:
            parse_checkpoint(old)
        except ValueError as exc:
            raise UsageError(f"{against}: not a checkpoint ({exc}); `custody ledger "
                             "checkpoint` prints one to keep") from None
    arch = Archive.open(root) if store_url is None else store_copy(store_url, root)

    def waiting() -> None:
        click.echo("custody: waiting for the capture being sealed now...", err=True)

    report = run_verify(arch, list(capture_ids) or None, against=old, jobs=jobs,
                        on_wait=waiting, part_bytes=part_bytes,
                        summarize=not (as_json or verbose))
    from ..verify.report import FAILED  # here: verify forks its first worker before loading it

    if store_url is None:  # a store's log is written by workers, under the seal lock
        details: dict[str, Any] = {"status": report.status, "captures": report.capture_count,
                                   "failed": report.count(FAILED)}
        if capture_ids:  # named: the log's index ties the outcome to each (serve's badge)
            details["capture_ids"] = list(dict.fromkeys(capture_ids))
        log_event(arch, "verified", details)
    count = report.capture_count
    _print(report, as_json, verbose, f"{count} capture{'' if count == 1 else 's'}")
    _exit(report.status)


def _print(report: Any, as_json: bool, verbose: bool, what: str) -> None:
    from ..verify.report import FAILED, PASSED, UNCHECKED

    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    for check in report.checks:
        if check.outcome != PASSED or verbose:
            detail = f": {check.detail}" if check.detail else ""
            click.echo(f"{check.outcome.upper():9} {check.check:12} {check.subject}{detail}")
    for note in report.notes:
        click.echo(f"NOTE      {note}")
    summary = ", ".join(f"{report.count(o)} {o}" for o in (PASSED, FAILED, UNCHECKED))
    click.echo(f"{report.status.upper()}: {what}; {summary}")


def _exit(status: str) -> None:
    if status == "failed":
        sys.exit(ExitCode.FAILED)
    if status != "passed":
        sys.exit(ExitCode.UNCHECKED)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@json_option
@click.option("-v", "--verbose", is_flag=True, help="List passed checks too.")
def check(files: tuple[str, ...], as_json: bool, verbose: bool) -> None:
    """Check WARC, ARC and WACZ files from any tool, on their own.

    Every record's framing, header fields and block and payload digests (sha1, sha256,
    md5; base32, hex or base64), the gzip layout, and for a WACZ its files' hashes,
    datapackage-digest.json and its signatures, each problem with its offset
    (MEMBER+N: N bytes into the gzip member at offset MEMBER). Nothing is written.

    Exit 0: all passed; 1: something failed; 6: nothing failed but something could not
    be checked.

    \b
    custody check crawl.warc.gz
    custody check partner-export.wacz --json
    """
    from ..check.findings import CheckReport
    from ..check.run import check_file
    from ..core.terminal import shown_path

    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        from ..core.errors import UsageError

        raise UsageError("no such file", where=", ".join(shown_path(f) for f in missing))
    # rows are spooled to disk and printed from there: a file of millions of records is
    # checked and listed in the same memory as a small one
    report = CheckReport("", every=verbose or as_json)
    try:
        for name in files:
            check_file(Path(name), name=shown_path(name), report=report)
        what = f"{len(files)} file{'' if len(files) == 1 else 's'}"
        if as_json:
            _print_json(report, [shown_path(f) for f in files])
        else:
            _print_rows(report, verbose, what)
    finally:
        report.close()
    _exit(report.status)


def _lines(lines: Any) -> None:
    """Print lines a thousand at a time: one write each is slow for millions of rows."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == 1000:
            click.echo("\n".join(batch))
            batch = []
    if batch:
        click.echo("\n".join(batch))


def _print_rows(report: Any, verbose: bool, what: str) -> None:
    from ..verify.report import FAILED, PASSED, UNCHECKED

    _lines(f"{c.outcome.upper():9} {c.check:12} {c.subject}{': ' + c.detail if c.detail else ''}"
           for c in report.rows() if c.outcome != PASSED or verbose)
    _lines(f"NOTE      {note}" for note in report.all_notes())
    summary = ", ".join(f"{report.count(o)} {o}" for o in (PASSED, FAILED, UNCHECKED))
    click.echo(f"{report.status.upper()}: {what}; {summary}")


def _print_json(report: Any, files: list[str]) -> None:
    """The custody-check/1 envelope, written a row at a time."""
    from .. import __version__
    from ..verify.report import FAILED, PASSED, UNCHECKED

    head = {"format": "custody-check/1", "custody_version": __version__,
            "status": report.status,
            "summary": {o: report.count(o) for o in (PASSED, FAILED, UNCHECKED)}}

    def lines() -> Iterator[str]:
        yield json.dumps(head, ensure_ascii=False, indent=2)[:-2] + ',\n  "checks": ['
        yield from _items(row._asdict() for row in report.rows())
        yield '  ],\n  "notes": ['
        yield from _items(report.all_notes())
        yield '  ],\n  "files": ' + json.dumps(files, ensure_ascii=False) + "\n}"

    _lines(lines())


def _items(values: Iterator[Any]) -> Iterator[str]:
    """JSON values as the items of a list two levels in, a comma after each but the last."""
    held = None
    for value in values:
        text = json.dumps(value, ensure_ascii=False, indent=2)
        if held is not None:
            yield held + ","
        held = "\n".join("    " + line for line in text.splitlines())
    if held is not None:
        yield held
