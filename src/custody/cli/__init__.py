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
from . import (
    archiving,
    browsing,
    checking,
    exporting,
    importing,
    keys,
    proofs,
    queueing,
    replaying,
    reporting,
)


def fail(message: str, code: int) -> None:
    click.echo(f"custody: error: {message}", err=True)
    sys.exit(code)


class CustodyGroup(click.Group):
    """A click group whose commands' errors end as one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CustodyError as exc:
            fail(str(exc), int(exc.exit_code))
        except KeyboardInterrupt:
            fail("interrupted", ExitCode.INTERRUPTED)
        except BrokenPipeError:  # the reader went away (`custody verify | head`): say nothing
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(ExitCode.PIPE_CLOSED)
        except OSError as exc:  # a full disk, a read-only file system, an I/O error
            fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), ExitCode.ARCHIVE)
        except sqlite3.Error as exc:  # the same, as SQLite says it; or a locked database
            fail(f"database: {exc}", ExitCode.ARCHIVE)


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


for command in (keys.init, keys.key, archiving.archive, archiving.reindex, checking.verify,
                checking.check,
                proofs.timestamp, proofs.ledger, proofs.log_command, proofs.bundle,
                browsing.query, browsing.search, browsing.show, browsing.history, browsing.diff,
                browsing.serve, replaying.replay, exporting.export, importing.import_command,
                reporting.report, queueing.worker, queueing.queue):
    main.add_command(command)
