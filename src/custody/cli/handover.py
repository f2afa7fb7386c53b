"""What would go out: `custody secrets`, the search that bundle, export and report make
before they write anything (common.search_before), on its own."""

from __future__ import annotations

import json

import click

from ..core.errors import ExitCode
from .common import json_option, root_option


@click.command("secrets")
@root_option
@click.argument("capture_ids", nargs=-1, required=True, metavar="CAPTURE-ID...")
@json_option
def secrets_command(root: str | None, capture_ids: tuple[str, ...], as_json: bool) -> None:
    """Where the captures' session secrets appear in what a bundle, an export or a report
    of them would carry: one line per place, without the value (exit 0: nowhere; 1: some
    place; 6: some values could not be searched for).

    \b
    custody secrets 20261121T101500Z-1a2b3c4d
    """
    from ..core.archive import Archive
    from ..core.capture_ids import check_capture_id
    from ..report.secrets import search

    arch = Archive.open(root)
    ids = [check_capture_id(cid) for cid in capture_ids]
    found = search(arch, ids)
    if as_json:
        click.echo(json.dumps({
            "format": "custody-secrets/1", "capture_ids": ids, **found.summary(),
            "unsearchable_reasons": found.unsearchable,
            "found": [{"secret": s.label, "kind": s.kind, "name": s.name, "hmac": s.hmac,
                       "where": where} for s, where in found.places]},
            ensure_ascii=False, indent=2))
    else:
        for line in found.lines():
            click.echo(line)
        click.echo(f"{len(found.searched)} values searched for, {len(found.places)} places "
                   f"found; {len(found.short)} too short to search for; {found.pictures} "
                   "screenshots and PDFs not readable", err=True)
    if found.places:
        raise SystemExit(ExitCode.FAILED)
    if found.unsearchable:
        raise SystemExit(ExitCode.UNCHECKED)
