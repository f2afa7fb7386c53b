"""The command line: parse, call the library, print, map errors to exit codes.

Heavy libraries (httpx, trafilatura, warcio, cryptography) are imported inside the
commands that need them, so that ``custody --help`` answers at once.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .errors import CustodyError, ExitCode, UsageError

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> None:
    click.echo(f"custody: error: {message}", err=True)
    sys.exit(code)


def handles_errors(func: F) -> F:
    """Turn library errors into one line on stderr and the documented exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CustodyError as exc:
            _fail(str(exc), int(exc.exit_code))
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except OSError as exc:
            _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), ExitCode.ARCHIVE)

    return wrapper  # type: ignore[return-value]


root_option = click.option(
    "--root", type=click.Path(file_okay=False), envvar="CUSTODY_ROOT",
    help="The archive folder (default: the current directory; env CUSTODY_ROOT).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="custody")
def main() -> None:
    """Archive web pages as sealed, verifiable evidence.

    \b
    custody init
    custody archive https://example.org/statement
    custody verify
    custody query "select url, status_code from resources"
    custody search "massacre"
    """


# -- init and keys -------------------------------------------------------------------------------


def _passphrase(prompt: bool, *, confirm: bool = False) -> bytes | None:
    env = os.environ.get("CUSTODY_KEY_PASSPHRASE")
    if env:
        return env.encode()
    if prompt and sys.stdin.isatty():
        return click.prompt("Key passphrase", hide_input=True,
                            confirmation_prompt=confirm).encode()
    return None


def _load_key() -> Any:
    from . import signing

    path = signing.default_key_path()
    needs = path.exists() and signing.key_is_encrypted(path)
    return signing.load_key(path, _passphrase(needs))


@main.command()
@root_option
@click.option("--operator", help="Who archives: name or e-mail, as it will appear in manifests.")
@click.option("--passphrase", is_flag=True,
              help="Protect a new key with a passphrase (asked for, or CUSTODY_KEY_PASSPHRASE).")
@handles_errors
def init(root: str | None, operator: str | None, passphrase: bool) -> None:
    """Make an archive folder, and the archivist's key if there is none yet.

    \b
    custody init --operator "A. Investigator <ai@example.org>"
    CUSTODY_KEY=~/keys/custody custody init --root ~/evidence
    """
    from . import signing
    from .db import connect
    from .root import Archive, default_operator

    archive = Archive.create(root)
    key_path = signing.default_key_path()
    if key_path.exists():
        key = _load_key()
        click.echo(f"using key {key_path}", err=True)
    else:
        secret = _passphrase(passphrase, confirm=True) if passphrase else None
        if passphrase and not secret:
            raise UsageError("--passphrase needs a terminal or CUSTODY_KEY_PASSPHRASE")
        key = signing.create_key(key_path, secret)
        click.echo(f"created key {key_path} (mode 600)", err=True)
    principal = operator or archive.principal_for(key.public_key()) or default_operator()
    if archive.add_signer(principal, key.public_key()):
        click.echo(f"added {principal} to {archive.allowed_signers}", err=True)
    connect(archive.db_path).conn.close()
    click.echo(str(archive.root))


@main.group()
def key() -> None:
    """The archivist's signing key."""


@key.command("show")
@handles_errors
def key_show() -> None:
    """Print the public key and its SHA256 fingerprint, as ssh does.

    \b
    custody key show
    """
    from . import signing

    path = signing.default_key_path()
    pub = path.with_name(path.name + ".pub")
    public = (signing.parse_public_key_line(pub.read_text()) if pub.exists()
              else _load_key().public_key())
    click.echo(signing.public_key_line(public))
    click.echo(f"256 {signing.fingerprint(public)} {path} (ED25519)")


# -- archive -------------------------------------------------------------------------------------


def _size(text: str) -> int:
    """'10M', '1G', '500k' or plain bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower().removesuffix("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


class SizeType(click.ParamType):
    name = "SIZE"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        try:
            size = _size(value)
        except ValueError:
            self.fail(f"{value!r} is not a size like 10M or 1G", param, ctx)
        if size <= 0:
            self.fail("must be more than 0", param, ctx)
        return size


class RegexType(click.ParamType):
    name = "REGEX"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        import re

        try:
            re.compile(value)
        except re.error as exc:
            self.fail(f"{value!r} is not a regular expression ({exc})", param, ctx)
        return str(value)


def _read_seeds(urls: tuple[str, ...], from_file: str | None) -> list[str]:
    """URLs from the arguments, from --from FILE and from stdin ('-'): # comments skipped."""
    lines: list[str] = []
    sources = list(urls)
    if from_file:
        sources.append("@" + from_file)
    for item in sources:
        if item == "-":
            lines += sys.stdin.read().splitlines()
        elif item.startswith("@"):
            try:
                with open(item[1:], encoding="utf-8-sig") as fh:
                    lines += fh.read().splitlines()
            except OSError as exc:
                raise UsageError(f"cannot read URL list: {exc.strerror}", where=item[1:]) from exc
        else:
            lines.append(item)
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@main.command()
@root_option
@click.argument("urls", nargs=-1)
@click.option("--from", "from_file", type=click.Path(dir_okay=False),
              help="Read URLs from FILE, one per line ('#' comments and blank lines ignored).")
@click.option("--resume", is_flag=True, help="Continue the last interrupted crawl.")
@click.option("--depth", type=click.IntRange(0, 100), default=0, show_default=True,
              help="Follow links this many steps from the seeds.")
@click.option("--scope", type=click.Choice(["page", "prefix", "host", "domain", "any"]),
              default="host", show_default=True, help="Which followed links are in scope.")
@click.option("--include", multiple=True, type=RegexType(),
              help="Also follow links matching REGEX (repeatable).")
@click.option("--exclude", multiple=True, type=RegexType(),
              help="Never fetch URLs matching REGEX (repeatable).")
@click.option("--no-requisites", is_flag=True, help="Fetch only the pages, not their requisites.")
@click.option("--max-pages", type=click.IntRange(min=1), help="Stop starting pages after N.")
@click.option("--max-bytes", type=SizeType(),
              help="Cut each response body at SIZE (recorded as WARC-Truncated: length).")
@click.option("--time-limit", type=click.FloatRange(min=0.1),
              help="Stop starting fetches after SECONDS, and seal.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds one response may take in all, headers and body.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Requests in flight at once, per host.")
@click.option("--delay", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds between requests to the same host (then one at a time).")
@click.option("--retries", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Retries for timeouts, dropped connections, 429, 502, 503, 504.")
@click.option("--user-agent", help="User-Agent header (default names custody and its version).")
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
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@json_option
@handles_errors
def archive(root: str | None, urls: tuple[str, ...], from_file: str | None, resume: bool,
            quiet: bool, as_json: bool, **options: Any) -> None:
    """Capture URLs, with their page requisites, as one sealed capture.

    \b
    custody archive https://example.org/statement
    custody archive --depth 2 --scope prefix https://example.org/reports/
    custody archive --from urls.txt --concurrency 4 --delay 1
    custody archive --resume
    """
    from . import capture
    from .root import Archive
    from .urls import check_url

    seeds = list(dict.fromkeys(check_url(u) for u in _read_seeds(urls, from_file)))
    if resume and seeds:
        raise UsageError("--resume continues the last crawl; give no URLs with it")
    if not resume and not seeds:
        raise UsageError("no URLs to archive (give URLs, --from FILE, or - for stdin)")
    arch = Archive.open(root)
    key_obj = _load_key()
    show_progress = not quiet and not as_json and sys.stderr.isatty()
    with _progress(show_progress) as on_progress:
        if resume:
            result = capture.resume(arch, key=key_obj, on_progress=on_progress)
        else:
            from .config import load as load_config

            settings = _settings(options)
            settings.tsa = list(options["tsa"]) or load_config(arch.root).tsa
            result = capture.start(arch, seeds, key=key_obj, settings=settings,
                                   on_progress=on_progress)
    _report_capture(arch, result, as_json)


def _settings(options: dict[str, Any]) -> Any:
    from . import capture

    settings = capture.Settings(
        requisites=not options["no_requisites"], timeout=options["timeout"],
        concurrency=options["concurrency"], delay=options["delay"], depth=options["depth"],
        scope=options["scope"], include=list(options["include"]),
        exclude=list(options["exclude"]), max_pages=options["max_pages"],
        max_bytes=options["max_bytes"], time_limit=options["time_limit"],
        retries=options["retries"], respect_robots=options["respect_robots"],
        allow_private=options["allow_private"], warc_size=options["warc_size"],
        ca_bundle=options["ca_bundle"], insecure=options["insecure"],
    )
    if options["user_agent"]:
        settings.user_agent = options["user_agent"]
    return settings


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
    if result.failures:
        sys.exit(ExitCode.FETCH)


class _progress:
    """A rich progress line on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None

    def __enter__(self) -> Callable[[Any, int], None] | None:
        if not self.enabled:
            return None
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                  TimeElapsedColumn(), transient=True)
        self._progress.start()
        task = self._progress.add_task("starting")

        def update(stats: Any, queued: int) -> None:
            self._progress.update(task, description=(
                f"{stats.fetched} fetched, {queued} queued, {stats.failed} failed, "
                f"{stats.bytes / 1e6:.1f} MB, {stats.rate:.1f}/s"))

        return update

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


# -- verify ----------------------------------------------------------------------------------------


@main.command()
@root_option
@click.argument("capture_ids", nargs=-1)
@json_option
@click.option("-v", "--verbose", is_flag=True, help="List passed checks too.")
@click.option("--against", type=click.Path(exists=True, dir_okay=False),
              help="A checkpoint kept from before: prove the ledger still extends it.")
@handles_errors
def verify(root: str | None, capture_ids: tuple[str, ...], as_json: bool, verbose: bool,
           against: str | None) -> None:
    """Check signatures, the chain, every file and record, and the database.

    Exit 0: all passed; 1: something failed; 6: nothing failed but something could not
    be checked.

    \b
    custody verify
    custody verify 20261121T101500Z-1a2b3c4d --json
    custody verify --against checkpoint-from-march.txt
    """
    from .root import Archive
    from .verify import FAILED, PASSED
    from .verify import verify as run_verify

    arch = Archive.open(root)
    old = Path(against).read_text(encoding="utf-8", errors="replace") if against else None
    report = run_verify(arch, list(capture_ids) or None, against=old)
    _log_event(arch, "verified", {"status": report.status,
                                  "captures": len(report.captures),
                                  "failed": report.count(FAILED)})
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        for check in report.checks:
            if check.outcome != PASSED or verbose:
                detail = f": {check.detail}" if check.detail else ""
                click.echo(f"{check.outcome.upper():9} {check.check:12} {check.subject}{detail}")
        for note in report.notes:
            click.echo(f"NOTE      {note}")
        summary = ", ".join(f"{report.count(o)} {o}" for o in (PASSED, FAILED, "unchecked"))
        click.echo(f"{report.status.upper()}: {len(report.captures)} captures; {summary}")
    if report.status == FAILED:
        sys.exit(ExitCode.FAILED)
    if report.status != PASSED:
        sys.exit(ExitCode.UNCHECKED)


# -- query, search, show, reindex ------------------------------------------------------------------


def _print_rows(columns: list[str], rows: list[Any], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps([dict(zip(columns, r, strict=True)) for r in rows],
                              ensure_ascii=False, indent=2, default=str))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        click.echo(plain_table(columns, rows))


def plain_table(columns: list[str], rows: list[Any], width: int = 60) -> str:
    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        text = text.replace("\r", " ").replace("\n", " ⏎ ")
        return text if len(text) <= width else text[: width - 1] + "…"

    body = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(lines)


format_options = click.option(
    "--json", "fmt", flag_value="json", help="A JSON array of row objects."
)
csv_option = click.option("--csv", "fmt", flag_value="csv", help="CSV with a header row.")


@main.command()
@root_option
@click.argument("sql")
@format_options
@csv_option
@handles_errors
def query(root: str | None, sql: str, fmt: str | None) -> None:
    """Run read-only SQL against custody.db (writes are refused).

    \b
    custody query "select url, status_code, ip from resources"
    custody query "select capture_id, url, title from documents" --json
    """
    from .db import open_readonly, run_query
    from .root import Archive

    conn = open_readonly(Archive.open(root).db_path)
    columns, rows = run_query(conn, sql)
    _print_rows(columns, rows, fmt or "table")


@main.command()
@root_option
@click.argument("words", nargs=-1, required=True)
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--site", help="Only pages of this host (and its subdomains).")
@click.option("--lang", help="Only documents in this language (ISO 639-1: en, fa, ru, ar...).")
@click.option("--since", help="Only captures from this date (YYYY-MM-DD, UTC) on.")
@click.option("--until", help="Only captures up to this date (YYYY-MM-DD, UTC), inclusive.")
@click.option("--capture", "capture_id", help="Only this capture.")
@json_option
@handles_errors
def search(root: str | None, words: tuple[str, ...], limit: int, site: str | None,
           lang: str | None, since: str | None, until: str | None, capture_id: str | None,
           as_json: bool) -> None:
    """Full-text search over titles and text, best matches first (bm25).

    Words match their other forms (massacre, massacres; Иран, Ирана) and are folded
    (ي/ی, ك/ک, ё/е, digits); "exact phrases", AND, OR, NOT, (groups) and prefix* work.

    \b
    custody search massacre
    custody search '"information blockade"' --json
    custody search 'ایران NOT اینترنت' --lang fa --since 2026-01-01
    """
    from .db import open_readonly
    from .root import Archive
    from .search import Filters
    from .search import search as run_search

    conn = open_readonly(Archive.open(root).db_path)
    filters = Filters(site=site, lang=lang, since=since, until=until, capture=capture_id)
    hits = run_search(conn, " ".join(words), limit=limit, filters=filters)
    if as_json:
        click.echo(json.dumps(hits, ensure_ascii=False, indent=2))
        return
    for hit in hits:
        click.echo(f"{hit['captured_at']}  {hit['capture_id']}  {hit['url']}")
        click.echo(f"    {hit['title'] or ''}")
        click.echo(f"    {hit['snippet']}")
    if not hits:
        click.echo("no matches", err=True)


@main.command()
@root_option
@click.argument("capture_id")
@json_option
@handles_errors
def show(root: str | None, capture_id: str, as_json: bool) -> None:
    """Show what a capture holds: URLs, statuses, files, documents, failures.

    \b
    custody show 20261121T101500Z-1a2b3c4d
    """
    from . import manifest
    from .errors import NotFound
    from .root import Archive

    arch = Archive.open(root)
    path = manifest.manifest_path(arch.manifests_dir, capture_id)
    if not path.exists():
        raise NotFound("no such capture", where=capture_id)
    sealed = manifest.read(path)
    content = sealed.content
    if content is None:
        raise CustodyError(sealed.problem or "unreadable manifest", where=str(path))
    if as_json:
        click.echo(json.dumps(content, ensure_ascii=False, indent=2))
        return
    click.echo(f"capture   {content['capture_id']}  ({content['status']})")
    click.echo(f"seed      {content['seed_url']}")
    click.echo(f"final     {content['final_url']}")
    click.echo(f"time      {content['started_at']} .. {content['finished_at']}")
    collector = content["collector"]
    click.echo(f"sealed by {collector['operator']} {collector['key_fingerprint']}")
    click.echo(f"sequence  {content['chain']['sequence']}  manifest sha256 {sealed.sha256}")
    for f in content["warc_files"]:
        click.echo(f"warc      {f['path']}  {f['bytes']} bytes  sha256 {f['sha256']}")
    for r in content["records"]:
        if r["type"] == "response":
            click.echo(f"  {r['http_status']}  {r['target_uri']}  ({r.get('payload_type') or ''})")
    for d in content["documents"]:
        click.echo(f"document  {d['url']}  text sha256 {d['text_sha256'][:16]}…")
    for fail in content["failures"]:
        click.echo(f"failed    {fail['url']}: {fail['reason']}")


@main.command()
@root_option
@handles_errors
def reindex(root: str | None) -> None:
    """Rebuild custody.db from the manifests and WARC files alone.

    \b
    custody reindex
    """
    from .capture import reindex as run_reindex
    from .root import Archive

    count = run_reindex(Archive.open(root))
    click.echo(f"indexed {count} captures")


def _log_event(arch: Any, event: str, details: dict[str, Any]) -> None:
    """Record an event in the custody log when the archivist's key is at hand; a third
    party verifying a copy has no key, and nothing is written then."""
    from . import signing
    from .events import CustodyLog

    path = signing.default_key_path()
    try:
        if not path.exists() or (signing.key_is_encrypted(path)
                                 and not os.environ.get("CUSTODY_KEY_PASSPHRASE")):
            return
        key_obj = _load_key()
        principal = arch.principal_for(key_obj.public_key())
        if principal is None or not os.access(arch.manifests_dir, os.W_OK):
            return
        with arch.lock():
            CustodyLog(arch.manifests_dir).append(event, key=key_obj, who=principal,
                                                  details=details)
    except (CustodyError, OSError):
        return


# -- timestamps, the ledger, the log, bundles ----------------------------------------------------


@main.command()
@root_option
@click.argument("capture_ids", nargs=-1)
@click.option("--tsa", multiple=True, metavar="URL",
              help="Ask this TSA (repeatable; default: those the capture asked, or custody.toml).")
@handles_errors
def timestamp(root: str | None, capture_ids: tuple[str, ...], tsa: tuple[str, ...]) -> None:
    """Ask TSAs again for captures whose timestamp is pending (or for the named ones).

    \b
    custody timestamp
    custody timestamp 20261121T101500Z-1a2b3c4d --tsa https://tsa.example/tsr
    """
    from . import manifest
    from . import timestamp as tsp
    from .config import load as load_config
    from .errors import NotFound
    from .events import CustodyLog
    from .root import Archive

    arch = Archive.open(root)
    if capture_ids:
        targets = [manifest.manifest_path(arch.manifests_dir, c) for c in capture_ids]
        for path in targets:
            if not path.exists():
                raise NotFound("no such capture", where=path.stem)
    else:
        targets = [p.with_name(p.name.removesuffix(tsp.PENDING_SUFFIX))
                   for p in sorted(arch.manifests_dir.glob("*" + tsp.PENDING_SUFFIX))]
    if not targets:
        click.echo("no timestamps pending", err=True)
        return
    key_obj = None
    still_pending = 0
    with arch.lock():
        for path in targets:
            sealed = manifest.read(path)
            asked = ((sealed.content or {}).get("settings") or {}).get("tsa") or []
            urls = list(tsa) or asked or load_config(arch.root).tsa
            if not urls:
                raise UsageError("no TSA to ask (--tsa URL, or custody.toml)", where=path.stem)
            written, errors = tsp.stamp(path, sealed.data, urls)
            for error in errors:
                click.echo(f"custody: failed: {error}", err=True)
            if written:
                click.echo(f"{sealed.capture_id}  {len(written)} timestamp(s)")
                key_obj = key_obj or _load_key()
                CustodyLog(arch.manifests_dir).append(
                    "timestamped", key=key_obj,
                    who=arch.principal_for(key_obj.public_key()) or "unknown",
                    details={"capture_id": sealed.capture_id,
                             "tokens": [p.name for p in written]})
            else:
                still_pending += 1
    if still_pending:
        sys.exit(ExitCode.FETCH)


@main.group()
def ledger() -> None:
    """The Merkle ledger of sealed manifests and its signed checkpoints."""


@ledger.command("checkpoint")
@root_option
@handles_errors
def ledger_checkpoint(root: str | None) -> None:
    """Print the latest signed checkpoint, for a partner to keep.

    \b
    custody ledger checkpoint > checkpoint-2026-11-21.txt
    """
    from .errors import NotFound
    from .ledger import Ledger
    from .root import Archive

    checkpoint = Ledger(Archive.open(root).manifests_dir).latest()
    if checkpoint is None:
        raise NotFound("the ledger has no checkpoint yet")
    click.echo(checkpoint.text, nl=False)


@ledger.command("proof")
@root_option
@click.argument("capture_id")
@handles_errors
def ledger_proof(root: str | None, capture_id: str) -> None:
    """Print the inclusion proof of a capture in the latest checkpoint (JSON).

    \b
    custody ledger proof 20261121T101500Z-1a2b3c4d > inclusion-proof.json
    """
    from .errors import NotFound
    from .ledger import Ledger
    from .root import Archive

    try:
        proof = Ledger(Archive.open(root).manifests_dir).inclusion(capture_id)
    except LookupError as exc:
        raise NotFound(str(exc), where=capture_id) from exc
    click.echo(json.dumps(proof, indent=2))


@main.command("log")
@root_option
@json_option
@handles_errors
def log_command(root: str | None, as_json: bool) -> None:
    """Show the custody log: who captured, timestamped, verified, bundled, rotated keys.

    \b
    custody log
    custody log --json
    """
    from .events import CustodyLog
    from .root import Archive

    entries = CustodyLog(Archive.open(root).manifests_dir).entries()
    if as_json:
        click.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        return
    for entry in entries:
        details = " ".join(f"{k}={v}" for k, v in entry["details"].items())
        click.echo(f"{entry['seq']:4d}  {entry['at']}  {entry['event']:12} {entry['who']}  "
                   f"{details}")


@key.command("rotate")
@root_option
@click.option("--passphrase", is_flag=True, help="Protect the new key with a passphrase.")
@handles_errors
def key_rotate(root: str | None, passphrase: bool) -> None:
    """Make a new key; the old one stays in allowed_signers, valid only before now.

    \b
    custody key rotate
    """
    from . import signing
    from .events import CustodyLog
    from .root import Archive, rotate_key

    arch = Archive.open(root)
    path = signing.default_key_path()
    old_secret = _passphrase(path.exists() and signing.key_is_encrypted(path))
    new_secret = _passphrase(True, confirm=True) if passphrase else None
    with arch.lock():
        old, new, principal = rotate_key(arch, path, passphrase=new_secret,
                                         old_passphrase=old_secret)
        CustodyLog(arch.manifests_dir).append(
            "key-rotated", key=old, who=principal,
            details={"old": signing.fingerprint(old.public_key()),
                     "new": signing.fingerprint(new.public_key())})
    click.echo(f"new key {signing.fingerprint(new.public_key())}; "
               f"{signing.fingerprint(old.public_key())} retired")


@main.command()
@root_option
@click.argument("capture_id")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="The folder to write the bundle into (new or empty).")
@handles_errors
def bundle(root: str | None, capture_id: str, output: str) -> None:
    """Write an evidence bundle for one capture, checkable with standard tools alone.

    \b
    custody bundle 20261121T101500Z-1a2b3c4d -o evidence-for-court/
    """
    from .bundle import write_bundle
    from .root import Archive

    arch = Archive.open(root)
    files = write_bundle(arch, capture_id, Path(output))
    _log_event(arch, "bundled", {"capture_id": capture_id, "files": len(files)})
    click.echo(f"{output}: {len(files)} files; see {Path(output) / 'VERIFY.md'}")


# -- versions --------------------------------------------------------------------------------------


@main.command()
@root_option
@click.argument("url")
@json_option
@handles_errors
def history(root: str | None, url: str, as_json: bool) -> None:
    """Every capture of a URL: when, status, text sha256, and whether the text changed.

    \b
    custody history https://example.org/statement
    """
    from .db import open_readonly
    from .root import Archive
    from .versions import history as run_history

    rows = run_history(open_readonly(Archive.open(root).db_path), url)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("never captured", err=True)
        sys.exit(ExitCode.NOT_FOUND)
    changed = {None: "first", True: "CHANGED", False: "same"}
    for row in rows:
        text = (row["text_sha256"] or "-")[:16]
        click.echo(f"{row['captured_at']}  {row['capture_id']}  {row['status']}  text {text}  "
                   f"{changed[row['text_changed']]}")


@main.command()
@root_option
@click.argument("first")
@click.argument("second")
@click.argument("url", required=False)
@handles_errors
def diff(root: str | None, first: str, second: str, url: str | None) -> None:
    """Line diff of a page's extracted text in two captures (exit 0 same, 1 different).

    URL defaults to the first capture's final URL.

    \b
    custody diff 20261101T090000Z-1a2b3c4d 20261121T101500Z-5e6f7a8b
    custody diff A B https://example.org/statement
    """
    from .db import open_readonly
    from .root import Archive
    from .versions import diff as run_diff

    same, lines = run_diff(open_readonly(Archive.open(root).db_path), first, second, url)
    for line in lines:
        click.echo(line)
    if not same:
        sys.exit(ExitCode.FAILED)
    click.echo("the text is the same in both captures", err=True)


@main.command()
@root_option
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@handles_errors
def serve(root: str | None, port: int, host: str) -> None:
    """Browse the database in Datasette, read-only (pip install 'custody[serve]').

    \b
    custody serve --port 8001
    """
    import importlib.util
    import subprocess
    import tempfile

    from .root import Archive

    if importlib.util.find_spec("datasette") is None:
        raise UsageError("Datasette is not installed: pip install 'custody[serve]' "
                         "(or open custody.db with any Datasette: datasette -i custody.db)")
    arch = Archive.open(root)
    metadata = {
        "title": f"custody archive {arch.root.name}",
        "description": "Derived from the sealed WARC files and manifests; "
                       "`custody verify` checks it against them.",
        "databases": {"custody": {"tables": {
            "captures": {"facets": ["status", "operator"], "sort_desc": "started_at"},
            "resources": {"facets": ["status_code", "content_type"]},
            "documents": {"facets": ["language", "charset"], "sort": "url"},
            "failures": {"facets": ["kind"]},
        }}},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(metadata, fh)
    sys.exit(subprocess.call([sys.executable, "-m", "datasette", "serve", "-i",
                              str(arch.db_path), "--metadata", fh.name, "--host", host,
                              "--port", str(port)]))
