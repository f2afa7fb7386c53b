"""Everything in the archive that no manifest seals, each named in a note: files under
archive/ of any kind, files beside the manifests that belong to none, and crawls --
running, interrupted, or whose sealing did not finish."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.archive import Archive
from ..seal import manifest
from .report import FAILED, Report
from .scratch import Scratch


def note_leftovers(archive: Archive, names: Scratch, progress: Any, report: Report) -> None:
    """``names``: the files the manifests seal ("sealed_files", relative paths) and the
    sealed manifests ("manifests", capture ids), as verify gathered them."""
    from ..seal import journal

    running = " (a capture is running now)" if progress.writing else ""
    found = []
    for folder, _, files in os.walk(archive.archive_dir):
        for name in files:
            path = Path(folder) / name
            rel = archive.relative(path)
            if not names.has("sealed_files", rel):
                found.append((rel, path.name))
    for rel, name in sorted(found):
        if name.endswith(".partial"):
            why = "being written by a running capture" if progress.writing else \
                "left by an interrupted capture"
            report.notes.append(f"{rel}: not sealed by any manifest ({why})")
        else:
            report.notes.append(f"{rel}: not sealed by any manifest{running}")
    beside = []
    with os.scandir(archive.manifests_dir) as entries:
        for item in entries:
            name = item.name
            if item.is_dir(follow_symlinks=False) and name != "ledger":
                report.notes.append(f"manifests/{name}/: a folder that is no part of the "
                                    "evidence (nothing in it is checked)")
                continue
            if not item.is_file() or (name.endswith(".json") and not name.startswith(".")):
                continue
            owner = _owner(name)
            if owner is None or not names.has("manifests", owner):
                beside.append((name, owner))
    for name, owner in sorted(beside):
        if owner is None:  # no capture's: the ledger's are in ledger/, nothing else is here
            report.notes.append(f"manifests/{name}: no manifest seals it, and it is no part "
                                "of the ledger (it is not evidence)")
            continue
        what = "a seal in progress" if progress.writing else "a seal that was interrupted"
        report.notes.append(f"manifests/{name}: belongs to no sealed manifest ({what}; "
                            "it is not evidence)")
    _ledger_strays(archive, report)
    unfinished = journal.pending(archive)
    for entry in unfinished:
        if entry.kind == journal.IMPORT:
            verb = "is being sealed" if progress.writing else \
                "was interrupted while it was sealed: the next custody command that writes " \
                "completes it (or, if its manifest was not written, undoes it)"
            report.notes.append(f"the import {entry.capture_id} {verb}")
    pending = {e.crawl: e.capture_id for e in unfinished if e.crawl}
    crawls = archive.root / ".custody" / "crawls"
    for crawl, capture_id in sorted(pending.items()):
        if crawl and not (crawls / crawl / "state.db").exists() and not progress.writing:
            report.notes.append(f"capture {capture_id}: its sealing journal is still there "
                                "(interrupted at the end): the next `custody archive`, "
                                "`--resume` or `reindex` clears it")
    for state in sorted(crawls.glob("*/state.db")):
        crawl = state.parent.name
        if crawl in pending:
            verb = "is being sealed" if progress.writing else \
                "was interrupted while it was sealed: the next `custody archive`, " \
                "`--resume` or `reindex` completes it"
            report.notes.append(f"capture {pending[crawl]} {verb}")
        elif progress.writing:
            report.notes.append(f"crawl {crawl} is running")
        else:
            report.notes.append(_interrupted(crawl, _seeds_of(state)))


def _interrupted(crawl: str, seeds: list[str] | None) -> str:
    """What is left of a crawl that was stopped, and what to do with it."""
    if seeds is None:  # killed as it began: its settings and seeds were never written
        return (f"crawl {crawl} was interrupted as it began, before its seeds were "
                "written: nothing was fetched and there is nothing to resume (the next "
                "`custody archive --resume` removes it)")
    named = f" of {seeds[0]}" + (f" and {len(seeds) - 1} more" if len(seeds) > 1 else "") \
        if seeds else ""
    return f"crawl {crawl}{named} was interrupted: `custody archive --resume` continues it"


def _seeds_of(state: Path) -> list[str] | None:
    """A crawl's seeds, as its state holds them once it has begun; None for a state
    written without them (its start was killed before it committed them)."""
    import json
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
        try:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() \
                    is None:
                return None  # (killed before even its tables were made)
            kept = dict(conn.execute("SELECT key, value FROM meta WHERE key IN "
                                     "('capture_id', 'settings', 'seeds')"))
        finally:
            conn.close()
        seeds = json.loads(kept["seeds"]) if {"capture_id", "settings", "seeds"} <= set(kept) \
            else None
    except (sqlite3.Error, ValueError):
        return []  # unreadable here: said as a crawl that was interrupted
    if seeds is None:
        return None
    return [str(s) for s in seeds] if isinstance(seeds, list) else []


def _owner(name: str) -> str | None:
    """The capture id a file beside the manifests belongs to (<id>.json.sig, .tsr,
    .SHA256SUMS, .<id>.json.tmp); None for any other file."""
    base = name.lstrip(".")
    for marker in (".json", ".SHA256SUMS"):
        if marker in base:
            return base.split(marker, 1)[0]
    return None


_LEDGER = {"leaves", "log.jsonl", "log.head", "checkpoint", "checkpoint.sig", "origin",
           "tile", "checkpoints"}
_HISTORY = re.compile(r"[0-9]+(\.tsr|\.[0-9]+\.tsr)?")


def _ledger_strays(archive: Archive, report: Report) -> None:
    """Files in the ledger's folder, and in its checkpoints' history, that are none of
    its own (a file an interrupted write left, ``.NAME.tmp``, is said as such)."""
    folder = archive.manifests_dir / "ledger"
    found = []
    for where, allowed in ((folder, _LEDGER.__contains__),
                           (folder / "checkpoints", _HISTORY.fullmatch)):
        try:
            entries = os.scandir(where)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for item in entries:
                if not allowed(item.name):
                    found.append(archive.relative(Path(item.path)))
    for rel in sorted(found):
        why = "left by an interrupted write" if rel.endswith(".tmp") and \
            Path(rel).name.startswith(".") else "no part of the ledger"
        report.notes.append(f"{rel}: {why} (it is not evidence, and nothing checks it)")


def not_in_ledger(archive: Archive, extra: Iterable[str], report: Report) -> list[str]:
    """Manifests the ledger does not name, in chain order (sequence, then name). A file
    there that is no manifest at all (not JSON, not custody's format) is no capture: it
    fails as what it is, and is not checked as a capture the ledger lost."""
    found = []
    for cid in extra:
        path = archive.manifests_dir / f"{cid}.json"
        try:
            sealed = manifest.read(path, lazy=True)
        except OSError as exc:
            report.add("manifest", f"manifests/{cid}.json", FAILED,
                       f"unreadable ({exc.strerror or exc}), and the ledger names no such "
                       "capture")
            continue
        if not sealed.readable:
            report.add("manifest", f"manifests/{cid}.json", FAILED,
                       f"no manifest ({sealed.problem}), and the ledger names no such "
                       "capture: a file put among the manifests?")
            continue
        found.append((sealed.sequence is None, sealed.sequence or 0, cid))
    return [cid for _, _, cid in sorted(found)]
