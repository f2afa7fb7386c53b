"""Evidence is files of the archive: a symbolic link under ``archive/`` or ``manifests/``
(to a file elsewhere, which can change, vanish or be shared without the archive
changing, and which a copy of the folder may not carry) fails verify, named, whatever
the file it leads to holds. One pass over the two folders, links not followed, nothing
held but the first few found."""

from __future__ import annotations

import os
from pathlib import Path

from ..core.archive import Archive
from .report import FAILED, Report

SHOWN = 10


def check_links(archive: Archive, report: Report) -> None:
    found: list[str] = []
    count = 0
    for top in (archive.archive_dir, archive.manifests_dir):
        for folder, dirs, files in os.walk(top):
            for name in (*dirs, *files):
                path = Path(folder) / name
                if path.is_symlink():
                    count += 1
                    if len(found) < SHOWN:
                        found.append(f"{archive.relative(path)} -> {os.readlink(path)}")
    if count:
        more = f"; and {count - SHOWN} more" if count > SHOWN else ""
        report.add("files", "archive/, manifests/", FAILED,
                   f"{count} symbolic link(s), not files of the archive: "
                   + "; ".join(found) + more)
