"""Verification of named captures, each proven alone: its manifest, signature, tokens,
files and records, database rows (captures.py); its leaf in the ledger at its
sequence's place and the inclusion proof from the tiles to the signed checkpoint; its
link in the chain (the manifest at the leaf before it); and its events in the custody
log, read where custody.db's index puts them, each signed by a key admitted before it,
numbered in place, linked to the line before it, and at or before the log's signed head.

Nothing here reads the other captures, the whole ledger or the whole log: the cost is
that of the captures named, at any size of the archive. What only the whole archive
shows (a capture removed elsewhere, a tile changed away from these leaves, an event cut
from between two others) is `custody verify`'s without names.
"""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

from ..core.archive import Archive
from ..core.errors import ArchiveError
from ..seal import manifest
from ..seal.ledger import Ledger
from ..seal.note import note_signers
from . import captures as groups_of
from .annotations import check_selectors
from .log_check import admitted_since, log_keys
from .pool import Job, Pool
from .proofs import (
    admitted_keys,
    check_against,
    check_inclusion,
    check_own_checkpoint,
    history_problems,
)
from .report import FAILED, PASSED, UNCHECKED, Report
from .tree import origin_problems, read_checkpoints


def verify_named(archive: Archive, ids: list[str], against: str | None, workers: int,
                 progress: Any, part_bytes: int | None, summarize: bool) -> Report:
    from .seals import note_unadmitted, read_signers

    report = Report(str(archive.root), summarize=summarize)
    report.captures = list(ids)
    signers = read_signers(archive, report)
    key_lines = _key_lines(archive, report)
    admission, since = admitted_since(key_lines, signers)
    keys = admitted_keys(signers, admission)
    note_unadmitted(archive, signers, admission, report)
    latest, newest, read_error = read_checkpoints(archive, listed=False)
    if latest is None and read_error is None:
        latest = newest = _written_first(archive, report)
    checkpoint_ok = _checkpoint(archive, latest, newest, read_error, keys, signers, admission,
                                progress.sealing, report)
    ctx = groups_of.Context(archive, signers, admission, progress.sealing, summarize)
    head = _head_count(archive)
    jobs: list[Job] = [partial(_one, ctx, cid, latest, checkpoint_ok, since, head, keys)
                       for cid in ids]
    searches = len(jobs)
    jobs.append(partial(_search_index, archive, ids))
    jobs.append(partial(check_selectors, archive, (None, None), ids))
    # a capture or two: a worker costs more to start than it takes over
    with Pool(jobs, min(workers, len(jobs)) if len(ids) > 2 else 0) as pool:
        for number in range(len(ids)):
            out = pool.result(number)
            report.merge(out["findings"])
            for cid in out["big"]:
                _large(archive, cid, workers, part_bytes, summarize, report)
        for number in range(searches, len(jobs)):
            report.merge(pool.result(number))
    if not archive.db_path.exists():  # (whole verify's database job says the same)
        report.add("database", "custody.db", UNCHECKED, "there is no custody.db: the "
                   "captures' rows were not checked (custody reindex rebuilds it)")
    if against is not None and latest is not None:
        _against(archive, against, latest, keys, report)
    return report


def _one(ctx: groups_of.Context, cid: str, latest: Any, checkpoint_ok: bool,
         since: dict[str, int], head: int | None, keys: list[Any]) -> dict[str, Any]:
    """A job: one capture, proven alone."""
    archive = ctx.archive
    report = Report(str(archive.root), summarize=ctx.summarize)
    out: dict[str, Any] = {"paths": [], "big": [], "ids": [cid], "older": 0}
    sealed = manifest.read(manifest.manifest_path(archive.manifests_dir, cid))
    index = check_inclusion(archive, cid, sealed.leaf_hash, sealed.sequence, latest,
                            checkpoint_ok, ctx.sealing, report)
    if index is not None:
        check_own_checkpoint(archive, cid, index, keys, report)
    if sealed.readable:
        _link(archive, sealed, index, report)
        _events(ctx, sealed, since, head, report)
    conn = groups_of.database_of(archive)
    try:
        groups_of.check_capture(ctx, sealed, groups_of.logged_of(ctx, [cid]), conn, report,
                            out)
    finally:
        if conn is not None:
            conn.close()
    out["findings"] = report.findings()
    return out


def _link(archive: Archive, sealed: manifest.Sealed, index: int | None,
          report: Report) -> None:
    """Its link in the chain: its sequence is its leaf's place, and it names the sha256 of
    the manifest at the leaf before it (itself the one that leaf hashes)."""
    cid = sealed.capture_id
    chain = sealed.head.get("chain") or {}
    claimed = chain.get("previous_sha256")
    problems = []
    position = index if index is not None else (sealed.sequence or 1) - 1
    if index is not None and sealed.sequence != index + 1:
        problems.append(f"sequence {sealed.sequence}, at leaf {index}")
    if position == 0:
        if claimed is not None:
            problems.append("the first capture names a manifest before it")
    else:
        before = Ledger(archive.manifests_dir).leaf_at(position - 1)
        if before is None:  # (the leaf before a sealed one was written before it)
            report.add("chain", cid, FAILED, f"the ledger's leaf {position - 1}, the one "
                       "before it, is missing or not a leaf line", cid)
            return
        try:
            data = (archive.manifests_dir / f"{before.capture_id}.json").read_bytes()
        except OSError:
            data = None
        if data is None:
            problems.append(f"the manifest before it ({before.capture_id}) is gone")
        elif hashlib.sha256(b"\x00" + data).digest() != before.hash:
            problems.append(f"the manifest before it ({before.capture_id}) is not the one its "
                            "leaf holds")
        elif hashlib.sha256(data).hexdigest() != claimed:
            problems.append(f"previous_sha256 is {claimed}, but the manifest before it "
                            f"({before.capture_id}) hashes to "
                            f"{hashlib.sha256(data).hexdigest()}")
    report.add("chain", cid, FAILED if problems else PASSED,
               "; ".join(problems) or f"sequence {sealed.sequence}", cid)


def _events(ctx: groups_of.Context, sealed: manifest.Sealed, since: dict[str, int],
            head: int | None, report: Report) -> None:
    """Its events in the custody log: found through the index, each held to the line
    before it, signed by a key admitted before it, at or before the signed head; and its
    `captured` event names this manifest."""
    import base64
    import json

    from cryptography.exceptions import InvalidSignature

    from ..seal.custody_log import canonical
    from ..seal.log_events import of_capture, placed_events

    archive, cid = ctx.archive, sealed.capture_id
    try:
        events, indexed = of_capture(archive.root, cid)
    except ArchiveError as exc:  # the log cannot be read at all
        report.add("log", cid, FAILED, str(exc.args[0]), cid)
        return
    if not indexed:
        report.notes.append("custody.db has no usable index of the custody log: the whole "
                            "log was read (`custody reindex` makes one)")
    before = placed_events(archive.root, [e.seq - 1 for e in events if e.seq > 1])
    keys = log_keys(ctx.signers)
    problems = []
    captured = False
    for event in events:
        entry = event.entry
        number = event.seq
        try:
            signature = base64.b64decode(entry.pop("sig"))
        except (KeyError, ValueError, TypeError):
            problems.append(f"line {number}: unreadable")
            continue
        if entry.get("seq") != number:
            problems.append(f"line {number}: numbered {entry.get('seq')}")
        previous = before.get(number - 1)
        want = hashlib.sha256(previous.line).hexdigest() if previous is not None else None
        if number > 1 and (previous is None or entry.get("prev") != want):
            problems.append(f"line {number}: does not follow the line before it")
        signer = str(entry.get("key", ""))
        public = keys.get(signer)
        try:
            if public is None:
                raise InvalidSignature
            public.verify(signature, canonical(entry))
        except InvalidSignature:
            problems.append(f"line {number}: not validly signed by a key of allowed_signers")
        else:
            if since.get(signer, number) >= number and number != 1:
                problems.append(f"line {number}: signed by {signer} before it was admitted")
        if head is not None and number > head:
            report.notes.append(f"{cid}: log line {number} is after the log's signed head")
        details = entry.get("details") or {}
        if entry.get("event") == "captured" and details.get("capture_id") == cid:
            captured = True
            if details.get("manifest_sha256") != sealed.sha256:
                problems.append(f"line {number}: its `captured` event names another manifest")
        json.dumps(entry)  # (an entry that loads dumps again)
    if not captured:
        if cid in ctx.sealing:
            report.notes.append(f"{cid}: its `captured` event is still to be written (an "
                                "interrupted seal)")
        else:
            problems.append("the custody log has no `captured` event for it")
    report.add("log", cid, FAILED if problems else PASSED,
               "; ".join(problems[:5]) or f"{len(events)} events", cid)


def _key_lines(archive: Archive, report: Report) -> list[tuple[int, bytes]]:
    """The log's lines that can admit a key, where the writers' kept state found them; read
    whole when there is none (an archive handed over without .custody/)."""
    from ..seal.history import History

    history = History.open(archive.root)
    if history.damage is not None:  # (not this capture's; the whole verify says more)
        damage = history.damage
        report.add("ledger", "manifests/ledger/leaves", FAILED,
                   f"damaged at {damage}; the leaves before it are read"
                   if damage.startswith("line ") else damage)
    numbers = [number for number, _, _ in history.log.key_lines]
    return list(zip(numbers, history.key_lines(), strict=True))


def _written_first(archive: Archive, report: Report) -> Any:
    """With no ``checkpoint`` copy, the history's checkpoint of the ledger's size, which a
    seal writes first: an interrupted seal's, as whole verify notes it (None when there is
    none: then nothing proves inclusion, and verify says so)."""
    from ..seal.history import History
    from ..seal.ledger import parse_checkpoint

    size = History.open(archive.root).ledger.size
    path = Ledger(archive.manifests_dir).checkpoint_path(size)
    try:
        checkpoint = parse_checkpoint(path.read_text()) if size else None
    except (OSError, ValueError):
        return None
    if checkpoint is not None:
        report.notes.append(f"manifests/ledger/checkpoint is missing: an interrupted seal "
                            f"(the next `custody archive` completes it); proven against "
                            f"checkpoints/{size}, which the seal signed first")
    return checkpoint


def _head_count(archive: Archive) -> int | None:
    try:
        text = (archive.manifests_dir / "ledger" / "log.head").read_text()
        return int(text.split("\n")[1])
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return None


def _checkpoint(archive: Archive, latest: Any, newest: Any, read_error: str | None,
                keys: list[Any], signers: Any, admission: Any, sealing: frozenset[str],
                report: Report) -> bool:
    """The latest checkpoint's own signatures (not its root: that is the whole ledger's)."""
    name = "manifests/ledger/checkpoint"
    if read_error is not None or latest is None:
        report.add("checkpoint", name, FAILED if read_error else UNCHECKED,
                   read_error or "the ledger has no checkpoint yet")
        return False
    problems = []
    if not note_signers(latest.text, keys):
        problems.append("not signed by an admitted key in allowed_signers")
    problems += origin_problems(archive, latest.origin)
    copy = archive.manifests_dir / "ledger" / "checkpoint"
    # without the copy nor its SSH signature: the interrupted seal's, signed in the history
    if copy.exists() or (copy.parent / "checkpoint.sig").exists():
        problems += history_problems(archive, latest, newest, keys, signers, admission, {},
                                     latest.size, sealing, report)
    else:
        name = f"manifests/ledger/checkpoints/{latest.size}"
    report.add("checkpoint", name, FAILED if problems else PASSED,
               "; ".join(problems) or f"size {latest.size}, {latest.origin}")
    return not problems


def _search_index(archive: Archive, ids: list[str]) -> Any:
    from .search_named import check_named

    report = Report(str(archive.root))
    if archive.db_path.exists():
        check_named(archive.db_path, report, ids)
    return report.findings()


def _large(archive: Archive, cid: str, workers: int, part_bytes: int | None,
           summarize: bool, report: Report) -> None:
    sealed = manifest.read(manifest.manifest_path(archive.manifests_dir, cid))
    groups_of.large_files(archive, sealed, workers, part_bytes, summarize, report)


def _against(archive: Archive, against: str, latest: Any, keys: list[Any],
             report: Report) -> None:
    from ..seal.ledger import parse_checkpoint

    ledger = Ledger(archive.manifests_dir)
    try:
        old = parse_checkpoint(against).size
    except ValueError:
        old = 0
    roots = {latest.size: latest.root.hex()}
    try:
        if 0 < old <= latest.size:
            roots[old] = ledger.tiles.root(old).hex()
    except (LookupError, OSError):
        pass
    check_against(archive, against, ledger.read_origin() or latest.origin, latest.size, roots,
                  keys, report)

