"""Reporting: `custody report`, a capture told for a lawyer, a judge or a partner."""

from __future__ import annotations

from pathlib import Path

import click

from ..core.errors import UsageError, refuse_failed
from .common import allow_secrets_option, log_event, root_option, search_before


@click.command()
@root_option
@click.argument("capture_id")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The report file to write (HTML, or PDF with --pdf).")
@click.option("--pdf", is_flag=True, help="Write PDF, printed by Chromium, instead of HTML.")
@allow_secrets_option
def report(root: str | None, capture_id: str, output: str, pdf: bool,
           allow_secrets: bool) -> None:
    """A self-contained report of one capture, for people: what, when, from where, how
    and by whom, what came back, what was derived, the chain of custody, the ledger, a
    verification made now, and the commands that check it without custody. Where the
    session's secrets of a capture made with it appear in it, nothing is written
    without --allow-secrets (`custody secrets`).

    \b
    custody report 20261121T101500Z-1a2b3c4d -o capture-report.html
    custody report 20261121T101500Z-1a2b3c4d -o capture-report.pdf --pdf
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
    arch = Archive.open(root)
    facts = gather(arch, capture_id)
    html = render(facts)
    secrets = search_before(arch, [capture_id], allow=allow_secrets,
                            extra={out.name: html.encode("utf-8")})
    if pdf:
        from ..report.pdf import print_pdf

        partial = out.with_name(f".{out.name}.partial")
        try:
            print_pdf(html, partial)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
    else:
        write_atomic(out, html.encode("utf-8"))
    details: dict[str, object] = {"capture_id": capture_id,
                                  "format": "pdf" if pdf else "html"}
    if secrets is not None:
        details["secrets"] = secrets
    log_event(arch, "reported", details)
    click.echo(f"{output}: report of {capture_id}")
    # written all the same: a report of what fails, and where, is what a person needs
    refuse_failed(facts.verification, capture_id, f"the report says where: {output}")
