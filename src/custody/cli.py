"""The command line: parse, call the library, print, map errors to exit codes.

Heavy libraries (httpx, trafilatura, warcio, cryptography) are imported inside the
commands that need them, so that ``custody --help`` answers at once.
"""

from __future__ import annotations

import json
import os
import sqlite3
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
        except BrokenPipeError:  # the reader went away (`custody verify | head`): say nothing
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(ExitCode.PIPE_CLOSED)
        except OSError as exc:
            _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), ExitCode.ARCHIVE)
        except sqlite3.Error as exc:  # a full disk, an unreadable or locked database file
            _fail(f"database: {exc}", ExitCode.ARCHIVE)

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


def _load_key(archive: Any = None) -> Any:
    """The archivist's key; KeyProblem when it lies inside the archive folder, which is
    handed to partners and courts: a key there would go with it."""
    from . import signing
    from .errors import KeyProblem
    from .root import default_key_path

    path = default_key_path()
    if archive is not None and path.resolve().is_relative_to(archive.root):
        raise KeyProblem("the signing key lies inside the archive folder, and would be "
                         "handed over with every copy of it: move it out (and set "
                         "CUSTODY_KEY to its new place)", where=str(path))
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
    from .root import Archive, default_key_path, default_operator

    if operator is not None:
        try:
            signing.check_principal(operator)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    archive = Archive.create(root)
    key_path = default_key_path()
    if key_path.resolve().is_relative_to(archive.root):
        _load_key(archive)  # refuses, saying why
    if key_path.exists():
        key = _load_key(archive)
        click.echo(f"using key {key_path}", err=True)
    else:
        secret = _passphrase(passphrase, confirm=True) if passphrase else None
        if passphrase and not secret:
            raise UsageError("--passphrase needs a terminal or CUSTODY_KEY_PASSPHRASE")
        key = signing.create_key(key_path, secret)
        click.echo(f"created key {key_path} (mode 600)", err=True)
    principal = operator or archive.principal_for(key.public_key()) or default_operator()
    added = founded(archive, key, principal)
    if added:
        click.echo(f"added {principal} to {archive.allowed_signers}", err=True)
    connect(archive.db_path).conn.close()
    click.echo(str(archive.root))


def founded(archive: Any, key: Any, principal: str) -> bool:
    """A new archive's first key goes into allowed_signers, and its `key-added` event, the
    custody log's first, makes it the archive's root of trust. An archive that has
    archivists already takes a new key only from one of them (`custody key add`)."""
    from . import signing
    from .errors import KeyProblem
    from .events import CustodyLog

    public = key.public_key()
    if archive.principal_for(public) is not None:
        return False
    if signing.read_allowed_signers(archive.allowed_signers):
        raise KeyProblem(f"this archive has archivists, and {signing.fingerprint(public)} is "
                         "not one of them: one of them adds it with `custody key add`",
                         where=str(archive.root))
    with archive.lock(), archive.sealing():
        archive.add_signer(principal, public)
        CustodyLog(archive.manifests_dir).append(
            "key-added", key=key, who=principal,
            details={"key": signing.fingerprint(public), "principal": principal,
                     "first": True})
    return True


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
    from .root import default_key_path

    path = default_key_path()
    pub = path.with_name(path.name + ".pub")
    public = (signing.parse_public_key_line(pub.read_text()) if pub.exists()
              else _load_key().public_key())
    click.echo(signing.public_key_line(public))
    click.echo(f"256 {signing.fingerprint(public)} {path} (ED25519)")


# -- verify ----------------------------------------------------------------------------------------


@main.command()
@root_option
@click.argument("capture_ids", nargs=-1)
@json_option
@click.option("-v", "--verbose", is_flag=True, help="List passed checks too.")
@click.option("--against", type=click.Path(exists=True, dir_okay=False),
              help="A checkpoint kept from before: prove the ledger still extends it.")
@click.option("--jobs", type=click.IntRange(min=0), default=None, metavar="N",
              help="Worker processes running the checks [default: one per core; "
                   "0: run them all in this process].")
@click.option("--part-size", "part_bytes", type=click.IntRange(min=1), default=None,
              metavar="BYTES", help="Cut WARC files into parts of at least BYTES for the "
                                    "workers [default: chosen from the archive's size].")
@handles_errors
def verify(root: str | None, capture_ids: tuple[str, ...], as_json: bool, verbose: bool,
           against: str | None, jobs: int | None, part_bytes: int | None) -> None:
    """Check signatures, the chain, every file and record, and the database.

    Exit 0: all passed; 1: something failed; 6: nothing failed but something could not
    be checked.

    \b
    custody verify
    custody verify 20261121T101500Z-1a2b3c4d --json
    custody verify --against checkpoint-from-march.txt
    """
    from .root import Archive
    from .verify import verify as run_verify

    arch = Archive.open(root)
    old = Path(against).read_text(encoding="utf-8", errors="replace") if against else None

    def waiting() -> None:
        click.echo("custody: waiting for the capture being sealed now...", err=True)

    report = run_verify(arch, list(capture_ids) or None, against=old, jobs=jobs,
                        on_wait=waiting, part_bytes=part_bytes)
    from .report import FAILED, PASSED  # here: verify forks its first worker before loading it

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
        count = len(report.captures)
        click.echo(f"{report.status.upper()}: {count} capture{'' if count == 1 else 's'}; "
                   f"{summary}")
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
        import csv

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


timeout_option = click.option(
    "--timeout", type=click.FloatRange(min=0.01), default=5.0, show_default=True,
    metavar="S", help="Stop a query that runs longer than S seconds (Ctrl-C stops it too).")


@main.command()
@root_option
@click.argument("sql")
@format_options
@csv_option
@timeout_option
@handles_errors
def query(root: str | None, sql: str, fmt: str | None, timeout: float) -> None:
    """Run read-only SQL against custody.db (anything but reading is refused).

    \b
    custody query "select url, status_code, ip from resources"
    custody query "select capture_id, url, title from documents" --json
    """
    from .db import open_for_query, run_query
    from .root import Archive

    conn = open_for_query(Archive.open(root).db_path)
    columns, rows = run_query(conn, sql, timeout=timeout)
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
@timeout_option
@json_option
@handles_errors
def search(root: str | None, words: tuple[str, ...], limit: int, site: str | None,
           lang: str | None, since: str | None, until: str | None, capture_id: str | None,
           timeout: float, as_json: bool) -> None:
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
    hits = run_search(conn, " ".join(words), limit=limit, filters=filters, timeout=timeout)
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
    from . import journal
    from .recovery import reindex as run_reindex
    from .root import Archive

    arch = Archive.open(root)
    # completing an interrupted seal signs its ledger checkpoint and log event
    key_obj = _load_key(arch) if journal.pending(arch) else None
    count, recovered = run_reindex(arch, key=key_obj)
    for result in recovered:
        for note in result.notes[:1]:
            click.echo(f"custody: note: {note}", err=True)
    click.echo(f"indexed {count} capture{'' if count == 1 else 's'}")


def _log_event(arch: Any, event: str, details: dict[str, Any]) -> None:
    """Record an event in the custody log when the archivist's key is at hand; a third
    party verifying a copy has no key, and nothing is written then."""
    from .root import default_key_path

    path = default_key_path()
    try:
        if not path.exists():
            return
        from . import signing
        from .events import CustodyLog

        if signing.key_is_encrypted(path) and not os.environ.get("CUSTODY_KEY_PASSPHRASE"):
            return

        key_obj = _load_key()
        principal = arch.principal_for(key_obj.public_key())
        if principal is None or not os.access(arch.manifests_dir, os.W_OK):
            return
        with arch.lock(), arch.sealing():
            CustodyLog(arch.manifests_dir).append(event, key=key_obj, who=principal,
                                                  details=details)
    except (CustodyError, OSError):
        return


# the other commands live beside this module and add themselves to `main`
from . import archive_cli, browse_cli, evidence_cli  # noqa: E402, F401
