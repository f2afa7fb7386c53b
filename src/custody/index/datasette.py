"""Browsing the database in Datasette, read-only, as a child process that ends with us.

Datasette runs with ``-i`` (immutable: it never writes to custody.db) and facets set for
each table. Ctrl-C and SIGTERM are passed on to it and waited for; its metadata file
lives in a temporary folder removed when it ends; and it is asked to end with custody
even when custody is killed outright.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..core.errors import ArchiveError, UsageError
from ..core.processes import die_with_parent


def metadata(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "description": "Derived from the sealed WARC files and manifests; "
                       "`custody verify` checks it against them.",
        "databases": {"custody": {"tables": {
            "captures": {"facets": ["status", "operator"], "sort_desc": "started_at"},
            "resources": {"facets": ["status_code", "content_type"]},
            "documents": {"facets": ["language", "charset"], "sort": "url"},
            "failures": {"facets": ["kind"]},
        }}},
    }


def serve(db_path: Path, *, title: str, host: str, port: int) -> int:
    """Run Datasette on the database until it ends or we are told to stop; its exit code
    (0 when stopped by Ctrl-C or SIGTERM)."""
    import importlib.util

    if importlib.util.find_spec("datasette") is None:
        raise UsageError("Datasette is not installed: pip install 'custody[serve]' "
                         "(or open custody.db with any Datasette: datasette -i custody.db)")
    if not db_path.exists():
        raise ArchiveError("no database (run `custody reindex` to rebuild it)",
                           where=str(db_path))
    parent = os.getpid()
    with tempfile.TemporaryDirectory(prefix="custody-serve-") as folder:
        settings = Path(folder) / "metadata.json"
        settings.write_text(json.dumps(metadata(title)))
        child = subprocess.Popen(
            [sys.executable, "-m", "datasette", "serve", "-i", str(db_path), "--metadata",
             str(settings), "--host", host, "--port", str(port)],
            preexec_fn=lambda: die_with_parent(parent))
        stopped: list[int] = []

        def stop(signum: int, _frame: Any) -> None:
            stopped.append(signum)
            child.send_signal(signal.SIGTERM)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            code = child.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if child.poll() is None:
                child.kill()
                child.wait()
        return 0 if stopped else code
