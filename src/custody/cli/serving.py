"""The workbench: `custody serve`, the archive in a browser, and `custody account`, the
accounts of a team's workbench."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from .common import root_option, signing_key


@click.command()
@root_option
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="The workbench's port (0: a free one).")
@click.option("--replay-port", type=click.IntRange(0, 65535), default=0,
              help="The replay's port, another origin than the workbench's (default: a "
                   "free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Listen here. Anything but loopback is a team's workbench: it needs "
                   "accounts (custody account add) and signs them in with passwords.")
@click.option("--name", "names", multiple=True, metavar="HOST",
              help="A host name the team's browsers use for this server (repeatable); "
                   "requests naming any other Host are refused.")
@click.option("--replay-host", metavar="HOST",
              help="The host name replay is served under: best another site than the "
                   "workbench's (on loopback: localhost or 127.0.0.1, chosen for you).")
@click.option("--accounts", type=click.Path(dir_okay=False), envvar="CUSTODY_ACCOUNTS",
              help="The accounts file (default: accounts.json beside the archivist's "
                   "key, outside the archive; env CUSTODY_ACCOUNTS).")
@click.option("--queue", "queue_url", metavar="URL",
              help="Put captures on this shared queue (redis://HOST:PORT/DB) for `custody "
                   "worker`s, instead of capturing here.")
@click.option("--db", "db_url", envvar="CUSTODY_DB", metavar="URL",
              help="List and search the team's shared index in PostgreSQL "
                   "(postgresql://HOST/DB), which `custody worker --db` fills: what every "
                   "worker sealed. Captures made here are copied there too. Env CUSTODY_DB.")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False),
              help="Serve HTTPS with this certificate (PEM), for a team.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False),
              help="The certificate's private key (PEM).")
@click.option("--no-replay", is_flag=True, help="Serve no replay (pywb is not started).")
def serve(root: str | None, port: int, replay_port: int, host: str, names: tuple[str, ...],
          replay_host: str | None, accounts: str | None, queue_url: str | None,
          db_url: str | None, certfile: str | None, keyfile: str | None,
          no_replay: bool) -> None:
    """The investigator's workbench in a browser: capture, look, verify, search, replay
    and download reports, bundles and WACZ packages.

    On loopback (the default) it is for one person: it prints an address with a secret
    for this run; open it. What it does is signed with the archivist's key and logged
    in the custody log. Ctrl-C stops it.

    \b
    custody serve
    custody serve --port 8080
    custody serve --host 0.0.0.0 --name evidence.team.example --certfile c.pem --keyfile k.pem
    custody serve --queue redis://queue.example:6379/0 --db postgresql://index.example/evidence
    """
    from ..core.archive import Archive
    from ..core.errors import CustodyError, UsageError
    from ..web.accounts import default_path
    from ..web.server import Options
    from ..web.server import serve as run

    if (certfile is None) != (keyfile is None):
        raise UsageError("--certfile and --keyfile go together")
    if port and port == replay_port:
        raise UsageError(f"--port and --replay-port are both {port}: the replay needs a "
                         "port of its own")
    if queue_url is not None:
        from ..queue.connection import check_url

        check_url(queue_url)
    if db_url is not None:
        from ..index.postgres import check_url as check_db_url

        check_db_url(db_url)
    logging.basicConfig(level=logging.INFO, format="custody serve: %(levelname)s %(message)s",
                        stream=sys.stderr)
    # httpx would say each request the replay passes on to pywb, the replay's secret in it
    logging.getLogger("httpx").setLevel(logging.WARNING)
    arch = Archive.open(root)
    key = principal = None
    try:
        key = signing_key(arch)
        principal = arch.principal_for(key.public_key())
    except CustodyError as exc:
        click.echo(f"custody: note: read-only workbench (no capture, verify or download): "
                   f"{exc}", err=True)
    if key is not None and principal is None:
        click.echo("custody: note: read-only workbench: this key is not one of the "
                   "archive's archivists (custody key add)", err=True)
        key = None
    options = Options(host=host, port=port, replay_port=replay_port, replay_host=replay_host,
                      public_names=names,
                      accounts=Path(accounts) if accounts else default_path(),
                      queue_url=queue_url, db_url=db_url, certfile=certfile, keyfile=keyfile,
                      replay=not no_replay)

    def say(line: str) -> None:
        click.echo(line, err=line.startswith("custody:"))
        sys.stdout.flush()

    run(arch, options, key=key, principal=principal, say=say)


@click.group()
def account() -> None:
    """The accounts of a team's workbench (`custody serve --host`): add, list, set a
    role or a password, disable. Kept outside the archive (default: accounts.json beside
    the archivist's key).

    \b
    custody account add ana --role investigator
    custody account list
    """


accounts_option = click.option(
    "--accounts", type=click.Path(dir_okay=False), envvar="CUSTODY_ACCOUNTS",
    help="The accounts file (default: beside the archivist's key; env CUSTODY_ACCOUNTS).")


def _open(path: str | None) -> object:
    from ..web.accounts import Accounts, default_path

    return Accounts(Path(path) if path else default_path())


def _password(confirm: bool = True) -> str:
    """From CUSTODY_PASSWORD, or asked for on a terminal; UsageError otherwise."""
    from ..core.errors import UsageError

    given = os.environ.get("CUSTODY_PASSWORD")
    if given:
        return given
    if not sys.stdin.isatty():
        raise UsageError("give the password on a terminal, or in CUSTODY_PASSWORD")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=confirm))


@account.command("add")
@accounts_option
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["viewer", "investigator", "admin"]),
              help="viewer: read, verify, download; investigator: also capture and annotate; "
              "admin: also the accounts.")
def account_add(accounts: str | None, name: str, role: str) -> None:
    """Add an account (its password asked for, or CUSTODY_PASSWORD).

    \b
    custody account add ana --role investigator
    """
    from ..web.accounts import Accounts, check_name

    store = _open(accounts)
    assert isinstance(store, Accounts)
    check_name(name)
    store.add(name, role, _password())
    click.echo(f"{name}: {role} (in {store.path})")


@account.command("list")
@accounts_option
def account_list(accounts: str | None) -> None:
    """The accounts, their roles and whether they are disabled.

    \b
    custody account list
    """
    from ..web.accounts import Accounts

    store = _open(accounts)
    assert isinstance(store, Accounts)
    for found in sorted(store.accounts.values(), key=lambda a: a.name):
        click.echo(f"{found.name}  {found.role}  since {found.created_at}"
                   + ("  disabled" if found.disabled else ""))


@account.command("role")
@accounts_option
@click.argument("name")
@click.argument("role", type=click.Choice(["viewer", "investigator", "admin"]))
def account_role(accounts: str | None, name: str, role: str) -> None:
    """Give an account another role (its sessions end when the server next checks).

    \b
    custody account role ana viewer
    """
    from ..web.accounts import Accounts

    store = _open(accounts)
    assert isinstance(store, Accounts)
    store.set_role(name, role)
    click.echo(f"{name}: {role}")


@account.command("password")
@accounts_option
@click.argument("name")
def account_password(accounts: str | None, name: str) -> None:
    """Set an account's password (asked for, or CUSTODY_PASSWORD).

    \b
    custody account password ana
    """
    from ..web.accounts import Accounts

    store = _open(accounts)
    assert isinstance(store, Accounts)
    store.get(name)
    store.set_password(name, _password())
    click.echo(f"{name}: password set")


@account.command("disable")
@accounts_option
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable it again.")
def account_disable(accounts: str | None, name: str, enable: bool) -> None:
    """Disable an account (or enable it again with --enable).

    \b
    custody account disable ana
    """
    from ..web.accounts import Accounts

    store = _open(accounts)
    assert isinstance(store, Accounts)
    store.set_disabled(name, not enable)
    click.echo(f"{name}: {'enabled' if enable else 'disabled'}")
