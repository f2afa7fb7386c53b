"""Browsing the database in Datasette, read-only, as a child process that ends with us.

Datasette runs with ``-i`` (immutable: it never writes to custody.db) and facets set for
each table. Ctrl-C and SIGTERM are passed on to it and waited for; its metadata file
lives in a temporary folder removed when it ends; and it is asked to end with custody
even when custody is killed outright.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..core import scratch
from ..core.errors import ArchiveError, UsageError
from ..core.processes import serve_child


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
        raise UsageError("Datasette is not installed: pip install 'custody[datasette]' "
                         "(or open custody.db with any Datasette: datasette -i custody.db)")
    if not db_path.exists():
        raise ArchiveError("no database (run `custody reindex` to rebuild it)",
                           where=str(db_path))
    with scratch.folder("custody-serve-") as folder:  # a kill -9's is removed by the next
        settings = folder / "metadata.json"
        settings.write_text(json.dumps(metadata(title)))
        return serve_child(
            [sys.executable, "-m", "datasette", "serve", "-i", str(db_path), "--metadata",
             str(settings), "--host", host, "--port", str(port)])
