"""Capturing: `custody archive` with its crawl options and how a capture's outcome is
reported, and `custody reindex`, which rebuilds the database from the sealed captures."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..capture.rules import SCOPES
from ..capture.settings import MAX_URLS
from ..core.errors import CustodyError, ExitCode, UsageError
from .common import (
    RegexType,
    SizeType,
    float_range,
    int_range,
    json_option,
    open_browser,
    open_media,
    page_options,
    root_option,
    signing_key,
)
from .progress import Progress
from .seeds import read_seeds

if TYPE_CHECKING:
    from ..extract.warm import WarmWorker

# -- archive -------------------------------------------------------------------------------------


@click.command()
@root_option
@click.argument("urls", nargs=-1)
@click.option("--from", "from_file", type=click.Path(dir_okay=False),
              help="Read URLs from FILE, one per line ('#' comments and blank lines ignored).")
@click.option("--resume", is_flag=True, help="Continue the last interrupted crawl.")
@click.option("--depth", type=int_range("depth"), default=0, show_default=True,
              help="Follow links this many steps from the seeds.")
@click.option("--scope", type=click.Choice(SCOPES),
              default="host", show_default=True, help="Which followed links are in scope.")
@click.option("--include", multiple=True, type=RegexType(),
              help="Also follow links matching REGEX (repeatable).")
@click.option("--exclude", multiple=True, type=RegexType(),
              help="Never fetch URLs matching REGEX (repeatable).")
@click.option("--no-requisites", is_flag=True, help="Fetch only the pages, not their requisites.")
@click.option("--max-pages", type=int_range("max_pages"), help="Stop starting pages after N.")
@click.option("--max-bytes", type=SizeType(),
              help="Cut each response body at SIZE (recorded as WARC-Truncated: length).")
@click.option("--time-limit", type=float_range("time_limit"),
              help="Stop starting fetches after SECONDS, and seal.")
@click.option("--timeout", type=float_range("timeout"), default=30.0, show_default=True,
              help="Seconds one response may take in all, headers and body.")
@click.option("--concurrency", type=int_range("concurrency"), default=8, show_default=True,
              help="Requests in flight at once, per host.")
@click.option("--delay", type=float_range("delay"), default=0.0, show_default=True,
              help="Seconds between requests to the same host (then one at a time).")
@click.option("--retries", type=int_range("retries"), default=2, show_default=True,
              help="Retries for timeouts, dropped connections, 429, 502, 503, 504.")
@click.option("--user-agent", help="User-Agent header (default: the installed Chromium's own, "
              "without \"Headless\", for every fetch of the capture).")
@click.option("--respect-robots", is_flag=True,
              help="Skip followed links that robots.txt disallows (default: off; see README).")
@click.option("--allow-private", is_flag=True,
              help="Let links and redirects reach loopback, private and reserved addresses.")
@click.option("--warc-size", type=SizeType(), default="1G", show_default=True,
              help="Start a new WARC file once one reaches SIZE.")
@click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False),
              envvar="CUSTODY_CA_BUNDLE", help="Trust these CA certificates for HTTPS.")
@click.option("--insecure", is_flag=True,
              help="Archive HTTPS even when the certificate does not verify (recorded as such).")
@click.option("--tsa", multiple=True, metavar="URL",
              help="RFC 3161 time-stamping authority (repeatable; default: custody.toml).")
@click.option("--browser", is_flag=True,
              help="Load each page in headless Chromium, through custody's recording proxy; "
                   "keep a screenshot, a PDF and the rendered DOM of each.")
@click.option("--interactive", is_flag=True,
              help="Open a Chromium window on this display to browse in (log in, scroll, "
                   "open comments): every request is recorded and each page shown is a "
                   "visit; Ctrl+Shift+S marks what a page shows. Closing the window, or "
                   "Ctrl-C here, seals. URL is where it starts (else an empty window).")
@click.option("--page-timeout", type=float_range("page_timeout"), default=30.0,
              show_default=True,
              help="With --browser: seconds a page may take to load, go quiet and be rendered.")
@page_options("With --browser")
@click.option("--media", is_flag=True,
              help="Also run yt-dlp on each page, through custody's recording proxy: every "
                   "byte it fetches goes into the WARC, and the video and audio files it "
                   "makes are stored and sealed beside them.")
@click.option("--max-media-bytes", type=SizeType(),
              help="With --media: cut each media file at SIZE (kept, recorded as truncated).")
@click.option("--media-time-limit", type=float_range("media_time_limit"),
              help="With --media: seconds yt-dlp may spend on one page; what it has by "
                   "then is kept, as truncated.")
@click.option("--cookies", type=click.Path(exists=True, dir_okay=False),
              help="Send the cookies in FILE (Netscape cookies.txt) with every request: "
                   "the crawler's, the browser's and yt-dlp's. Their values are redacted "
                   "in the WARC (see README).")
@click.option("--browser-profile", type=click.Path(exists=True, file_okay=False),
              help="Send the cookies of this Chromium user-data directory (a logged-in "
                   "profile), as --cookies does.")
@click.option("--queue", "queue_url", metavar="URL",
              help="Put the URLs on this shared queue (redis://HOST:PORT/DB) for "
                   "`custody worker`s to capture, instead of fetching them here.")
@click.option("--batch", type=click.IntRange(1, MAX_URLS), default=50, show_default=True,
              help="With --queue: URLs of one host per job (each job is one capture).")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@json_option
def archive(root: str | None, urls: tuple[str, ...], from_file: str | None, resume: bool,
            quiet: bool, as_json: bool, queue_url: str | None, batch: int,
            **options: Any) -> None:
    """Capture URLs, with their page requisites, as one sealed capture.

    \b
    custody archive https://example.org/statement
    custody archive --depth 2 --scope prefix https://example.org/reports/
    custody archive --from urls.txt --concurrency 4 --delay 1
    custody archive --resume
    custody archive --queue redis://queue.example:6379/0 --from urls.txt
    """
    seeds, logins = read_seeds(urls, from_file)
    if resume and seeds:
        raise UsageError("--resume continues the last crawl; give no URLs with it")
    if not resume and not seeds and not options["interactive"]:
        raise UsageError("no URLs to archive (give URLs, --from FILE, or - for stdin)")
    if options["interactive"]:
        _interactive_fits(queue_url, options)
    if queue_url is not None and logins:
        raise UsageError("a URL's user:password@ cannot be queued: the queue would carry it")
    if queue_url is not None:
        _enqueue(root, queue_url, seeds, batch, resume, as_json, options)
        return
    from ..extract.warm import WarmWorker

    # extraction made ready on another core while the capture is set up and fetches
    warm = WarmWorker.fork()
    if options["media"]:
        from ..media.apart import prestart

        prestart()  # and yt-dlp loaded, in a process of its own (after the fork)
    with warm or nullcontext():
        _capture(root, seeds, logins, resume, quiet, as_json, options, warm)


def _capture(root: str | None, seeds: list[str], logins: list[list[str]], resume: bool,
             quiet: bool, as_json: bool, options: dict[str, Any],
             warm: WarmWorker | None) -> None:
    from ..capture import run as capture
    from ..core.archive import Archive
    from ..seal.trust import check_signing_key

    arch = Archive.open(root)
    key_obj = signing_key(arch)
    check_signing_key(arch, key_obj.public_key())
    show_progress = not quiet and not as_json and sys.stderr.isatty() and \
        not options["interactive"]
    if options["browser"] or options["interactive"]:
        from ..browser.chromium import require_chromium

        require_chromium()  # before anything is fetched
    if options["interactive"]:
        from ..browser.headed import require_display
        from ..browser.marking import SHORTCUT

        require_display()
        click.echo(f"custody: browse in the window that opens; {SHORTCUT} (or the toolbar) "
                   "marks what a page shows; close the window, or press Ctrl-C here, to "
                   "seal", err=True)
    if not resume and (options["cookies"] or options["browser_profile"]):
        from ..core.cookies import load

        load(options["cookies"], options["browser_profile"])  # readable, before anything
    from ..core.config import load as load_config

    settings = None if resume else \
        _settings(options, list(options["tsa"]) or load_config(arch.root).tsa)
    with Progress(show_progress) as on_progress:
        if settings is None:
            result = capture.resume(arch, key=key_obj, on_progress=on_progress,
                                    open_visitor=open_browser, open_media=open_media,
                                    warm=warm)
        else:
            result = capture.start(arch, seeds, key=key_obj, settings=settings,
                                   on_progress=on_progress, open_visitor=open_browser,
                                   open_media=open_media, logins=logins, warm=warm)
    _report_capture(arch, result, as_json)


def _enqueue(root: str | None, queue_url: str, seeds: list[str], batch: int, resume: bool,
             as_json: bool, options: dict[str, Any]) -> None:
    from click.core import ParameterSource

    from ..core.archive import Archive
    from ..core.config import load as load_config
    from ..core.sshsig import fingerprint
    from ..queue.acceptance import check_queuer
    from ..queue.connection import check_url, connect
    from ..queue.jobs import Queue

    check_url(queue_url)
    if resume:
        raise UsageError("--resume continues a crawl of this machine; it cannot be queued")
    source = click.get_current_context().get_parameter_source("ca_bundle")
    local = [f"--{name.replace('_', '-')}" for name in ("cookies", "browser_profile",
                                                       "ca_bundle") if options[name]
             and not (name == "ca_bundle" and source is ParameterSource.ENVIRONMENT)]
    if local:
        raise UsageError(f"{local[0]} names a file on this machine, and a job never carries "
                         f"one: give it to each worker instead (custody worker {local[0]} "
                         "...)")
    try:
        arch: Any = Archive.open(root)
    except CustodyError:  # no archive here: the workers judge the key
        arch = None
    # a CUSTODY_CA_BUNDLE of this machine's is its own; the workers trust what theirs say
    settings = _settings({**options, "ca_bundle": None},
                         list(options["tsa"]) or (load_config(arch.root).tsa if arch else []))
    client = connect(queue_url)
    key_obj = signing_key(arch)
    if arch is not None:  # refused here, rather than by every worker
        check_queuer(arch, key_obj.public_key())
    jobs = Queue(client).enqueue(seeds, settings.to_json(), batch, key=key_obj)
    hosts = len({job.host for job in jobs})
    if as_json:
        click.echo(json.dumps({"format": "custody-enqueued/1", "urls": len(seeds),
                               "jobs": [{"id": j.id, "host": j.host, "urls": j.urls}
                                        for j in jobs]}, ensure_ascii=False, indent=2))
    else:
        click.echo(f"queued {len(seeds)} URLs as {len(jobs)} jobs for {hosts} "
                   f"host{'' if hosts == 1 else 's'}, signed by "
                   f"{fingerprint(key_obj.public_key())}")


def _interactive_fits(queue_url: str | None, options: dict[str, Any]) -> None:
    """--interactive is a person browsing here: no queue, no crawl of links, no yt-dlp."""
    clash = ("--queue" if queue_url else "--media" if options["media"] else
             "--depth" if options["depth"] else None)
    if clash:
        raise UsageError(f"--interactive records what a person browses here, so it does "
                         f"not go with {clash}")


def _settings(options: dict[str, Any], tsa: list[str]) -> Any:
    from ..capture.settings import Settings, parse_behaviors

    settings = Settings(
        requisites=not options["no_requisites"], timeout=options["timeout"],
        concurrency=options["concurrency"], delay=options["delay"], depth=options["depth"],
        scope=options["scope"], include=list(options["include"]),
        exclude=list(options["exclude"]), max_pages=options["max_pages"],
        max_bytes=options["max_bytes"], time_limit=options["time_limit"],
        retries=options["retries"], respect_robots=options["respect_robots"],
        allow_private=options["allow_private"], warc_size=options["warc_size"],
        ca_bundle=options["ca_bundle"], insecure=options["insecure"],
        browser=options["browser"] or options["interactive"],
        interactive=options["interactive"], page_timeout=options["page_timeout"],
        behaviors=[] if options["interactive"] else parse_behaviors(options["behaviors"]),
        behavior_timeout=options["behavior_timeout"],
        replay_check=not options["no_replay_check"] and not options["interactive"],
        media=options["media"], max_media_bytes=options["max_media_bytes"],
        media_time_limit=options["media_time_limit"],
        cookies=str(Path(options["cookies"]).resolve()) if options["cookies"] else None,
        browser_profile=(str(Path(options["browser_profile"]).resolve())
                         if options["browser_profile"] else None),
    )
    if options["user_agent"]:
        settings.user_agent = options["user_agent"]
    settings.tsa = tsa
    import re

    from ..capture.validation import check_settings

    try:
        return check_settings(settings.to_json())  # the rules a queued job is held to, too
    except UsageError as exc:  # named as the option that set it
        raise UsageError(re.sub(r"setting '(\w+)'", lambda m: "--" + m[1].replace("_", "-"),
                                str(exc))) from None


def _report_capture(arch: Any, result: Any, as_json: bool) -> None:
    for failure in result.failures:
        click.echo(f"custody: failed: {failure['url']}: {failure['reason']}", err=True)
    for note in result.notes:
        click.echo(f"custody: note: {note}", err=True)
    stats = result.stats
    if as_json:
        click.echo(json.dumps({
            "format": "custody-archive/1",
            "status": {"complete": "success", "partial": "partial"}.get(result.status,
                                                                        "error"),
            "capture_id": result.capture_id,
            "manifest": str(result.manifest_path.relative_to(arch.root)),
            "capture_status": result.status,
            "stopped": result.stopped,
            "final_urls": result.final_urls,
            "resources": result.resources,
            "documents": result.documents,
            "bytes": stats.bytes if stats else None,
            "retried": stats.retried if stats else None,
            "invalid_links": stats.invalid_links if stats else None,
            "seconds": round(stats.elapsed, 3) if stats else None,
            "left": result.left,
            "failures": result.failures,
            "notes": result.notes,
        }, ensure_ascii=False, indent=2))
    else:
        extra = f", stopped: {result.stopped}" if result.stopped else ""
        click.echo(f"{result.capture_id}  {result.status}  {result.resources} responses, "
                   f"{result.documents} documents, {len(result.failures)} failures{extra}")
    if result.status == "interrupted":
        sys.exit(ExitCode.INTERRUPTED)
    if result.failures or result.status == "partial":
        sys.exit(ExitCode.FETCH)


@click.command()
@root_option
@click.option("--db", "db_url", envvar="CUSTODY_DB", metavar="URL",
              help="Then copy into the index in PostgreSQL (postgresql://HOST/DB) the "
                   "captures of custody.db it lacks, for teams that query it from many "
                   "machines.")
@click.option("--prune", is_flag=True,
              help="With --db: also remove from PostgreSQL the captures custody.db does not "
                   "hold. Only from a folder that holds the team's whole archive: other "
                   "machines' captures are removed too.")
def reindex(root: str | None, db_url: str | None, prune: bool) -> None:
    """Rebuild custody.db from the manifests and WARC files alone.

    \b
    custody reindex
    custody reindex --db postgresql://index.example/evidence
    """
    from ..capture.recovery import reindex as run_reindex
    from ..core.archive import Archive
    from ..seal import journal

    if prune and db_url is None:
        from ..core.errors import UsageError

        raise UsageError("--prune goes with --db")
    if db_url is not None:
        from ..index.postgres import check_url

        check_url(db_url)  # before the rebuild, not after it
    arch = Archive.open(root)
    # completing an interrupted seal signs its ledger checkpoint and log event
    key_obj = signing_key(arch) if journal.pending(arch) else None
    count, recovered, notes = run_reindex(arch, key=key_obj)
    for note in [*notes, *(n for result in recovered for n in result.notes[:1])]:
        click.echo(f"custody: note: {note}", err=True)
    click.echo(f"indexed {count} capture{'' if count == 1 else 's'}")
    if db_url is not None:
        import sqlite3

        from ..index import postgres

        remote = postgres.connect(postgres.check_url(db_url))
        local = sqlite3.connect(f"file:{arch.db_path}?mode=ro", uri=True)
        try:
            copied, removed = postgres.sync(remote, local, remove=prune)
        finally:
            local.close()
            remote.close()
        click.echo(f"PostgreSQL ({postgres.shown(db_url)}): {copied} captures copied, "
                   f"{removed} removed" + ("; it holds what custody.db holds" if prune
                                          else "; it holds every capture custody.db holds"))
