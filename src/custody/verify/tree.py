"""The ledger checked whole, in one pass over its leaves: their numbering, the root of
every size a checkpoint names, the tiles (built again from the leaves and compared), the
checkpoints (signature, SSH signature, the newest of the history, the custody log they
commit), and, given an older checkpoint, that the ledger extends it.

Each capture's own leaf is checked with the capture (captures.py); here is what spans
them. What the pass holds does not grow with the ledger: the tree's right edge, one tile
per level, and the roots of the sizes asked for. A leaf's inclusion is not proven leaf
by leaf: the root of every leaf, equal to the signed checkpoint's, proves each of them
in it, once its own leaf is the manifest's (captures.py checks that).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.archive import Archive
from ..seal import merkle
from ..seal.ledger import Checkpoint, Ledger, parse_checkpoint
from ..seal.note import note_signers, well_formed
from ..seal.tiles import HASH, expected
from .report import FAILED, PASSED, UNCHECKED, Report


def read_checkpoints(archive: Archive, *, listed: bool = True
                     ) -> tuple[Checkpoint | None, Checkpoint | None, str | None]:
    """The latest checkpoint, the newest of the history, and why the latest cannot be
    read (None: it can, or there is none). Without ``listed`` the history's folder is not
    listed (it holds a checkpoint for every size): the newest is looked for from the
    latest's size on, a seal writing one for each size in turn."""
    ledger = Ledger(archive.manifests_dir)
    try:
        latest = ledger.latest()
    except (ValueError, OSError) as exc:
        return None, None, f"unreadable: {exc}"
    if listed:
        history = ledger.history_sizes()
        newest_size = history[-1] if history else None
    else:
        newest_size = None
        size = latest.size if latest is not None else 0
        while ledger.checkpoint_path(size).exists():
            newest_size, size = size, size + 1
    newest = None
    if newest_size is not None:
        try:
            newest = parse_checkpoint(ledger.checkpoint_path(newest_size).read_text())
        except (OSError, ValueError):
            newest = None
    return latest, newest, None


def check_tree(archive: Archive, sizes: list[int], sealing: frozenset[str]) -> dict[str, Any]:
    """A job: one pass over the leaves. The number of whole leaves, a torn line's bytes,
    the problems of their numbering, the root at each of ``sizes`` (and of all), and the
    tiles compared with those built from the leaves (or, behind the leaves by those of
    interrupted seals, noted)."""
    ledger = Ledger(archive.manifests_dir)
    edge = merkle.CompactRange()
    roots: dict[int, str] = {}
    problems: list[str] = []
    wanted = set(sizes)
    sealing_at_end = [0]  # leaves at the end whose seals the journal names

    def hashes(limit: int | None = None) -> Any:
        for leaf in ledger.iter_leaves(exact=True):
            if limit is not None:
                if leaf.index >= limit:
                    return
                yield leaf.hash
                continue
            if leaf.index != edge.size and len(problems) < 10:
                problems.append(f"leaf {edge.size} is numbered {leaf.index}")
            sealing_at_end[0] = sealing_at_end[0] + 1 if leaf.capture_id in sealing else 0
            edge.append(leaf.hash)
            if edge.size in wanted:
                roots[edge.size] = edge.root().hex()
            yield leaf.hash

    try:
        tiles = _compare_tiles(archive, expected(hashes()))
        behind = 0
        if tiles and tiles != ["none"] and sealing_at_end[0]:
            behind = sealing_at_end[0]
            if _compare_tiles(archive, expected(hashes(edge.size - behind))):
                behind = 0
            else:
                tiles = []
    except (ValueError, UnicodeDecodeError) as exc:
        return {"error": f"unreadable: {exc}"}
    except OSError as exc:  # a folder, or a file no one may read, in its place
        return {"error": f"unreadable: {exc.strerror or exc}"}
    roots[edge.size] = edge.root().hex()
    torn = ledger.torn()
    if torn and (problem := ledger.torn_problem(edge.size)) is not None:
        problems.append(problem)
        torn = 0
    return {"size": edge.size, "torn": torn, "problems": problems, "roots": roots,
            "tiles": tiles, "tiles_behind": behind}


def _compare_tiles(archive: Archive, wanted: Any) -> list[str]:
    """The stored tiles against those the leaves make: each missing or different one, and
    any stored tile the leaves do not make (a partial one may be a prefix of its tile)."""
    folder = archive.manifests_dir / "ledger"
    problems: list[str] = []
    names: set[str] = set()  # every tile the leaves make (names only: memory stays flat)
    bases: set[str] = set()  # and the full tiles they are, or will be
    partial: dict[str, bytes] = {}
    if not (folder / "tile").is_dir():
        for _ in wanted:
            pass
        return ["none"]
    for name, data in wanted:
        base = name.split(".p/")[0]
        names.add(name)
        bases.add(base)
        if base != name:  # a partial tile (one a level at most): kept, to judge narrower ones
            partial[base] = data
        try:
            held = (folder / name).read_bytes()
        except FileNotFoundError:
            problems.append(f"{name} is missing")
            continue
        if held != data:
            problems.append(f"{name} differs from the tile its leaves make")
    for path in sorted((folder / "tile").rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(folder).as_posix()
        if name in names:
            continue
        base, _, width = name.partition(".p/")
        if width.isdigit() and base in bases:  # a narrower partial tile, as a store keeps
            full = partial.get(base)
            if full is None:
                try:
                    full = (folder / base).read_bytes()  # (checked above against the leaves)
                except OSError:
                    full = None
            if full is not None and full[: int(width) * HASH] == path.read_bytes():
                continue
        problems.append(f"{name} is no tile of these leaves")
    return problems


def judge(archive: Archive, tree: dict[str, Any], latest: Checkpoint | None,
          newest: Checkpoint | None, read_error: str | None, keys: list[Any],
          signers: Any, admission: Any, sealing: frozenset[str], extras: list[str],
          log_hashes: dict[int, str], log_count: int, report: Report) -> None:
    """What the pass over the leaves says of the ledger and its checkpoints."""
    from .proofs import history_problems

    leaves_name = "manifests/ledger/leaves"
    if "error" in tree:
        report.add("ledger", leaves_name, FAILED, tree["error"])
        return
    size = tree["size"]
    if not (archive.manifests_dir / "ledger" / "leaves").exists():
        if extras and not set(extras) <= sealing:
            report.add("ledger", "manifests/ledger", FAILED, "the ledger is missing")
        elif extras:
            report.notes.append("the ledger is not written yet: the sealing of "
                                f"{', '.join(sorted(extras))} was interrupted (the next "
                                "`custody archive` or `reindex` completes it)")
        return
    if tree["torn"]:
        report.notes.append(f"{leaves_name} ends in {tree['torn']} bytes of a leaf whose "
                            "append was interrupted; the next `custody archive` cuts them off")
    problems = list(tree["problems"])
    for cid in extras:
        if cid not in sealing:
            problems.append(f"{cid} is sealed but not in the ledger")
        else:
            report.notes.append(f"{cid}: sealed, but its sealing was interrupted before its "
                                "ledger leaf (the next `custody archive`, `--resume` or "
                                "`reindex` appends it)")
    shown = problems[:10] + ([f"and {len(problems) - 10} more"] if len(problems) > 10 else [])
    report.add("ledger", leaves_name, FAILED if problems else PASSED,
               "; ".join(shown) or f"{size} leaves")
    _judge_tiles(tree["tiles"], report)
    if tree.get("tiles_behind"):
        report.notes.append(f"the ledger's tiles lack its last {tree['tiles_behind']} "
                            "leaves, whose seals were interrupted (the next `custody archive` "
                            "writes them)")
    if read_error is not None:
        report.add("checkpoint", "manifests/ledger/checkpoint", FAILED, read_error)
        return
    if latest is None:
        if size == 0 or all(cid in sealing for cid in extras):
            if size:
                report.notes.append("the ledger has no checkpoint yet: an interrupted seal "
                                    "(the next `custody archive` signs one)")
        else:
            report.add("checkpoint", "manifests/ledger/checkpoint", FAILED, "missing")
        return
    cp_problems = []
    if not note_signers(latest.text, keys):
        cp_problems.append("not signed by an admitted key in allowed_signers")
    if not well_formed(latest.text):
        cp_problems.append("not a signed note as custody writes it")
    cp_problems += origin_problems(archive, latest.origin)
    cp_problems += history_problems(archive, latest, newest, keys, signers, admission,
                                    tree["roots"], size, sealing, report)
    roots = tree["roots"]
    if latest.size > size:
        cp_problems.append(f"covers {latest.size} leaves, the ledger holds {size}: captures "
                           "were removed")
    elif roots.get(latest.size) != latest.root.hex():
        cp_problems.append("root hash is not the root of the ledger's leaves")
    cp_problems += _log_problems(latest, log_hashes, log_count)
    if latest.size < size:
        report.add("checkpoint", "manifests/ledger/checkpoint", UNCHECKED,
                   f"covers {latest.size} of {size} leaves") if not sealing else \
            report.notes.append(f"the checkpoint covers {latest.size} of {size} leaves: an "
                                "interrupted seal (the next `custody archive` signs one)")
    report.add("checkpoint", "manifests/ledger/checkpoint", FAILED if cp_problems else PASSED,
               "; ".join(cp_problems) or f"size {latest.size}, {latest.origin}")


def _judge_tiles(problems: list[str], report: Report) -> None:
    name = "manifests/ledger/tile"
    if problems == ["none"]:
        report.notes.append("the ledger has no tiles (an archive of an earlier custody): "
                            "proofs are made from its leaves; the next command that seals "
                            "writes them")
        return
    report.add("tiles", name, FAILED if problems else PASSED,
               "; ".join(problems[:10]) or "as the leaves make them")


def _log_problems(latest: Checkpoint, log_hashes: dict[int, str], log_count: int) -> list[str]:
    """The custody log the checkpoint commits (an earlier custody's committed none)."""
    try:
        committed = latest.log
    except ValueError as exc:
        return [str(exc)]
    if committed is None:
        return []
    count, digest = committed
    if count > log_count:
        return [f"commits a custody log of {count} events, the log holds {log_count}: "
                "events were removed from its end"]
    if count and log_hashes.get(count) != digest.hex():
        return [f"the custody log's event {count} is not the one the checkpoint commits"]
    return []


def leaf_offsets(archive: Archive, every: int) -> tuple[list[tuple[int, int, int]], int]:
    """Groups of ``every`` leaves: (first, byte offset, count); and the bytes of whole
    lines. One read of the leaves file, counting lines."""
    path = archive.manifests_dir / "ledger" / "leaves"
    groups = []
    offset = position = 0
    start_offset, start = 0, 0
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError:  # missing, or no file (the tree pass says so)
        return [], 0
    with fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            offset += len(raw)
            position += 1
            if position - start == every:
                groups.append((start, start_offset, position - start))
                start, start_offset = position, offset
    if position > start:
        groups.append((start, start_offset, position - start))
    return groups, offset


def leaf_ids(archive: Archive) -> set[str]:
    return Ledger(archive.manifests_dir).leaf_ids()



def origin_problems(archive: Archive, origin: str) -> list[str]:
    """manifests/ledger/origin must be exactly the checkpoint's origin line."""
    try:
        held = (archive.manifests_dir / "ledger" / "origin").read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [f"manifests/ledger/origin cannot be read ({exc})"]
    if held != (origin + "\n").encode():
        return [f"manifests/ledger/origin is not {origin!r}, the checkpoint's name for it"]
    return []


def history_job(archive: Archive, sizes: Sequence[int], keys: list[Any],
                summarize: bool) -> Any:
    """A job: the history's checkpoints of these sizes, each held to what it claims --
    signed by an admitted key, of this ledger, its root that of as many leaves (from the
    tiles, which the pass over the leaves holds to them) -- and their tokens."""
    from .tokens import checkpoint_token_job

    report = Report(str(archive.root), summarize=summarize)
    ledger = Ledger(archive.manifests_dir)
    origin = ledger.read_origin()
    differ: dict[int, tuple[str, bytes, list[str]]] = {}  # roots not those of the tiles
    tiles = ledger.tiles  # one for the job: what it reads serves every size's root
    for size in sizes:
        path = ledger.checkpoint_path(size)
        name = f"manifests/ledger/checkpoints/{size}"
        problems = []
        try:
            checkpoint = parse_checkpoint(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            report.add("checkpoint", name, FAILED, f"unreadable: {exc}")
            continue
        if checkpoint.size != size:
            problems.append(f"is of {checkpoint.size} leaves, not {size}")
        if not note_signers(checkpoint.text, keys):
            problems.append("not signed by an admitted key in allowed_signers")
        if not well_formed(checkpoint.text):
            problems.append("not a signed note as custody writes it")
        if origin is not None and checkpoint.origin != origin:
            problems.append(f"is of log {checkpoint.origin!r}")
        try:
            root = tiles.root(checkpoint.size)
        except (LookupError, OSError):
            root = None  # no tiles (an earlier custody's archive): the newest is checked
        if root is not None and root != checkpoint.root:
            differ[checkpoint.size] = (name, checkpoint.root, problems)
            continue  # the tiles may be what changed: the leaves say, below
        report.add("checkpoint", name, FAILED if problems else PASSED, "; ".join(problems))
    for size, root in _roots_of_leaves(ledger, sorted(differ)).items():
        name, claimed, problems = differ[size]
        if root != claimed:  # the leaves' root differs too: the checkpoint is not theirs
            problems.append("its root is not that of the ledger's first leaves")
        # else the tiles differ from the leaves, as the tiles' own check says: not this
        report.add("checkpoint", name, FAILED if problems else PASSED, "; ".join(problems))
    report.merge(checkpoint_token_job(archive, sizes))
    return report.findings()


def _roots_of_leaves(ledger: Ledger, sizes: list[int]) -> dict[int, bytes | None]:
    """The root of the first N leaves of the leaves file, for each N of ``sizes`` (in
    order), in one pass over it (None: it has fewer)."""
    roots: dict[int, bytes | None] = dict.fromkeys(sizes)
    if not sizes:
        return roots
    edge = merkle.CompactRange()
    wanted = iter(sizes)
    size = next(wanted)
    try:
        for leaf in ledger.iter_leaves():
            edge.append(leaf.hash)
            while edge.size == size:
                roots[size] = edge.root()
                size = next(wanted)
    except StopIteration:
        pass
    except (OSError, ValueError, UnicodeDecodeError):  # damaged leaves: their own check says
        pass
    return roots
