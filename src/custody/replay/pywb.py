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
    """pywb on ``host``:``port``, behind its guard (pywb_socket.py), until Ctrl-C or
    SIGTERM; what it logs goes to ``folder``/wayback.log."""
    _fits(folder / "warcserver.sock")
    with open(folder / "wayback.log", "wb") as log:
        # -P: this folder (which has a pywb.py) is not put first on its sys.path
        return serve_child([str(pywb / "python"), "-P",
                            str(Path(__file__).with_name("pywb_socket.py")), "--tcp", host,
                            str(port)], cwd=folder, output=log)


def _fits(socket_path: Path) -> None:
    """UsageError where the path is too long for a Unix socket (sun_path: 108 bytes)."""
    if len(os.fsencode(socket_path)) > 100:
        raise UsageError("the temporary folder's path is too long for pywb's socket: "
                         "set TMPDIR to a shorter one", where=str(socket_path.parent))


def temporary_folder() -> AbstractContextManager[Path]:
    """The collections' folder, removed when replay ends -- or, when replay is killed
    outright, by the next replay (core/scratch)."""
    return scratch.folder("custody-replay-")


def add_collection(folder: Path, name: str, archive: Archive, capture_id: str) -> Replayed:
    """One capture as a pywb collection ``name`` in ``folder`` (for a pywb already
    running there, which finds new collections as they appear): links to its WARC files,
    each hashed first (UsageError when one is not the sealed file), and the CDXJ index
    made from its manifest, as an export makes it -- no pywb process is run for it."""
    from ..core.atomic import write_atomic
    from ..export import cdxj

    _, content = manifest.read_capture(archive.manifests_dir, capture_id)
    problem = manifest.unsealed_file(archive.root, content)
    if problem:
        raise UsageError(f"not replayed: {problem} (custody verify says more)",
                         where=capture_id)
    packages = manifest.imported_packages(content)
    if packages:
        raise UsageError(f"an imported WACZ ({packages[0]}): replay it as a package "
                         "(ReplayWeb.page, or pywb's `wb-manager add --unpack-wacz`)",
                         where=capture_id)
    collection = folder / "collections" / name
    staging = folder / "collections" / f".{name}.partial"
    (staging / "archive").mkdir(parents=True, exist_ok=True)
    (staging / "indexes").mkdir(exist_ok=True)
    names: dict[str, str] = {}
    for entry in content.get("warc_files") or []:
        source = (archive.root / str(entry["path"])).resolve()
        names[str(entry["path"])] = source.name
        link = staging / "archive" / source.name
        if not link.is_symlink():
            link.symlink_to(source)
    records = [r for r in content.get("records") or [] if isinstance(r, dict)]
    write_atomic(staging / "indexes" / "index.cdxj",
                 "".join(line + "\n" for line in cdxj.lines(records, names)).encode())
    if not collection.exists():
        staging.rename(collection)  # whole, or not there: pywb never sees half of it
    urls = {str(r["target_uri"]) for r in records
            if r.get("type") in INDEXED and r.get("target_uri")}
    return Replayed(capture_id, str(content.get("seed_url") or ""),
                    str(content.get("started_at") or ""), urls)


# pywb's home page and collection list would name every collection: replaced by a page
# that names none (the workbench links to each capture's replay itself)
HOME = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>custody replay</title>
</head><body><p>custody replay: open a capture from the workbench.</p></body></html>
"""


class Wayback:
    """pywb's wayback, a child of this process, over ``folder``'s collections (added while
    it runs), on Unix sockets in ``folder`` (pywb_socket.py), its warcserver too: no
    port, so no other user or program of this machine reaches the collections past the
    replay front's secret (the folder is the run's own, mode 700). Ends with us, even
    when we are killed outright."""

    def __init__(self, folder: Path, pywb: Path, *, framed: bool = True) -> None:
        from ..core.processes import die_with_parent

        (folder / "collections").mkdir(parents=True, exist_ok=True)
        (folder / "templates").mkdir(exist_ok=True)
        (folder / "templates" / "index.html").write_text(HOME)
        (folder / "config.yaml").write_text("enable_auto_colls: true\n"
                                            f"framed_replay: {str(framed).lower()}\n")
        parent = os.getpid()
        self.socket = folder / "wayback.sock"
        _fits(self.socket)
        self.log = open(folder / "wayback.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            # -P: this folder (which has a pywb.py) is not put first on its sys.path
            [str(pywb / "python"), "-P", str(Path(__file__).with_name("pywb_socket.py")),
             str(self.socket)], cwd=folder,
            stdout=self.log, stderr=self.log, preexec_fn=lambda: die_with_parent(parent))

    def wait_ready(self, timeout: float = 60.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UsageError(f"pywb ended at start (exit code {self.process.returncode})")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.settimeout(1)
                    probe.connect(str(self.socket))
                return
            except OSError:
                time.sleep(0.2)
        raise UsageError("pywb did not start in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
