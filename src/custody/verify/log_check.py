"""The custody log checked whole: every line signed by a key admitted before it, numbered
in order, chained to the line before; its end held to its signed head (log.head) and to
what the checkpoint commits; and its index in custody.db held to it.

The log is read in ranges of its bytes, each a job (a range reads the line before it, to
check the first line's link): the keys' admissions, which every range judges by, are
walked first from the lines that can admit a key alone (seal/trust.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import sshsig
from ..core.archive import Archive
from ..seal.custody_log import HEAD, canonical
from ..seal.torn_lines import torn_event_problem
from .report import FAILED, PASSED, Report

RANGE_BYTES = 4 * 1024 * 1024  # a job holds one range: its memory, whatever the log


@dataclass
class LogPlan:
    """What one read of the log found before its ranges are checked."""

    path: Path
    count: int = 0  # whole lines
    torn: int = 0
    torn_problem: str | None = None  # what a torn line is, when no event cut short
    unreadable: str | None = None
    ranges: list[tuple[int, int, int]] = field(default_factory=list)  # start, end, first line
    key_lines: list[tuple[int, bytes]] = field(default_factory=list)


def plan_log(archive: Archive, range_bytes: int = RANGE_BYTES) -> LogPlan:
    """One pass: line count, ranges of about ``range_bytes`` cut at line ends, and the
    lines that can admit a key (the first; any naming a key- event)."""
    plan = LogPlan(archive.manifests_dir / "ledger" / "log.jsonl")
    try:
        fh = open(plan.path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return plan
    except OSError as exc:  # a folder in its place, a file no one may read
        plan.unreadable = f"unreadable: {exc.strerror or exc}"
        return plan
    with fh:
        start = offset = 0
        first = 1
        for raw in fh:
            if not raw.endswith(b"\n"):
                plan.torn = len(raw)
                plan.torn_problem = torn_event_problem(raw)
                break
            line = raw[:-1]
            offset += len(raw)
            if line:
                plan.count += 1
                if plan.count == 1 or b"key-" in line:
                    plan.key_lines.append((plan.count, line))
            if offset - start >= range_bytes:
                plan.ranges.append((start, offset, first))
                start, first = offset, plan.count + 1
        if offset > start:
            plan.ranges.append((start, offset, first))
    return plan


def check_range(path: Path, start: int, end: int, first: int, keys: dict[str, Any],
                since: dict[str, int], wanted: list[int]) -> dict[str, Any]:
    """A job: lines numbered from ``first`` in bytes ``start``..``end``. Problems (up to
    ten, and their count), lines signed by a key not admitted before them, and the
    sha256 of the lines numbered in ``wanted``."""
    from cryptography.exceptions import InvalidSignature

    previous = _line_before(path, start)
    problems: list[str] = []
    total = 0
    unadmitted: list[tuple[int, str]] = []
    hashes: dict[int, str] = {}
    wanted_here = set(wanted)
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    number = first
    for line in data.split(b"\n")[:-1]:
        if not line:  # put there: custody writes none
            total += 1
            if len(problems) < 10:
                problems.append("an empty line, which custody never writes, " + (
                    f"after line {number - 1}" if number > 1 else "at the start"))
            continue
        found: list[str] = []
        digest = hashlib.sha256(line).hexdigest()
        if number in wanted_here:
            hashes[number] = digest
        try:
            entry = json.loads(line)
            signature = base64.b64decode(entry.pop("sig"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            found.append(f"unreadable entry ({exc})")
            entry = None
        if entry is not None:
            if entry.get("seq") != number:
                found.append(f"numbered {entry.get('seq')}, is {number}")
            want = hashlib.sha256(previous).hexdigest() if previous is not None else None
            if entry.get("prev") != want:
                found.append("does not follow the entry before it")
            signer = str(entry.get("key", ""))
            public = keys.get(signer)
            if public is None:
                found.append(f"signed by unknown key {entry.get('key')}")
            else:
                try:
                    public.verify(signature, canonical(entry))
                except InvalidSignature:
                    found.append("signature does not match the entry")
                else:
                    admitted_at = since.get(signer)
                    if admitted_at is None or (admitted_at >= number and number != 1):
                        unadmitted.append((number, signer))
        if found:
            total += 1
            if len(problems) < 10:
                problems.append(f"line {number}: " + "; ".join(found))
        previous = line
        number += 1
    return {"problems": problems, "total": total, "unadmitted": unadmitted, "hashes": hashes}


def _line_before(path: Path, offset: int) -> bytes | None:
    if offset == 0:
        return None
    with open(path, "rb") as fh:
        position = offset - 1  # the newline that ends it
        while True:
            step = min(65536, position)
            fh.seek(position - step)
            block = fh.read(step)
            cut = block.rfind(b"\n")
            if cut >= 0 or position - step == 0:
                start = position - step + cut + 1
                fh.seek(start)
                return fh.read(offset - 1 - start)
            position -= step


def judge_log(plan: LogPlan, results: list[dict[str, Any]], report: Report,
              captures: int) -> dict[int, str]:
    """The ranges' findings as one check; the line hashes they were asked for."""
    name = "manifests/ledger/log.jsonl"
    if not plan.path.exists():
        if captures:
            report.add("log", name, FAILED, "the custody log is missing, though captures "
                       "are sealed")
        return {}
    if plan.unreadable is not None:
        report.add("log", name, FAILED, plan.unreadable)
        return {}
    if plan.torn_problem is not None:
        report.add("log", name, FAILED, f"line {plan.count + 1} is no event: {plan.torn} "
                   f"bytes without an end of line ({plan.torn_problem}), not an event cut "
                   "short")
    elif plan.torn:
        report.notes.append(f"{name} ends in {plan.torn} bytes of an event whose write was "
                            "interrupted; the next custody command that writes to the log "
                            "cuts them off")
    problems: list[str] = []
    total = 0
    hashes: dict[int, str] = {}
    for found in results:
        problems += found["problems"]
        total += found["total"]
        hashes.update(found["hashes"])
        problems += [f"line {n}: signed by {fp}, a key not admitted before it"
                     for n, fp in found["unadmitted"]]
        total += len(found["unadmitted"])
    detail = "; ".join(problems[:10])
    if total > 10:
        detail += f"; and {total - 10} more"
    report.add("log", name, FAILED if problems else PASSED, detail or f"{plan.count} events")
    return hashes


def check_head(archive: Archive, plan: LogPlan, hashes: dict[int, str], keys: list[Any],
               commits_log: bool, report: Report) -> None:
    """log.head: signed by an admitted key, of this archive's log, naming an event the log
    holds there; events after it are an append whose head was not signed (a note)."""
    from ..seal.ledger import Ledger
    from ..seal.note import note_signers, well_formed

    name = f"manifests/ledger/{HEAD}"
    path = archive.manifests_dir / "ledger" / HEAD
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if commits_log:
            report.add("log", name, FAILED, "missing: the checkpoint commits the custody log, "
                       "so its signed head was written, and it is gone")
        elif plan.count:
            report.notes.append("the custody log has no signed head (an archive of an earlier "
                                "custody): events cut off its end after the last checkpoint "
                                "would not show")
        return
    except (OSError, UnicodeDecodeError) as exc:
        report.add("log", name, FAILED, f"unreadable: {exc}")
        return
    problems = []
    body, _, _ = text.partition("\n\n")
    lines = body.split("\n")
    if not well_formed(text):
        problems.append("not a signed note as custody writes it (bytes around the "
                        "signature changed)")
    origin = Ledger(archive.manifests_dir).read_origin() or ""
    count, digest = -1, b""
    try:
        count = int(lines[1])
        digest = base64.b64decode(lines[2], validate=True)
    except (IndexError, ValueError):
        problems.append("not a signed log head")
    if not problems:
        if lines[0] != f"{origin}/log":
            problems.append(f"names log {lines[0]!r}, this archive's is {origin}/log")
        if not note_signers(text, keys):
            problems.append("not signed by an admitted key")
        if count > plan.count:
            problems.append(f"names {count} events, the log holds {plan.count}: events were "
                            "removed from its end")
        elif count and hashes.get(count) != digest.hex():
            problems.append(f"event {count} is not the one the head names")
        elif count < plan.count:
            report.notes.append(f"{plan.count - count} custody log event(s) after its signed "
                                "head (an append whose head was not signed yet: the next "
                                "custody command that writes signs it)")
    report.add("log", name, FAILED if problems else PASSED,
               "; ".join(problems) or f"{count} events, signed")


def admitted_since(numbered: list[tuple[int, bytes]], signers: Any) -> tuple[Any, dict[str, int]]:
    """The admission the key lines give, and the line from which each key is admitted."""
    from ..seal.trust import admitted_by

    admission = admitted_by(numbered, signers or [])
    return admission, dict(admission.since)


def log_keys(signers: Any) -> dict[str, Any]:
    return {sshsig.fingerprint(s.public_key): s.public_key for s in signers or []}
