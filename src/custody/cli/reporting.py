"""Reporting: `custody report`, a capture told for a lawyer, a judge or a partner."""

from __future__ import annotations

from pathlib import Path

import click

from ..core.errors import UsageError, refuse_failed
from .common import (
    allow_secrets_option,
    complete_seals,
    key_at_hand,
    root_option,
    search_before,
)


@click.command()
@root_option
@click.argument("capture_id", required=False)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The report file to write (HTML, or PDF with --pdf).")
@click.option("--change", "change_seq", type=click.IntRange(min=1), metavar="N",
              help="Report the change a watch found (its number in `custody watch "
                   "changes`): its two captures, the diff, their screenshots side by side.")
@click.option("--pdf", is_flag=True, help="Write PDF, printed by Chromium, instead of HTML.")
@allow_secrets_option
def report(root: str | None, capture_id: str | None, output: str, change_seq: int | None,
           pdf: bool, allow_secrets: bool) -> None:
    """A self-contained report of one capture, for people: what, when, from where, how
    and by whom, what came back, what was derived, the chain of custody, the ledger, a
    verification made now, and the commands that check it without custody. Where the
    session's secrets of a capture made with it appear in it, nothing is written
    without --allow-secrets (`custody secrets`).

    \b
    custody report 20261121T101500Z-1a2b3c4d -o capture-report.html
    custody report 20261121T101500Z-1a2b3c4d -o capture-report.pdf --pdf
    custody report --change 1234 -o change-report.html
    """
    from ..core.archive import Archive
    from ..core.atomic import write_atomic
    from ..report.court import gather
    from ..report.html import render

    out = Path(output)
    if out.exists():
        raise UsageError("the file exists: name another (nothing was overwritten)",
                         where=output)
    if not out.parent.is_dir():
        raise UsageError("no such folder for the report (make it first)", where=output)
    if (capture_id is None) == (change_seq is None):
        raise UsageError("name a capture, or a change with --change N (not both)")
    arch = Archive.open(root)
    held = key_at_hand(arch)
    if held is not None:
        complete_seals(arch, *held)
    if change_seq is not None:
        from ..report.change import render_change
        from ..watch.changes import change_of

        html, sides = render_change(arch, change_of(arch, change_seq))
        ids = [side.content["capture_id"] for side in sides]
    else:
        assert capture_id is not None
        sides = [gather(arch, capture_id)]
        html, ids = render(sides[0]), [capture_id]
    secrets = search_before(arch, ids, allow=allow_secrets,
                            extra={out.name: html.encode("utf-8")})
    from .handing_over import digest, handed_over, logged

    with handed_over(out) as partial:
        if pdf:
            from ..report.pdf import print_pdf

            print_pdf(html, partial)
        else:
            write_atomic(partial, html.encode("utf-8"))
        details: dict[str, object] = {"format": "pdf" if pdf else "html",
                                      "sha256": digest(partial)}
        if change_seq is not None:
            details.update(change_seq=change_seq, capture_ids=ids)
        else:
            details["capture_id"] = capture_id
        if secrets is not None:
            details["secrets"] = secrets
        logged(arch, "reported", details)
    click.echo(f"{output}: report of " + (f"change {change_seq} ({ids[0]} to {ids[1]})"
                                          if change_seq is not None else f"{capture_id}"))
    # written all the same: a report of what fails, and where, is what a person needs
    for side in sides:
        refuse_failed(side.verification, side.content["capture_id"],
                      f"the report says where: {output}")
