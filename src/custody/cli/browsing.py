"""Looking at an archive: read-only SQL (or Datasette over it), full-text search, what a
capture holds, a page's history, and a diff between captures."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..core.errors import ExitCode
from ..core.terminal import for_terminal
from .common import (
    csv_option,
    json_option,
    json_rows_option,
    print_rows,
    root_option,
    timeout_option,
)

# -- versions --------------------------------------------------------------------------------------


@click.command()
@root_option
@click.argument("url")
@json_option
def history(root: str | None, url: str, as_json: bool) -> None:
    """Every capture of a URL: when, status, text sha256, and whether the text changed.

    \b
    custody history https://example.org/statement
    """
    from ..core.archive import Archive
    from ..index.query import open_readonly
    from ..index.versions import history as run_history

    arch = Archive.open(root)
    rows = run_history(open_readonly(arch.db_path), url)
    gone = _manifests_gone(arch, [row["capture_id"] for row in rows])
    if as_json:
        click.echo(json.dumps([{**row, "manifest_gone": row["capture_id"] in gone}
                               for row in rows], indent=2))
    elif not rows:
        from ..core.errors import NotFound

        raise NotFound("never captured", where=url)
    changed = {None: "first", True: "CHANGED", False: "same"}
    for row in [] if as_json else rows:
        text = (row["text_sha256"] or "-")[:16]
        click.echo(f"{row['captured_at']}  {row['capture_id']}  {row['status']}  text {text}  "
                   f"{changed[row['text_changed']]}" + ("  imported" if row["imported"] else "")
                   + ("  MANIFEST GONE" if row["capture_id"] in gone else ""))
    _fail_if_gone(gone)


def _manifests_gone(arch: Any, capture_ids: list[str]) -> list[str]:
    """The captures custody.db names whose sealed manifest is no longer in the archive:
    what the database says of them rests on nothing sealed."""
    from ..core.capture_ids import is_capture_id
    from ..seal.manifest import manifest_path

    return [c for c in dict.fromkeys(capture_ids)
            if not is_capture_id(c) or not manifest_path(arch.manifests_dir, c).exists()]


def _fail_if_gone(gone: list[str]) -> None:
    if gone:
        click.echo(f"custody: error: the manifest of {', '.join(gone)} is gone from the "
                   "archive: what the database says of it rests on nothing sealed "
                   "(`custody verify` says what changed)", err=True)
        sys.exit(ExitCode.FAILED)


@click.command()
@root_option
@click.argument("first")
@click.argument("second")
@click.argument("url", required=False)
def diff(root: str | None, first: str, second: str, url: str | None) -> None:
    """Line diff of a page's extracted text in two captures (exit 0 same, 1 different).

    Without URL, every page the two captures share is compared (and when they share
    none, each one's pages are named, to pick one).

    \b
    custody diff 20261101T090000Z-1a2b3c4d 20261121T101500Z-5e6f7a8b
    custody diff A B https://example.org/statement
    """
    from ..core.archive import Archive
    from ..index.query import open_readonly
    from ..index.versions import diff as run_diff

    arch = Archive.open(root)
    same, lines = run_diff(open_readonly(arch.db_path), first, second, url)
    _fail_if_gone(_manifests_gone(arch, [first, second]))
    for line in lines:
        click.echo(line)
    if not same:
        sys.exit(ExitCode.FAILED)
    click.echo("the text is the same in both captures", err=True)


db_option = click.option(
    "--db", "db_url", envvar="CUSTODY_DB", metavar="URL",
    help="Ask the index in PostgreSQL (postgresql://HOST/DB; `custody reindex --db` fills "
         "it) instead of custody.db (env CUSTODY_DB).")


@click.command()
@root_option
@click.argument("sql", required=False)
@json_rows_option
@csv_option
@timeout_option
@db_option
@click.option("--serve", "datasette", is_flag=True,
              help="Browse custody.db in Datasette, read-only, instead (pip install "
                   "'custody[datasette]'); --port sets its port.")
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True,
              help="With --serve: Datasette's port.")
def query(root: str | None, sql: str | None, fmt: str | None, timeout: float,
          db_url: str | None, datasette: bool, port: int) -> None:
    """Run read-only SQL against custody.db (anything but reading is refused).

    \b
    custody query "select url, status_code, ip from resources"
    custody query "select capture_id, url, title from documents" --json
    custody query --db postgresql://index.example/evidence "select count(*) from documents"
    custody query --serve --port 8001
    """
    from ..core.archive import Archive
    from ..core.errors import UsageError
    from ..index.query import open_for_query, run_query

    if datasette:
        from ..index.datasette import serve as run_datasette

        if sql is not None:
            raise UsageError("--serve browses the whole database: give no SQL with it")
        archive = Archive.open(root)
        sys.exit(run_datasette(archive.db_path, title=f"custody archive {archive.root.name}",
                               host="127.0.0.1", port=port))
    if sql is None:
        raise UsageError("give the SQL to run (or --serve)")

    if db_url is not None:
        from ..index import postgres

        columns, found = postgres.run_query(postgres.check_url(db_url), sql, timeout=timeout)
        print_rows(columns, found, fmt or "table")
        return
    conn = open_for_query(Archive.open(root).db_path)
    columns, rows = run_query(conn, sql, timeout=timeout)
    print_rows(columns, rows, fmt or "table")


@click.command()
@root_option
@click.argument("words", nargs=-1, required=True)
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="At most this many hits, best first.")
@click.option("--site", help="Only pages of this host (and its subdomains).")
@click.option("--lang", help="Only documents in this language (ISO 639-1: en, fa, ru, ar...).")
@click.option("--since", help="Only captures from this date (YYYY-MM-DD, UTC) on.")
@click.option("--until", help="Only captures up to this date (YYYY-MM-DD, UTC), inclusive.")
@click.option("--capture", "capture_id", help="Only this capture.")
@click.option("--rank-all", is_flag=True,
              help="Rank every matching document, however many (by default the newest "
                   "5,000 that match are ranked; slower in a large archive).")
@timeout_option
@db_option
@json_option
def search(root: str | None, words: tuple[str, ...], limit: int, site: str | None,
           lang: str | None, since: str | None, until: str | None, capture_id: str | None,
           rank_all: bool, timeout: float, db_url: str | None, as_json: bool) -> None:
    """Full-text search over titles and text, best matches first (bm25).

    Words match their other forms (massacre, massacres; Иран, Ирана) and are folded
    (ي/ی, ك/ک, ё/е, digits); "exact phrases", AND, OR, NOT, (groups) and prefix* work.
    A page is listed once per capture. When more than 5,000 documents match, the newest
    5,000 are ranked, and a note on stderr says so: add words or a filter, or --rank-all.

    \b
    custody search massacre
    custody search '"information blockade"' --json
    custody search 'ایران NOT اینترنت' --lang fa --since 2026-01-01
    """
    from ..core.archive import Archive
    from ..index.query import open_readonly
    from ..index.search import WINDOW, Filters
    from ..index.search import search as run_search

    if capture_id is not None:
        from ..core.capture_ids import check_capture_id

        capture_id = check_capture_id(capture_id)  # (exit 2: not a capture id at all)
    filters = Filters(site=site, lang=lang, since=since, until=until, capture=capture_id)
    if db_url is not None:
        from ..index import postgres, postgres_search

        hits = postgres_search.search(postgres.check_url(db_url), " ".join(words),
                                      limit=limit, filters=filters, timeout=timeout,
                                      window=None if rank_all else WINDOW)
        windowed = getattr(hits, "windowed", False)
        here = _archive_db(root)  # what the index says of this archive's captures: its own
        if here is not None:
            try:
                hits = postgres_search.own_hits(here, hits, " ".join(words))
            finally:
                here.close()
    else:
        conn = open_readonly(Archive.open(root).db_path)
        if capture_id is not None and conn.execute("SELECT 1 FROM captures WHERE id = ?",
                                                   [capture_id]).fetchone() is None:
            from ..core.errors import NotFound

            raise NotFound("no such capture", where=capture_id)
        hits = run_search(conn, " ".join(words), limit=limit, filters=filters,
                          timeout=timeout, window=None if rank_all else WINDOW)
        windowed = getattr(hits, "windowed", False)
    if windowed:
        click.echo(f"custody: note: more than {WINDOW:,} documents match; the newest "
                   f"{WINDOW:,} were ranked (add words or a filter, or --rank-all)", err=True)
    if as_json:
        click.echo(json.dumps([{k: v for k, v in h.items() if k != "marked"} for h in hits],
                              ensure_ascii=False, indent=2))
        return
    for hit in hits:
        click.echo(f"{hit['captured_at']}  {hit['capture_id']}  {for_terminal(hit['url'])}"
                   + ("  (imported)" if hit["imported"] else "")
                   + ("  (sealed elsewhere: only the index says so)" if hit.get("elsewhere")
                      else ""))
        click.echo(f"    {for_terminal(hit['title'] or '')}")
        click.echo(f"    {for_terminal(hit['snippet'])}")
    if not hits:
        click.echo("no matches", err=True)


@click.command()
@root_option
@click.argument("capture_id")
@click.option("--no-check", is_flag=True, help="Do not verify the capture first.")
@json_option
def show(root: str | None, capture_id: str, no_check: bool, as_json: bool) -> None:
    """What a capture holds: its seeds and where they led, when, from where, every
    response, the pages the browser loaded and what it made of them (screenshots, PDF,
    DOM), the pages' titles, failures, timestamps, and whether it verifies now.

    With --json, the manifest itself.

    \b
    custody show 20261121T101500Z-1a2b3c4d
    """
    from ..core.archive import Archive
    from ..report.summary import summarise

    summary = summarise(Archive.open(root), capture_id, check=not no_check and not as_json)
    content = summary.content
    if as_json:
        click.echo(json.dumps(content, ensure_ascii=False, indent=2))
        return
    collector = content.get("collector") or {}
    click.echo(f"capture   {content['capture_id']}  ({content['status']}, sequence "
               f"{content['chain']['sequence']})")
    finals = content.get("final_urls") or {}
    for seed in content.get("seed_urls") or [content["seed_url"]]:
        final = finals.get(seed, seed)
        click.echo(f"seed      {seed}" + (f"  ->  {final}" if final != seed else ""))
    click.echo(f"time      {content['started_at']} .. {content['finished_at']} (UTC)")
    click.echo(f"sealed by {collector.get('operator')} {collector.get('key_fingerprint')} on "
               f"{collector.get('host')}, custody {collector.get('version')}")
    click.echo(f"manifest  sha256 {summary.manifest_sha256}")
    for line in summary.timestamps:
        click.echo(f"timestamp {line}")
    if summary.verification:
        click.echo(f"verifies  {summary.verification}")
        for problem in summary.problems:
            click.echo(f"          {problem}")
    for f in content["warc_files"]:
        click.echo(f"warc      {f['path']}  {f['bytes']} bytes (the file)  sha256 {f['sha256']}")
    for r in content["records"]:
        if r["type"] != "response":
            continue
        where = summary.locations.get(r["record_id"])
        cut = f"  [truncated: {r['truncated']}, kept as received]" if r.get("truncated") \
            else ""
        click.echo(f"  {r['http_status']}  {r['target_uri']}  {r.get('ip') or ''}  "
                   f"({r.get('payload_type') or ''}){cut}" + (f"  ->  {where}" if where else ""))
    from ..browser.replay_check import said

    for visit in content.get("visits") or []:
        when = (f"recorded at {visit['recorded_at']}" if visit.get("recorded_at") else
                f"shown {visit.get('started_at')} .. {visit.get('finished_at')}")
        outcome = f"failed: {visit['error']}" if visit.get("error") else \
            f"{visit['requests']} requests, {when}"
        click.echo(f"browser   {visit['final_url']}  ({for_terminal(outcome)})")
        for mark in visit.get("marks") or []:  # an interactive capture's (--interactive)
            click.echo(f"          {mark['why']} at {mark['at']}: {for_terminal(mark['url'])}"
                       f"  {for_terminal(mark.get('title') or '(no title)')}"
                       + ("" if mark.get("records") else "  (no picture)"))
        if checked := said(visit.get("replay")):
            click.echo(f"          {for_terminal(checked)}")
        for note in visit.get("notes") or []:
            click.echo(f"          {for_terminal(str(note))}")
    for r in content["records"]:
        kind, _, page = (r.get("target_uri") or "").removeprefix("urn:").partition(":")
        if r["type"] == "resource" and page and (r.get("target_uri") or "").startswith("urn:"):
            click.echo(f"render    {kind}  {page}  {r['length']} bytes (its record in the "
                       f"WARC, gzip)  sha256 {r['block_sha256']} (of the file)")
    for d in content["documents"]:
        meta = d.get("metadata")  # sealed with the document; older manifests: the database
        title = meta.get("title") if meta else summary.titles.get(d["url"])
        language = meta.get("language") if meta else summary.languages.get(d["url"])
        source = "  (as rendered)" if meta and meta.get("source") == "rendered" else ""
        click.echo(f"document  {for_terminal(d['url'])}{source}  [{language or '?'}]  "
                   f"{for_terminal(title or '(no title)')}")
    for fail in content["failures"]:
        click.echo(f"failed    {for_terminal(fail['url'])}: {fail['kind']}: "
                   f"{for_terminal(fail['reason'])}")


def _archive_db(root: str | None) -> Any:
    """This archive's custody.db, read-only; None where there is no archive or no index."""
    from ..core.archive import Archive
    from ..core.errors import CustodyError
    from ..index.query import open_readonly

    try:
        archive = Archive.open(root)
    except CustodyError:
        return None
    return open_readonly(archive.db_path) if archive.db_path.exists() else None
