"""Tags and notes on captures: `custody tag`, `untag`, `tags`, `note`, `notes`, `retract`.
Each change is a signed event in the custody log (custody.annotate); a note is never
edited, only superseded by a newer one or retracted."""

from __future__ import annotations

import click

from .common import (
    account_option,
    annotator,
    echo_json,
    json_option,
    plain_table,
    root_option,
)


@click.command()
@root_option
@click.argument("capture_id")
@click.argument("tags", nargs=-1, required=True, metavar="TAG...")
@account_option
def tag(root: str | None, capture_id: str, tags: tuple[str, ...], account: str | None) -> None:
    """Tag a capture (each tag a signed event; "Weapons" and "weapons" are one tag).

    \b
    custody tag 20261121T101500Z-1a2b3c4d weapons "needs translation"
    """
    from ..annotate import tag_capture

    arch, signer = annotator(root, account)
    for one in tags:
        recorded = tag_capture(arch, capture_id, one, signer=signer)
        click.echo(f"{capture_id}  tagged {recorded.details['tag']!r} (event {recorded.seq})")


@click.command()
@root_option
@click.argument("capture_id")
@click.argument("tags", nargs=-1, required=True, metavar="TAG...")
@account_option
def untag(root: str | None, capture_id: str, tags: tuple[str, ...],
          account: str | None) -> None:
    """Take tags off a capture (each a signed event; the tagging stays in the log).

    \b
    custody untag 20261121T101500Z-1a2b3c4d "needs translation"
    """
    from ..annotate import untag_capture

    arch, signer = annotator(root, account)
    for one in tags:
        recorded = untag_capture(arch, capture_id, one, signer=signer)
        click.echo(f"{capture_id}  untagged {recorded.details['tag']!r} "
                   f"(event {recorded.seq})")


@click.command()
@root_option
@click.argument("capture_id", required=False)
@json_option
def tags(root: str | None, capture_id: str | None, as_json: bool) -> None:
    """The tags in use and how many captures bear each; or one capture's tags.

    \b
    custody tags
    custody tags 20261121T101500Z-1a2b3c4d
    """
    from ..annotate import all_tags, tags_of
    from ..core.archive import Archive

    arch = Archive.open(root)
    if capture_id is not None:
        found = tags_of(arch, capture_id)
        if as_json:
            echo_json("tags", {"capture_id": capture_id, "tags": found})
            return
        click.echo(plain_table(["tag", "at", "who"], [[t.tag, t.at, t.who] for t in found]))
        return
    counts = all_tags(arch)
    if as_json:
        echo_json("tags", {"tags": counts})
        return
    click.echo(plain_table(["tag", "captures"], [[t.tag, t.captures] for t in counts]))


@click.command()
@root_option
@click.argument("capture_id")
@click.argument("text")
@click.option("--quote", metavar="PASSAGE",
              help="A passage of the page's text the note is about: it must be in the sealed "
                   "text (white space matched loosely), and where it is is recorded.")
@click.option("--page", "page_url", metavar="URL", help="The page of the capture it is about.")
@click.option("--case", "case_ref", metavar="CASE",
              help="The case it was written for: a package of another case leaves it out.")
@click.option("--supersedes", metavar="NOTE-ID",
              help="The note this one corrects (which stays, marked superseded).")
@account_option
@json_option
def note(root: str | None, capture_id: str, text: str, quote: str | None,
         page_url: str | None, case_ref: str | None, supersedes: str | None,
         account: str | None, as_json: bool) -> None:
    """Note something about a capture (or one of its pages), as a signed event.

    Notes are never edited: write a new one with --supersedes, or `custody retract` one.

    \b
    custody note 20261121T101500Z-1a2b3c4d "The statement names the unit responsible."
    custody note 20261121T101500Z-1a2b3c4d "Date matches the video" \\
        --page https://example.org/statement --quote "on the night of 8 January"
    """
    from ..annotate import add_note

    arch, signer = annotator(root, account)
    made = add_note(arch, capture_id, text, signer=signer, page_url=page_url, quote=quote,
                    case=case_ref, supersedes=supersedes)
    if as_json:
        echo_json("note", {"note": made})
        return
    click.echo(f"{made.id}  on {made.capture_id} (event {made.seq})")
    if made.quote is not None:
        click.echo(f"    quoted from {made.quote.url}, characters {made.quote.start} to "
                   f"{made.quote.end} of its sealed text (sha256 {made.quote.text_sha256})")


@click.command()
@root_option
@click.argument("note_id")
@click.option("--reason", required=True, metavar="TEXT", help="Why it is withdrawn.")
@account_option
def retract(root: str | None, note_id: str, reason: str, account: str | None) -> None:
    """Withdraw a note, saying why (it stays in the log and in reports, marked so).

    \b
    custody retract note-1a2b3c4d5e6f --reason "wrong capture"
    """
    from ..annotate import retract_note

    arch, signer = annotator(root, account)
    done = retract_note(arch, note_id, reason=reason, signer=signer)
    click.echo(f"{done.id}  retracted ({done.retracted_at})")


@click.command()
@root_option
@click.argument("capture_id", required=False)
@click.option("--case", "case_ref", metavar="CASE", help="The notes on a case's captures.")
@click.option("--standing", is_flag=True, help="Leave out retracted and superseded notes.")
@json_option
def notes(root: str | None, capture_id: str | None, case_ref: str | None, standing: bool,
          as_json: bool) -> None:
    """The notes on a capture, on a case's captures, or all of them, oldest first.

    \b
    custody notes 20261121T101500Z-1a2b3c4d
    custody notes --case "Protests, Zahedan, 2026" --standing --json
    """
    from ..annotate import notes_of
    from ..core.archive import Archive

    found = notes_of(Archive.open(root), capture_id, case=case_ref, standing_only=standing)
    if as_json:
        echo_json("notes", {"notes": found})
        return
    for one in found:
        state = " [retracted: " + str(one.retracted_reason) + "]" if one.retracted_at else \
            f" [superseded by {one.superseded_by}]" if one.superseded_by else ""
        click.echo(f"{one.id}  {one.capture_id}  {one.at}  {one.who}"
                   + (f" ({one.account})" if one.account else "") + state)
        if one.page_url:
            click.echo(f"    page: {one.page_url}")
        for line in one.text.splitlines():
            click.echo(f"    {line}")
        if one.quote is not None:
            click.echo(f"    > {one.quote.text}")
    if not found:
        click.echo("no notes", err=True)
