"""Cases: `custody case create|list|show|add|remove|rename|close|reopen|export`. Each
change is a signed event in the custody log (custody.annotate); an export writes one
signed package of the case (custody.export.case)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..core.errors import UsageError
from ..core.terminal import for_terminal
from .common import (
    account_option,
    allow_secrets_option,
    annotator,
    archivist,
    complete_seals,
    echo_json,
    guarded,
    json_option,
    plain_table,
    root_option,
    say_secrets,
)


def _ids(capture_ids: tuple[str, ...]) -> list[str]:
    """The ids given, a lone ``-`` read as ids from standard input (one or more a line,
    `#` comments and blank lines skipped), as `custody list --ids` prints them."""
    out: list[str] = []
    for one in capture_ids:
        if one == "-":
            for line in sys.stdin.read().splitlines():
                out += line.split("#", 1)[0].split()
        else:
            out.append(one)
    if not out:
        raise UsageError("no capture ids given")
    return out


def _say_case(case: Any) -> None:
    click.echo(f"{case.id}  {case.name}  ({case.status}, {case.captures} captures, "
               f"{case.notes} notes)")


@click.group()
def case() -> None:
    """Cases: captures gathered for one investigation, each change a signed event.

    \b
    custody case create "Protests, Zahedan, 2026"
    custody case add "Protests, Zahedan, 2026" 20261121T101500Z-1a2b3c4d
    custody case export "Protests, Zahedan, 2026" -o handover/
    """


@case.command("create")
@root_option
@click.argument("name")
@click.option("--description", metavar="TEXT", help="What the case is about.")
@account_option
@json_option
def case_create(root: str | None, name: str, description: str | None, account: str | None,
                as_json: bool) -> None:
    """Create a case (its name unique in the archive, whatever its case and spacing).

    \b
    custody case create "Protests, Zahedan, 2026" --description "Videos and statements"
    """
    from ..annotate import create_case

    arch, signer = annotator(root, account)
    made = create_case(arch, name, signer=signer, description=description)
    if as_json:
        echo_json("case", {"case": made})
        return
    _say_case(made)


@case.command("list")
@root_option
@click.option("--status", type=click.Choice(["open", "closed"]), help="Only open or closed.")
@json_option
def case_list(root: str | None, status: str | None, as_json: bool) -> None:
    """The archive's cases, the most recently changed first.

    \b
    custody case list
    custody case list --status open --json
    """
    from ..annotate import list_cases
    from ..core.archive import Archive

    cases = list_cases(Archive.open(root), status=status)
    if as_json:
        echo_json("cases", {"cases": cases})
        return
    if not cases:
        click.echo("no cases", err=True)
        return
    click.echo(plain_table(["id", "name", "status", "captures", "notes", "changed"],
                           [[c.id, c.name, c.status, c.captures, c.notes, c.changed_at]
                            for c in cases]))


@case.command("show")
@root_option
@click.argument("ref", metavar="CASE")
@json_option
def case_show(root: str | None, ref: str, as_json: bool) -> None:
    """A case: its captures (newest first), their tags and notes.

    \b
    custody case show "Protests, Zahedan, 2026"
    """
    from ..annotate import notes_of, show_case, tags_of
    from ..core.archive import Archive

    arch = Archive.open(root)
    detail = show_case(arch, ref)
    notes = notes_of(arch, case=detail.case.id)
    tags = {c.capture_id: [t.tag for t in tags_of(arch, c.capture_id)]
            for c in detail.captures}
    if as_json:
        echo_json("case", {"case": detail.case, "captures": detail.captures, "tags": tags,
                           "notes": notes, "events": detail.events})
        return
    c = detail.case
    click.echo(f"case      {c.id}  {c.name}")
    click.echo(f"status    {c.status}" + (f" ({c.reason})" if c.reason else ""))
    click.echo(f"created   {c.created_at} by {c.created_by}")
    if c.description:
        click.echo(f"about     {c.description}")
    for one in detail.captures:
        click.echo(f"capture   {one.capture_id}  {one.started_at}  {one.status}  "
                   f"{for_terminal(one.final_url or one.seed_url or '')}")
        click.echo(f"          {for_terminal(one.title or '(no title)')}"
                   + (f"  [{', '.join(tags[one.capture_id])}]" if tags[one.capture_id] else ""))
    for note in notes:
        state = "retracted" if note.retracted_at else \
            f"superseded by {note.superseded_by}" if note.superseded_by else ""
        click.echo(f"note      {note.id}  {note.capture_id}  {note.at}  {note.who}"
                   + (f" ({note.account})" if note.account else "") + (f"  [{state}]"
                                                                       if state else ""))
        for line in note.text.splitlines():
            click.echo(f"          {line}")
        if note.quote is not None:
            click.echo(f"          > {note.quote.text}  ({note.quote.url}, characters "
                       f"{note.quote.start}-{note.quote.end})")


@case.command("add")
@root_option
@click.argument("ref", metavar="CASE")
@click.argument("capture_ids", nargs=-1, required=True, metavar="CAPTURE-ID...")
@account_option
def case_add(root: str | None, ref: str, capture_ids: tuple[str, ...],
             account: str | None) -> None:
    """Add captures to a case (`-` reads their ids from standard input).

    \b
    custody case add "Protests, Zahedan, 2026" 20261121T101500Z-1a2b3c4d
    custody list --site example.org --ids | custody case add "Protests, Zahedan, 2026" -
    """
    from ..annotate import add_to_case

    arch, signer = annotator(root, account)
    written = add_to_case(arch, ref, _ids(capture_ids), signer=signer)
    added = sum(len(r.details["capture_ids"]) for r in written)
    click.echo(f"{added} capture{'' if added == 1 else 's'} added "
               f"(event{'' if len(written) == 1 else 's'} "
               f"{', '.join(str(r.seq) for r in written)})")


@case.command("remove")
@root_option
@click.argument("ref", metavar="CASE")
@click.argument("capture_ids", nargs=-1, required=True, metavar="CAPTURE-ID...")
@click.option("--reason", metavar="TEXT", help="Why they are taken out (kept in the event).")
@account_option
def case_remove(root: str | None, ref: str, capture_ids: tuple[str, ...],
                reason: str | None, account: str | None) -> None:
    """Take captures out of a case (they, and the notes on them, stay in the archive).

    \b
    custody case remove "Protests, Zahedan, 2026" 20261121T101500Z-1a2b3c4d --reason "dup"
    """
    from ..annotate import remove_from_case

    arch, signer = annotator(root, account)
    written = remove_from_case(arch, ref, _ids(capture_ids), signer=signer, reason=reason)
    removed = sum(len(r.details["capture_ids"]) for r in written)
    click.echo(f"{removed} capture{'' if removed == 1 else 's'} removed")


@case.command("rename")
@root_option
@click.argument("ref", metavar="CASE")
@click.argument("name")
@account_option
def case_rename(root: str | None, ref: str, name: str, account: str | None) -> None:
    """Rename a case (its id, and its events, stay).

    \b
    custody case rename "Zahedan" "Protests, Zahedan, 2026"
    """
    from ..annotate import rename_case

    arch, signer = annotator(root, account)
    _say_case(rename_case(arch, ref, name, signer=signer))


@case.command("close")
@root_option
@click.argument("ref", metavar="CASE")
@click.option("--reason", metavar="TEXT", help="Why (kept in the event).")
@account_option
def case_close(root: str | None, ref: str, reason: str | None, account: str | None) -> None:
    """Close a case: no capture is added or removed until it is reopened.

    \b
    custody case close "Protests, Zahedan, 2026" --reason "handed to counsel"
    """
    from ..annotate import close_case

    arch, signer = annotator(root, account)
    _say_case(close_case(arch, ref, signer=signer, reason=reason))


@case.command("reopen")
@root_option
@click.argument("ref", metavar="CASE")
@click.option("--reason", metavar="TEXT", help="Why (kept in the event).")
@account_option
def case_reopen(root: str | None, ref: str, reason: str | None, account: str | None) -> None:
    """Reopen a closed case.

    \b
    custody case reopen "Protests, Zahedan, 2026" --reason "new material"
    """
    from ..annotate import reopen_case

    arch, signer = annotator(root, account)
    _say_case(reopen_case(arch, ref, signer=signer, reason=reason))


@case.command("export")
@root_option
@click.argument("ref", metavar="CASE")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="The folder to write the package into (new or empty).")
@click.option("--include-credentials", is_flag=True,
              help="Also put in the archivist's session secrets that the WARCs hold only "
                   "as keyed hashes (never without this flag).")
@allow_secrets_option
def case_export(root: str | None, ref: str, output: str, include_credentials: bool,
                allow_secrets: bool) -> None:
    """Write one signed package of a case: each capture's evidence bundle, the case's
    events as the custody log holds them (with their places and the log's signed head),
    a case report for people, a manifest signed by the archivist, and VERIFY.md with the
    commands that check it all without custody.

    \b
    custody case export "Protests, Zahedan, 2026" -o handover/
    """
    from ..core.archive import Archive
    from ..export.case import write_case_package
    from .handing_over import handed_over, logged

    arch = Archive.open(root)
    key, principal = archivist(arch)
    complete_seals(arch, key, principal)
    with handed_over(Path(output), folder="the package folder") as partial:
        package = guarded([], lambda: write_case_package(
            arch, ref, partial, key=key, principal=principal,
            include_credentials=include_credentials, allow_secrets=allow_secrets))
        details: dict[str, object] = {"case_id": package.case_id, "name": package.name,
                                      "capture_ids": package.capture_ids,
                                      "folder": Path(output).name,
                                      "manifest_sha256": package.manifest_sha256,
                                      "credentials": include_credentials}
        if package.secrets is not None:
            details["secrets"] = package.secrets
            say_secrets(package.secrets)
        logged(arch, "case-exported", details)
    click.echo(f"{output}: {len(package.capture_ids)} captures, {package.events} events, "
               f"{package.files} files, signed by {principal}; see "
               f"{Path(output) / 'VERIFY.md'}")
