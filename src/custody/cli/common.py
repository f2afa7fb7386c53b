"""What the commands share: options, the archivist's key, printing rows, logging events.

No command module imports another, nor the group in ``custody.cli``: each declares its
commands, and the group adds them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..core.terminal import for_terminal

root_option = click.option(
    "--root", type=click.Path(file_okay=False), envvar="CUSTODY_ROOT",
    help="The archive folder (default: the current directory; env CUSTODY_ROOT).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
store_option = click.option(
    "--store", "store_url", envvar="CUSTODY_STORE", metavar="s3://BUCKET/PREFIX",
    help="The archive kept in S3-compatible object storage (endpoint and credentials as "
         "boto3 finds them: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID...; env CUSTODY_STORE).")
json_rows_option = click.option(
    "--json", "fmt", flag_value="json", help="A JSON array of row objects."
)
csv_option = click.option("--csv", "fmt", flag_value="csv", help="CSV with a header row.")
allow_secrets_option = click.option(
    "--allow-secrets", is_flag=True,
    help="Write it even where the capture's session secrets appear in it (each place is "
         "listed; the custody log records that it was allowed).")
timeout_option = click.option(
    "--timeout", type=click.FloatRange(min=0.01), default=5.0, show_default=True,
    metavar="S", help="Stop a query that runs longer than S seconds (Ctrl-C stops it too).")


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
        from ..capture.validation import check_pattern
        from ..core.errors import UsageError

        try:
            return check_pattern(str(value), "")
        except UsageError as exc:
            self.fail(str(exc).removeprefix(": "), param, ctx)


def int_range(name: str) -> click.IntRange:
    """An option's range, as custody.capture.validation's rules (a job's too) give it."""
    from ..capture.validation import LIMITS

    low, high = LIMITS[name]
    return click.IntRange(None if low is None else int(low), None if high is None else int(high))


def float_range(name: str) -> click.FloatRange:
    from ..capture.validation import LIMITS

    low, high = LIMITS[name]
    return click.FloatRange(low, high)


def page_options(scope: str) -> Callable[[Any], Any]:
    """``--behaviors``, ``--behavior-timeout`` and ``--no-replay-check``: how a browser
    treats each page it loads (``scope`` opens each help: "With --browser")."""
    from functools import reduce

    options = [
        click.option("--behaviors", "behaviors", default="default", show_default=True,
                     metavar="LIST",
                     help=f"{scope}: the page behaviours run in each page once it has loaded "
                          "(browsertrix-behaviors, then custody's expand: 'Load more', 'Show "
                          "replies', collapsed sections): default (all but autoclick), all, "
                          "none, or some of autoscroll, autoplay, autofetch, autoclick, site, "
                          "expand joined by commas."),
        click.option("--behavior-timeout", type=float_range("behavior_timeout"),
                     default=20.0, show_default=True,
                     help=f"{scope}: seconds the page behaviours may run in one page."),
        click.option("--no-replay-check", is_flag=True,
                     help=f"{scope}: do not replay each page from the WARC before sealing to "
                          "compare it with what was recorded (needs pywb)."),
    ]
    return lambda command: reduce(lambda made, option: option(made), reversed(options),
                                  command)


def ask_passphrase(prompt: bool, *, confirm: bool = False) -> bytes | None:
    """The key's passphrase: CUSTODY_KEY_PASSPHRASE, or asked for on a terminal."""
    env = os.environ.get("CUSTODY_KEY_PASSPHRASE")
    if env:
        return env.encode()
    if prompt and sys.stdin.isatty():
        return click.prompt("Key passphrase", hide_input=True,
                            confirmation_prompt=confirm).encode()
    return None


def signing_key(archive: Any = None) -> Any:
    """The archivist's key; KeyProblem when it lies inside the archive folder, which is
    handed to partners and courts: a key there would go with it."""
    from ..core import keyfile
    from ..core.agent import agent_fingerprint, agent_key
    from ..core.archive import default_key_path
    from ..core.errors import KeyProblem

    in_agent = agent_fingerprint()
    if in_agent is not None:  # CUSTODY_KEY=agent:SHA256:...: the key never leaves ssh-agent
        return agent_key(in_agent)
    path = default_key_path()
    if archive is not None and path.resolve().is_relative_to(archive.root):
        raise KeyProblem("the signing key lies inside the archive folder, and would be "
                         "handed over with every copy of it: move it out (and set "
                         "CUSTODY_KEY to its new place)", where=str(path))
    if archive is not None and (archive.root / ".custody" / "rotating.json").exists():
        # (until it is, the old key would sign past the time allowed_signers retires it at)
        raise KeyProblem("a key rotation was interrupted: run `custody key rotate` again to "
                         "complete it; nothing is signed until then", where=str(path))
    needs = path.exists() and keyfile.key_is_encrypted(path)
    return keyfile.load_key(path, ask_passphrase(needs))


def archivist(archive: Any) -> tuple[Any, str]:
    """The archivist's key and its principal in allowed_signers; KeyProblem when the key is
    not one of the archive's archivists."""
    from ..core.errors import KeyProblem

    key = signing_key(archive)
    principal = archive.principal_for(key.public_key())
    if principal is None:
        raise KeyProblem("this key is not one of the archive's archivists (custody key add, "
                         "or custody key rotate)")
    return key, principal


account_option = click.option(
    "--account", metavar="NAME", envvar="CUSTODY_ACCOUNT",
    help="Who asked for it, when that is not the archivist whose key signs (recorded in the "
         "event beside the key's principal; env CUSTODY_ACCOUNT).")


def annotator(root: str | None, account: str | None) -> tuple[Any, Any]:
    """The archive, and the Signer of an annotation made there (custody.annotate)."""
    from ..annotate import Signer
    from ..core.archive import Archive

    arch = Archive.open(root)
    key, who = archivist(arch)
    return arch, Signer(key, who, account)


def key_at_hand(archive: Any) -> tuple[Any, str] | None:
    """The archivist's key and principal when they are at hand and the archive can be
    written; None otherwise (a third party checking a copy has no key)."""
    from ..core import keyfile
    from ..core.agent import agent_fingerprint
    from ..core.archive import default_key_path
    from ..core.errors import CustodyError

    path = default_key_path()
    try:
        if agent_fingerprint() is None:
            if not path.exists():
                return None
            if keyfile.key_is_encrypted(path) and not os.environ.get("CUSTODY_KEY_PASSPHRASE"):
                return None
        key = signing_key(archive)
        principal = archive.principal_for(key.public_key())
    except (CustodyError, OSError):
        return None
    if principal is None or not os.access(archive.manifests_dir, os.W_OK):
        return None
    return key, principal


def log_event(archive: Any, event: str, details: dict[str, Any]) -> None:
    """Record an event in the custody log when the archivist's key is at hand; a third
    party verifying a copy has no key, and nothing is written then."""
    from ..core.errors import CustodyError
    from ..seal.custody_log import CustodyLog

    held = key_at_hand(archive)
    if held is None:
        return
    key, principal = held
    try:
        with archive.lock(), archive.sealing():
            CustodyLog(archive.manifests_dir).append(event, key=key, who=principal,
                                                     details=details)
    except (CustodyError, OSError):
        return


def complete_seals(archive: Any, key: Any, principal: str) -> None:
    """Complete what an interrupted seal left (its checkpoint, the log's signed head, a
    journal entry), as `archive` does first, before anything is handed over: a command
    that hands over evidence proves it against the ledger's signed checkpoint. Only
    what verify itself calls an interrupted seal is completed -- a seal the journal
    names, or a checkpoint written into the history (``checkpoints/N``, the first
    step) whose copy was not yet -- never a checkpoint that is there, whether it cannot
    be read, is older or does not verify, nor one missing from the history: that is
    damage, left for the handover's verification to refuse."""
    from ..seal import journal
    from ..seal.history import History
    from ..seal.recovery import recover

    ledger = archive.manifests_dir / "ledger"
    if not journal.pending(archive):
        if (ledger / "checkpoint").exists():
            return
        size = History.open(archive.root).ledger.size
        if not size or not (ledger / "checkpoints" / str(size)).is_file():
            return
    with archive.lock():
        for found in recover(archive, key=key, principal=principal, crawls=None):
            click.echo(f"custody: note: {found.note}", err=True)


def echo_json(kind: str, payload: dict[str, Any]) -> None:
    """One versioned JSON envelope (``custody-KIND/1``); dataclasses become objects."""
    import dataclasses

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    click.echo(json.dumps({"format": f"custody-{kind}/1", **plain(payload)},
                          ensure_ascii=False, indent=2))


def print_rows(columns: list[str], rows: list[Any], fmt: str) -> None:
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
        text = for_terminal(text.replace("\r", " ").replace("\n", " ⏎ "))
        return text if len(text) <= width else text[: width - 1] + "…"

    body = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(lines)


def open_browser(fetcher: Any, settings: Any) -> Any:
    """The browser for a capture that asks for one (loaded only then: it is heavy)."""
    from ..browser.session import open_visitor
    from ..replay.check import check_capture

    return open_visitor(fetcher, settings, check_capture)


def open_media(fetcher: Any, settings: Any) -> Any:
    """yt-dlp's collector for a capture with --media (loaded only then)."""
    from ..media.session import open_media as collector

    return collector(fetcher, settings)


def store_copy(store_url: str, root: str | None) -> Any:
    """The archive an object store holds, fetched into ``root`` (default: a folder in the
    user's cache), exact (what the store no longer holds is removed from the copy) and
    indexed; the copy's Archive."""
    from pathlib import Path

    from ..core.archive import Archive
    from ..store.copy import fetch_all
    from ..store.s3 import Store

    store = Store(store_url, patience=float(os.environ.get("CUSTODY_S3_PATIENCE", "60")))
    if root is None:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(cache) / "custody" / "store" / store.url.bucket /
                   store.url.prefix.rstrip("/"))
    store.check()
    folder = Archive.resolve_root(root)
    folder.mkdir(parents=True, exist_ok=True)

    def say(text: str) -> None:
        click.echo(f"custody: {text}", err=True)

    counts = fetch_all(store, folder, say)
    if counts["objects"] == 0:
        from ..core.errors import StoreError

        raise StoreError("the store holds no archive", where=str(store.url))
    arch = Archive.open(folder)
    from ..capture.recovery import reindex

    reindex(arch, key=None)
    say(f"{store.url}: {counts['objects']} objects, {counts['fetched']} fetched "
        f"({counts['bytes'] / 1e6:.1f} MB), {counts['removed']} removed from the copy "
        f"in {arch.root}")
    return arch


T = TypeVar("T")
SHOWN = 20  # places listed before a refusal; `custody secrets` lists them all

def guarded(capture_ids: list[str], write: Callable[[], T]) -> T:
    """``write()``; when it refuses for the session's secrets, say where first."""
    from ..core.errors import SecretsFound

    try:
        return write()
    except SecretsFound as exc:
        for line in exc.lines[:SHOWN]:
            click.echo(f"custody: secret: {line}", err=True)
        if len(exc.lines) > SHOWN:
            click.echo(f"custody: secret: ... and {len(exc.lines) - SHOWN} more (custody "
                       f"secrets {' '.join(capture_ids)} lists them all)", err=True)
        raise


def searched(found: Any, *, allow: bool) -> dict[str, Any] | None:
    """Refuse unless nothing was found or ``allow``; what the custody log records of the
    search (None when the captures had no session), said on stderr too."""
    found.refuse(allow=allow)
    if not found.session:
        return None
    summary = {**found.summary(), "allowed": bool(allow and not found.clean)}
    say_secrets(summary)
    return summary


def say_secrets(summary: dict[str, Any] | None) -> None:
    """What a search for the session's secrets leaves for the archivist to know."""
    if not summary:
        return
    if summary["allowed"]:
        click.echo(f"custody: note: written with the session's secrets in "
                   f"{summary['places']} places (--allow-secrets); the custody log says so",
                   err=True)
    if summary["pictures"]:
        click.echo(f"custody: note: {summary['pictures']} screenshots and PDFs of pages "
                   "are pictures of text, which custody cannot search: look at them "
                   "before handing them over", err=True)
    if summary["too_short"]:
        click.echo(f"custody: note: {summary['too_short']} of the session's values are "
                   "too short to tell apart from text, and were not searched for", err=True)


def search_before(arch: Any, capture_ids: list[str], *, allow: bool,
                  extra: dict[str, bytes] | None = None) -> dict[str, Any] | None:
    """The search made before a bundle or a report is written (see report/secrets.py)."""
    from ..report.secrets import search

    found = search(arch, capture_ids, extra=extra)
    return guarded(capture_ids, lambda: searched(found, allow=allow))
