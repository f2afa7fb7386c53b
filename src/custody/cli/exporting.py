"""Exporting captures for others to replay and check: a signed WACZ."""

from __future__ import annotations

from pathlib import Path

import click

from .common import (
    allow_secrets_option,
    complete_seals,
    guarded,
    root_option,
    say_secrets,
    signing_key,
)


@click.command()
@root_option
@click.argument("capture_ids", nargs=-1, required=True, metavar="CAPTURE-ID...")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The WACZ file to write (it must not exist).")
@click.option("--include-credentials", is_flag=True,
              help="Also put in the archivist's session secrets that the WARC holds only "
                   "as keyed hashes (never without this flag).")
@allow_secrets_option
def export(root: str | None, capture_ids: tuple[str, ...], output: str,
           include_credentials: bool, allow_secrets: bool) -> None:
    """Export captures as one WACZ 1.1.1 file, signed, with their proof inside.

    ReplayWeb.page, pywb and py-wacz read it; custody/VERIFY.md inside says how to check
    it with standard tools alone. Where the session's secrets of a capture made with it
    appear in it, nothing is written without --allow-secrets (`custody secrets`).

    \b
    custody export 20261121T101500Z-1a2b3c4d -o statement.wacz
    """
    from ..core.archive import Archive
    from ..core.capture_ids import check_capture_id
    from ..core.errors import KeyProblem
    from ..export.wacz import write_wacz
    from .handing_over import digest, handed_over, logged

    arch = Archive.open(root)
    ids = [check_capture_id(cid) for cid in capture_ids]
    key = signing_key(arch)
    principal = arch.principal_for(key.public_key())
    if principal is None:
        raise KeyProblem("this key is not one of the archive's archivists (custody key add, "
                         "or custody key rotate)")
    complete_seals(arch, key, principal)
    with handed_over(Path(output)) as partial:
        summary = guarded(ids, lambda: write_wacz(arch, ids, partial, key=key,
                                                  principal=principal,
                                                  include_credentials=include_credentials,
                                                  allow_secrets=allow_secrets))
        details: dict[str, object] = {"capture_ids": ids, "file": Path(output).name,
                                      "sha256": digest(partial), "format": "wacz",
                                      "credentials": include_credentials}
        if summary.get("secrets") is not None:
            details["secrets"] = summary["secrets"]
            say_secrets(summary["secrets"])
        logged(arch, "exported", details)
    click.echo(f"{output}: {summary['captures']} capture"
               f"{'' if summary['captures'] == 1 else 's'}, {summary['pages']} pages, "
               f"{summary['warc_files']} WARC files, signed by {principal}")
