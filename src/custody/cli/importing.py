"""Importing: `custody import`, files from other tools brought under custody."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..core.errors import ExitCode, UsageError
from .common import complete_seals, json_option, root_option, signing_key


@click.command("import")
@root_option
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--accept-damaged", is_flag=True,
              help="Import a file that fails `custody check`, its verdict recorded.")
@click.option("--allow-overlap", is_flag=True,
              help="Import a file whose records the archive holds already (in another "
                   "container), the overlap recorded in its manifest.")
@json_option
def import_command(root: str | None, files: tuple[str, ...], accept_damaged: bool,
                   allow_overlap: bool, as_json: bool) -> None:
    """Bring WARC, ARC and WACZ files from other tools under custody.

    Each file is checked (as `custody check` does), copied byte for byte into
    archive/imported/, sealed in a manifest of its own that says what was imported, from
    where, its sha256, when, by whom and the check's verdict, added to the ledger, and
    its pages extracted and indexed (search, history and diff show them, marked
    imported). A file that fails the check is refused unless --accept-damaged; a file
    imported before is left alone; a file whose response records are all in the archive
    already (the same WARC in another container, an export brought back) is refused
    unless --allow-overlap, and one that holds some is imported with them listed. A
    refusal is said on stderr; the other files are still imported.

    Exit 0: every file imported (or imported before); 1: a file was refused (it fails
    the check, or is no WARC, ARC or WACZ file).

    \b
    custody import partner-crawl.warc.gz
    custody import browsertrix-export.wacz
    custody import --accept-damaged truncated.warc
    """
    from ..core.archive import Archive
    from ..core.terminal import path_text, shown_path
    from ..ingest.importing import import_file

    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise UsageError("no such file", where=", ".join(shown_path(f) for f in missing))
    arch = Archive.open(root)
    key = signing_key(arch)
    principal = arch.principal_for(key.public_key())
    if principal is None:
        from ..core.errors import KeyProblem

        raise KeyProblem("this key is not in the archive's allowed_signers "
                         "(`custody init` adds it)")
    results = []
    complete_seals(arch, key, principal)
    with arch.lock():
        for name in dict.fromkeys(files):
            result = import_file(arch, Path(name), key=key, accept_damaged=accept_damaged,
                                 allow_overlap=allow_overlap)
            results.append(result)
            if result.status == "refused":  # a diagnostic, whatever the output's form
                click.echo(f"custody: error: {shown_path(name)}: {result.message}", err=True)
            elif not as_json:
                click.echo(f"{shown_path(name)}: {result.message}")
    if as_json:
        click.echo(json.dumps([{"file": path_text(r.source), "status": r.status,
                                "capture_id": r.capture_id, "verdict": r.verdict,
                                "message": r.message, "records": r.records,
                                "documents": r.documents,
                                "seconds": {k: round(v, 3) for k, v in r.timings.items()}}
                               for r in results], ensure_ascii=False, indent=2))
    if any(r.status == "refused" for r in results):
        sys.exit(ExitCode.FAILED)
