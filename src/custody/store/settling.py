"""Notes of intent left by writers that did not finish sending a seal, settled by the
next holder of the seal lock (mirror.begin, once the head is written again as its own,
so that none of those writers can commit any more).

A note names the captures its writer was sending, with their files and jobs, the
objects it wrote, and those its head would have dropped. For each capture:

- in the ledger: its writer committed; nothing to do;
- its manifest in the store (sent last, so all its files are there): ``adopt`` publishes
  it (its ledger leaf, checkpoint and log event, sent with this seal) when it is the
  next in the chain, and the note stays until this seal is sent;
- otherwise, or not next in the chain: not sealed, as no ledger leaf names its files:
  its objects are removed, its job forgotten (it is captured again).

Then every object the note names that the head does not is removed: pieces of a seal
never committed, or those a committed one replaced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from .state import WorkingCopy


def settle(copy: WorkingCopy, notes: list[str], adopt: Callable[[str], bool]) -> None:
    named = copy.head.named()
    for name in notes:
        found = copy.store.get(name)
        note: Any = None
        if found is not None:
            try:
                note = json.loads(found[0])
            except ValueError:
                note = None
        if not isinstance(note, dict):  # gone meanwhile, or not a note: nothing to settle
            copy.store.delete(name)
            continue
        jobs = {capture: job for job, capture in note.get("jobs", {}).items()}
        kept = False
        for capture_id, files in note.get("captures", {}).items():
            if copy.in_ledger(capture_id):
                continue
            if copy.store.head(f"manifests/{capture_id}.json") is not None:
                _borrow(copy, files)
                if adopt(capture_id):
                    copy.adopted.append(capture_id)
                    kept = True
                    continue
            for relative in files:  # not sealed: no ledger leaf names these objects
                copy.store.delete(relative)
                if relative in copy.borrowed:
                    (copy.root / relative).unlink(missing_ok=True)
                    copy.borrowed.remove(relative)
                elif (copy.root / relative).exists():
                    copy.put_aside(relative)
            if capture_id in jobs:
                copy.forget_job(jobs[capture_id])
        copy.parallel([partial(copy.store.delete, str(obj))
                       for obj in [*note.get("objects", []), *note.get("superseded", [])]
                       if obj not in named])
        if kept:
            copy.settling.append(name)
        else:
            copy.store.delete(name)
    if not copy.adopted:
        copy.return_borrowed()


def _borrow(copy: WorkingCopy, files: list[str]) -> None:
    """The manifest's side of a capture another writer sent (its WARC files stay in the
    store), fetched to adopt it."""
    for relative in files:
        if relative.startswith("manifests/") and not (copy.root / relative).exists():
            copy.note(relative, copy.store.download(relative, copy.root / relative))
            copy.borrowed.append(relative)
