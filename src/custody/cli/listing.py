"""Finding captures and what their text names: `custody list` (newest first, filtered,
paged) and `custody selectors` (emails, phone numbers, handles, profiles, crypto
addresses, with the pages that hold them)."""

from __future__ import annotations

import click

from ..core.errors import UsageError
from .common import echo_json, json_option, plain_table, root_option


@click.command("list")
@root_option
@click.option("--case", "case_ref", metavar="CASE", help="Only the captures of this case.")
@click.option("--tag", metavar="TAG", help="Only captures with this tag.")
@click.option("--site", metavar="HOST", help="Only captures of pages of this host (and its "
                                            "subdomains).")
@click.option("--since", metavar="DATE", help="Only captures started from this date "
                                              "(YYYY-MM-DD, or a time, UTC) on.")
@click.option("--until", metavar="DATE", help="Only captures started up to this date "
                                              "(inclusive), or time.")
@click.option("--lang", "language", metavar="CODE", help="Only captures with a page in this "
                                                         "language (ISO 639-1).")
@click.option("--status", help="Only captures of this status (complete, partial, failed, "
                               "interrupted, imported, imported-damaged).")
@click.option("--imported/--not-imported", default=None,
              help="Only files imported from other tools, or only captures made here.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="Captures on a page.")
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True,
              help="Captures to skip (the page's start).")
@click.option("--ids", "ids_only", is_flag=True,
              help="Print only the ids, one a line (for `custody case add CASE -`).")
@json_option
def list_command(root: str | None, case_ref: str | None, tag: str | None, site: str | None,
                 since: str | None, until: str | None, language: str | None,
                 status: str | None, imported: bool | None, limit: int, offset: int,
                 ids_only: bool, as_json: bool) -> None:
    """The captures, newest first: when, status, URL, title, cases and tags.

    \b
    custody list
    custody list --case "Protests, Zahedan, 2026" --tag weapons
    custody list --site example.org --since 2026-11-01 --lang fa --json
    custody list --limit 100 --offset 100
    """
    from ..annotate import CaptureFilters, list_captures
    from ..core.archive import Archive

    filters = CaptureFilters(case=case_ref, tag=tag, site=site, since=since, until=until,
                             language=language, status=status, imported=imported)
    page = list_captures(Archive.open(root), filters, limit=limit, offset=offset)
    if as_json:
        echo_json("list", {"total": page.total, "limit": page.limit, "offset": page.offset,
                           "captures": page.captures})
        return
    if ids_only:
        for row in page.captures:
            click.echo(row.id)
        return
    rows = [[r.started_at[:19].replace("T", " "), r.id, r.status, r.final_url or r.seed_url,
             r.title or "", ", ".join(r.cases), ", ".join(r.tags)] for r in page.captures]
    if rows:
        click.echo(plain_table(["started (UTC)", "capture", "status", "url", "title", "cases",
                                "tags"], rows, width=48))
    shown = f"{offset + 1}-{offset + len(rows)}" if rows else "none"
    click.echo(f"{shown} of {page.total} capture{'' if page.total == 1 else 's'}", err=True)


@click.command()
@root_option
@click.argument("capture_id", required=False)
@click.option("--case", "case_ref", metavar="CASE", help="The selectors of a case's captures.")
@click.option("--kind", type=click.Choice(["email", "phone", "handle", "profile", "btc", "eth"]),
              help="Only this kind.")
@click.option("--value", metavar="SELECTOR",
              help="Every page of the archive that holds this one (with --kind).")
@json_option
def selectors(root: str | None, capture_id: str | None, case_ref: str | None,
              kind: str | None, value: str | None, as_json: bool) -> None:
    """Selectors in the captured text -- emails, phone numbers, @handles, profile URLs,
    Bitcoin and Ethereum addresses (checksums held) -- with the pages that hold them.

    \b
    custody selectors 20261121T101500Z-1a2b3c4d
    custody selectors --case "Protests, Zahedan, 2026" --kind email
    custody selectors --kind phone --value +982112345678
    """
    from ..annotate import pages_with, selectors_of_capture, selectors_of_case
    from ..core.archive import Archive

    chosen = sum(x is not None for x in (capture_id, case_ref, value))
    if chosen != 1:
        raise UsageError("give a capture id, --case CASE, or --kind KIND --value SELECTOR")
    arch = Archive.open(root)
    if value is not None:
        if kind is None:
            raise UsageError("--value needs --kind (email, phone, handle, profile, btc, eth)")
        found = [pages_with(arch, kind, value)]
    elif case_ref is not None:
        found = selectors_of_case(arch, case_ref, kind=kind)
    else:
        found = selectors_of_capture(arch, str(capture_id), kind=kind)
    if as_json:
        echo_json("selectors", {"selectors": [
            {"kind": s.kind, "value": s.value, "count": s.count, "pages": s.pages}
            for s in found]})
        return
    for one in found:
        if not one.pages:
            continue
        click.echo(f"{one.kind:8} {one.value}  ({one.count} in {len(one.pages)} "
                   f"page{'' if len(one.pages) == 1 else 's'})")
        for seen in one.pages[:20]:
            click.echo(f"         {seen.capture_id}  {seen.url}")
        if len(one.pages) > 20:
            click.echo(f"         ... and {len(one.pages) - 20} more (--json lists them all)")
    if not any(one.pages for one in found):
        click.echo("no selectors", err=True)
