"""Commands for looking at an archive: a page's history, a diff between captures, and
Datasette. They add themselves to ``custody.cli.main``."""

from __future__ import annotations

import json
import sys

import click

from .cli import handles_errors, json_option, main, root_option
from .errors import ExitCode, UsageError

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
