"""The command line: commands by task, each declared in its module and added to ``main``.

``CustodyGroup`` is the one place that turns what the library raises into one line on
stderr and the documented exit code (the README's table; core/errors.py names them).
Commands parse, call the library, and print; heavy libraries (httpx, trafilatura,
warcio, cryptography) are imported inside the commands that need them, so that
``custody --help`` answers at once.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from typing import Any

import click

from .. import __version__
from ..core.errors import CustodyError, ExitCode

# Each command by its name, and where it is declared: a module is imported only when one
# of its commands runs (or --help lists them), so that `custody verify` does not load
# the declarations of every other command first.
COMMANDS = {
    "init": "keys:init", "key": "keys:key", "archive": "archiving:archive",
    "reindex": "archiving:reindex", "verify": "checking:verify", "check": "checking:check",
    "timestamp": "proofs:timestamp", "ledger": "proofs:ledger", "log": "proofs:log_command",
    "bundle": "proofs:bundle", "query": "browsing:query", "search": "browsing:search",
    "show": "browsing:show", "history": "browsing:history", "diff": "browsing:diff",
    "serve": "serving:serve", "account": "serving:account", "replay": "replaying:replay",
    "export": "exporting:export",
    "import": "importing:import_command", "report": "reporting:report",
    "worker": "queueing:worker", "queue": "queueing:queue", "pull": "queueing:pull",
    "secrets": "handover:secrets_command", "case": "cases:case", "tag": "notes:tag",
    "untag": "notes:untag", "tags": "notes:tags", "note": "notes:note", "notes": "notes:notes",
    "retract": "notes:retract", "list": "listing:list_command", "selectors": "listing:selectors",
    "watch": "watching:watch",
}


def fail(message: str, code: int) -> None:
    click.echo(f"custody: error: {message}", err=True)
    sys.exit(code)


class CustodyGroup(click.Group):
    """A click group whose commands' errors end as one line and an exit code, and whose
    commands are loaded when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        import importlib

        module, name = where.split(":")
        command = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        return command if isinstance(command, click.Command) else None

    def main(self, args: Any = None, *rest: Any, **options: Any) -> Any:
        if args is None:  # the command line of a process of its own (not a test's call)
            import atexit
            import gc

            # At exit the interpreter's collector walks every object the process holds
            # (its modules' among them): some 35 ms of a one-page `archive`. Frozen,
            # they are still freed as their references go, only not searched for
            # cycles; what a command writes is closed and synced before it returns.
            atexit.register(gc.freeze)
        return super().main(args, *rest, **options)

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:  # custody's own options (`custody --bogus`)
            _usage(exc)
            raise  # (not reached: _usage exits)

    def invoke(self, ctx: click.Context) -> Any:
        _terminate_as_interrupt()
        try:
            return super().invoke(ctx)
        except CustodyError as exc:
            fail(str(exc), int(exc.exit_code))
        except click.UsageError as exc:  # an option or argument not as the command takes it
            _usage(exc, f"custody {ctx.invoked_subcommand or ''}".strip())
        except KeyboardInterrupt:  # (a capture's first Ctrl-C seals; a second ends it here)
            fail("interrupted" + (" before the capture was sealed: what was fetched is kept, "
                                  "and `custody archive --resume` seals it and goes on"
                                  if ctx.invoked_subcommand == "archive" else ""),
                 ExitCode.INTERRUPTED)
        except BrokenPipeError:  # the reader went away (`custody verify | head`): say nothing
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(ExitCode.PIPE_CLOSED)
        except OSError as exc:  # a full disk, a read-only file system, an I/O error
            fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), ExitCode.ARCHIVE)
        except sqlite3.DatabaseError as exc:  # custody.db cut short, or overwritten
            fail(f"database: {exc}" + ("; `custody reindex` makes custody.db again from the "
                                       "manifests and WARC files" if _damaged(exc) else ""),
                 ExitCode.ARCHIVE)
        except sqlite3.Error as exc:  # the same, as SQLite says it; or a locked database
            fail(f"database: {exc}", ExitCode.ARCHIVE)


def _usage(exc: click.UsageError, command: str = "custody") -> None:
    """One line, as every error of custody's is, not click's usage block; a group given
    no command (`custody key`) shows its help, as click does."""
    if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
        click.echo(exc.ctx.get_help(), err=True)
        sys.exit(ExitCode.USAGE)
    where = command if exc.ctx is None else \
        " ".join(["custody", *exc.ctx.command_path.split()[1:]])  # (a test's runner: "main")
    fail(f"{exc.format_message()} (`{where} -h` lists what it takes)", ExitCode.USAGE)


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc)
    return "malformed" in text or "not a database" in text


def _terminate_as_interrupt() -> None:
    """SIGTERM ends a command as Ctrl-C does (exit 130, "interrupted", what it holds
    released and removed), where the command sets no handler of its own (`archive`,
    `serve` and `watch run` do)."""
    import signal
    import threading

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, interrupt)


@click.group(cls=CustodyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
