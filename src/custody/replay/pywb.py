"""Replaying the archive in pywb, read in place: one pywb collection per sealed capture.

pywb (Webrecorder's wayback machine, Python) is a well-kept replay engine that reads
WARC files as they are: custody gives it, in a temporary folder, one collection per
capture whose ``archive/`` holds symbolic links to the capture's sealed WARC files, and
the CDXJ index pywb makes of them there. Nothing is written to the archive. pywb's pins
(an old redis client, among others) are not custody's, so it lives in a virtual
environment of its own: ``./scripts/setup --replay`` makes it in ``.venv/tools/pywb``;
``CUSTODY_PYWB`` names another folder holding its ``wayback`` and ``python``.

Each WARC file is hashed before it is served: a capture whose files are not the sealed
ones is left out, and said to be, so that nobody looks at a page that is not the
evidence (``custody verify`` says what changed).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from ..core import scratch
from ..core.archive import Archive
from ..core.errors import UsageError
from ..core.processes import serve_child
from ..export.cdxj import INDEXED
from ..seal import manifest

INDEX = """
import sys
from pywb.manager.manager import CollectionsManager
for name in sys.argv[1:]:
    CollectionsManager(name, must_exist=True).reindex()
"""


@dataclass
class Replayed:
    capture_id: str
    seed_url: str
    started_at: str
    urls: set[str]  # what its response and resource records hold


def pywb_bin() -> Path:
    """The folder of pywb's programs; UsageError saying how to install it."""
    named = os.environ.get("CUSTODY_PYWB")
    folder = Path(named) if named else Path(sys.prefix) / "tools" / "pywb" / "bin"
    if not (folder / "wayback").is_file() or not (folder / "python").is_file():
        raise UsageError(f"custody replay needs pywb at {folder}: install it with "
                         "`./scripts/setup --replay` (or set CUSTODY_PYWB to its bin folder)")
    return folder


def sealed_captures(archive: Archive) -> tuple[list[tuple[Replayed, list[Path]]], list[str]]:
    """The captures to replay, with their WARC files, and why any was left out."""
    chosen, left_out = [], []
    for sealed in manifest.read_all(archive.manifests_dir):
        content = sealed.content
        if content is None:
            left_out.append(f"{sealed.capture_id}: its manifest is unreadable")
            continue
        problem = manifest.unsealed_file(archive.root, content)
        if problem:
            left_out.append(f"{sealed.capture_id}: {problem} (custody verify says more)")
            continue
        packages = manifest.imported_packages(content)
        if packages:
            left_out.append(f"{sealed.capture_id}: an imported WACZ ({packages[0]}): replay "
                            "it as a package (pywb's `wb-manager add --unpack-wacz`, or "
                            "ReplayWeb.page)")
            continue
        files = [archive.root / str(entry["path"]) for entry in content.get("warc_files") or []]
        urls = {str(r["target_uri"]) for r in content.get("records") or []
                if isinstance(r, dict) and r.get("type") in INDEXED and r.get("target_uri")}
        chosen.append((Replayed(sealed.capture_id, str(content.get("seed_url") or ""),
                                str(content.get("started_at") or ""), urls), files))
    return chosen, left_out


def prepare(folder: Path, captures: list[tuple[Replayed, list[Path]]], pywb: Path) -> None:
    """pywb's collections in ``folder``: links to the WARC files, and their indexes."""
    for replayed, files in captures:
        collection = folder / "collections" / replayed.capture_id
        (collection / "archive").mkdir(parents=True)
        (collection / "indexes").mkdir()
        for path in files:
            (collection / "archive" / path.name).symlink_to(path.resolve())
    if captures:
        subprocess.run([str(pywb / "python"), "-c", INDEX,
                        *(r.capture_id for r, _ in captures)],
                       cwd=folder, check=True, capture_output=True)


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def serve(folder: Path, pywb: Path, host: str, port: int) -> int:
    """pywb until Ctrl-C or SIGTERM; what it logs goes to ``folder``/wayback.log."""
    with open(folder / "wayback.log", "wb") as log:
        return serve_child([str(pywb / "wayback"), "-b", host, "-p", str(port)], cwd=folder,
                           output=log)


def temporary_folder() -> AbstractContextManager[Path]:
    """The collections' folder, removed when replay ends -- or, when replay is killed
    outright, by the next replay (core/scratch)."""
    return scratch.folder("custody-replay-")
