"""The store's layout, at the level of the working copies (a real S3 server, moto, on
loopback; real ledger appends, custody log events, tiles and signed checkpoints in the
folders): the leaves and the log as immutable pieces under one head, what a seal sends
and reads not growing with the archive, a folder far behind fetching only what it
lacks, a paused writer refused at the head and its leftovers settled, and a store whose
pieces are not those its head commits refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custody.core.errors import StoreDamaged
from custody.seal import merkle
from custody.seal.custody_log import CustodyLog
from custody.seal.history import History
from custody.seal.ledger import Ledger
from custody.store import pieces
from custody.store.copy import fetch_all
from custody.store.mirror import LostCommit, Mirror
from custody.store.s3 import Store
from custody.testing.s3_server import S3Server, moto_python

STORE = "s3://evidence/team"
HEAD = "manifests/ledger/head.json"
pytestmark = pytest.mark.skipif(moto_python() is None,
                                reason="moto is not installed (./scripts/setup --test)")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    server = S3Server(tmp_path / "s3").start()
    try:
        server.bucket("evidence")
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield Store(STORE, patience=10)
    finally:
        server.stop()


KEY = Ed25519PrivateKey.generate()


def seal(root: Path, number: int, *, pad: int = 0) -> str:
    """A capture's publication, as a seal makes it, its manifest a small stand-in: the
    manifest and its SHA256SUMS, its ledger leaf (and tiles), a checkpoint, its signed
    `captured` event and the log's signed head."""
    capture_id = f"20260101T000000Z-{number:08x}"
    manifests = root / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    history = History.open(root, write=True)
    sequence = history.ledger.size + 1
    data = json.dumps({"capture_id": capture_id, "chain": {"sequence": sequence}}).encode()
    digest = hashlib.sha256(data).hexdigest()
    (manifests / f"{capture_id}.json").write_bytes(data)
    (manifests / f"{capture_id}.SHA256SUMS").write_text(
        f"{digest}  manifests/{capture_id}.json\n")
    ledger = Ledger(manifests)
    ledger.append(history, capture_id, merkle.leaf_hash(data))
    history.sealed(capture_id, sequence, digest)
    ledger.checkpoint_now(history, key=KEY, principal="tester")
    CustodyLog(manifests).append("captured", key=KEY, who="tester", history=history,
                                 details={"capture_id": capture_id, "manifest_sha256": digest,
                                          "pad": "x" * pad})
    history.save()
    return capture_id


def no_adoption(capture_id: str) -> bool:
    return False


def one_seal(mirror: Mirror, number: int, **extra: Any) -> tuple[int, int]:
    """A seal sent through ``mirror``; the bytes it sent and read."""
    sent, read = mirror.store.sent, mirror.store.received
    mirror.begin(no_adoption)
    seal(mirror.root, number, **extra)
    assert mirror.commit() == [f"20260101T000000Z-{number:08x}"]
    return mirror.store.sent - sent, mirror.store.received - read


def started(store: Store, root: Path) -> Mirror:
    """A store seeded from a folder holding one seal (its own first log event)."""
    seal(root, 0)
    mirror = Mirror(store, root)
    mirror.seed()
    return mirror


def listed(store: Store) -> dict[str, str]:
    return {name: etag for name, etag, _ in store.list()}


def test_what_a_seal_sends_and_reads_does_not_grow_with_the_archive(
        tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers seal in turn (each catches up the other's seal) past two full pieces of
    leaves, eight of the log and a full tile: each seal sends its partial pieces and tiles
    and the head, and reads the head and the other's lines, the same at any size; the
    store then holds the full pieces, written once, at their own names. (Pieces of 64
    leaves and 16 events rather than 256 and 64, so that two whole cycles of each take a
    quarter of the seals; tiles are 256 wide, as tlog-tiles has them: none fills here.)"""
    monkeypatch.setitem(pieces.PER, "leaves", 64)
    monkeypatch.setitem(pieces.PER, "log", 16)
    a = started(store, tmp_path / "a")
    b = Mirror(Store(STORE, patience=10), tmp_path / "b")
    b.begin(no_adoption)  # a fresh folder reads the whole store, once
    seals = []
    for number in range(1, 137):
        seals.append(one_seal(a if number % 2 else b, number, pad=400))
    objects = listed(store)
    assert "manifests/ledger/leaves" not in objects and "manifests/ledger/log.jsonl" not in objects
    full = sorted(n for n in objects if "/pieces/" in n and ".p/" not in n)
    assert full == ["manifests/ledger/pieces/leaves/000", "manifests/ledger/pieces/leaves/001",
                    *(f"manifests/ledger/pieces/log/{k:03d}" for k in range(8))]
    tiles = sorted(n for n in objects if n.startswith("manifests/ledger/tile/"))
    assert all(".p/" in n for n in tiles)  # no tile of 256 is full yet: none written whole
    log = (tmp_path / "a" / "manifests/ledger/log.jsonl").read_bytes()
    leaves = (tmp_path / "a" / "manifests/ledger/leaves").read_bytes()
    piece = 16 * len(log) // log.count(b"\n") + 64 * len(leaves) // leaves.count(b"\n")
    # a seal sends at most a piece of each and a tile (a full one and a partial one when one
    # fills) and the head: far less than the log it would otherwise send whole
    assert max(sent for sent, _ in seals) < piece + 3 * 256 * 32 + 16_000 < len(log)
    # what it reads is the head and the other's seal, whatever the size
    early = [read for _, read in seals[10:60]]
    late = [read for _, read in seals[-50:]]  # (the store's log past a piece or two more)
    assert max(late) < 16_000 and sum(late) < 1.15 * sum(early), (early, late)
    # what it sends rises as the last pieces and the partial tile fill, and falls when they
    # are full: after two whole cycles of each piece it sends no more than in the first,
    # but for the partial tile (256 hashes wide, it fills once in these seals)
    early_sent = max(sent for sent, _ in seals[:64])  # a whole cycle of each piece
    late_sent = max(sent for sent, _ in seals[64:128])
    assert late_sent < early_sent + 256 * 32, (early_sent, late_sent)
    print(f"per seal at most: {early_sent} then {late_sent} bytes sent, "
          f"{sum(early) / 50:.0f} then {sum(late) / 50:.0f} read")
    a.begin(no_adoption)  # both folders hold the store's leaves and log, byte for byte
    b.begin(no_adoption)
    for name in ("leaves", "log.jsonl"):
        assert (tmp_path / "a" / "manifests/ledger" / name).read_bytes() == \
            (tmp_path / "b" / "manifests/ledger" / name).read_bytes()


def test_a_folder_far_behind_fetches_only_what_it_lacks(tmp_path: Path, store: Store,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(pieces.PER, "leaves", 16)  # (smaller pieces: fewer seals cross them)
    monkeypatch.setitem(pieces.PER, "log", 8)
    a = started(store, tmp_path / "a")
    for number in range(1, 20):
        one_seal(a, number)
    c = Mirror(Store(STORE, patience=10), tmp_path / "c")
    c.begin(no_adoption)
    log = tmp_path / "c" / "manifests/ledger/log.jsonl"
    leaves = tmp_path / "c" / "manifests/ledger/leaves"
    before = log.stat().st_size + leaves.stat().st_size
    for number in range(20, 68):  # three pieces of leaves and six of the log further
        one_seal(a, number)
    c.store.received = 0
    c.begin(no_adoption)
    assert log.read_bytes() == (tmp_path / "a" / "manifests/ledger/log.jsonl").read_bytes()
    assert leaves.read_bytes() == (tmp_path / "a" / "manifests/ledger/leaves").read_bytes()
    new = log.stat().st_size + leaves.stat().st_size - before
    # what it lacked, from where its copy ended (and the head), never a byte it held
    assert before > 8_000  # so that fetching what it held again could not pass below
    assert new < c.store.received < new + 8_000, (c.store.received, new)
    # a copy made from the store is the folder's, and a second one reads nothing again
    copy = tmp_path / "copy"
    counts = fetch_all(Store(STORE, patience=10), copy, lambda text: None)
    for name in ("leaves", "log.jsonl", "checkpoint", "checkpoint.sig", "log.head"):
        assert (copy / "manifests/ledger" / name).read_bytes() == \
            (tmp_path / "a" / "manifests/ledger" / name).read_bytes(), name
    assert counts["fetched"] > 0
    assert fetch_all(Store(STORE, patience=10), copy, lambda text: None)["fetched"] == 0


def test_a_writer_that_lost_the_lock_is_refused_and_its_pieces_removed(
        tmp_path: Path, store: Store) -> None:
    """Two writers begin on one head (one paused past its lease while the other took the
    lock): the second to commit is refused by the store at the head, so nothing it sent
    is named; the next holder settles its note (its capture not sealed: removed), and
    its folder is made the store's again at its next seal."""
    a = started(store, tmp_path / "a")
    b = Mirror(Store(STORE, patience=10), tmp_path / "b")
    b.begin(no_adoption)
    one_seal(a, 1)
    b.begin(no_adoption)
    a.begin(no_adoption)  # (paused from here)
    seal(tmp_path / "b", 2)
    assert b.commit() == ["20260101T000000Z-00000002"]
    lost = seal(tmp_path / "a", 3)
    head_before = store.get(HEAD)
    with pytest.raises(LostCommit) as refused:
        a.commit()
    assert refused.value.captures == [lost]
    assert store.get(HEAD) == head_before  # nothing of a's counts
    objects = listed(store)
    assert f"manifests/{lost}.json" in objects  # sent, but named by no ledger leaf
    notes = sorted(n for n in objects if n.startswith(".custody/store/sealing/"))
    assert len(notes) == 2 and notes[1] == notes[0].replace(".json", ".lost.json")
    b.begin(no_adoption)  # the next holder: the head written as its own, the note settled
    objects = listed(store)
    head = json.loads(store.get(HEAD)[0])  # type: ignore[index]
    named = {c["name"] for s in ("leaves", "log") for c in head[s]["tail"]} | \
        {t["name"] for t in head["tiles"]["tail"]}
    assert not [n for n in objects if ".p/" in n and n not in named]
    assert not [n for n in objects if lost in n or n.startswith(".custody/store/")]
    # a's folder follows the store: its leaf and event of the capture never sealed go
    one_seal(a, 4)
    assert lost.encode() not in (tmp_path / "a" / "manifests/ledger/leaves").read_bytes()
    b.begin(no_adoption)
    assert (tmp_path / "a" / "manifests/ledger/log.jsonl").read_bytes() == \
        (tmp_path / "b" / "manifests/ledger/log.jsonl").read_bytes()


def rewrite(store: Store, name: str, change: Any) -> None:
    data, _ = store.get(name)  # type: ignore[misc]
    store.put(name, change(data))


def test_a_store_whose_pieces_are_not_its_heads_is_refused(tmp_path: Path, store: Store) -> None:
    a = started(store, tmp_path / "a")
    for number in range(1, 70):
        one_seal(a, number)
    good = fetch_all(Store(STORE, patience=10), tmp_path / "copy", lambda text: None)
    assert good["objects"] > 0
    # one byte changed in a full piece of the log: a fresh copy, and a worker, refuse it
    flip = (b'"captured"', b'"Captured"')
    rewrite(store, "manifests/ledger/pieces/log/000", lambda d: d.replace(*flip, 1))
    with pytest.raises(StoreDamaged, match=r"log\.jsonl: its 1 full pieces are not"):
        fetch_all(Store(STORE, patience=10), tmp_path / "fresh", lambda text: None)
    with pytest.raises(StoreDamaged):
        Mirror(Store(STORE, patience=10), tmp_path / "w").begin(no_adoption)
    rewrite(store, "manifests/ledger/pieces/log/000", lambda d: d.replace(*flip[::-1], 1))
    # the head and a tail piece rewritten together, consistently: the leaves no longer
    # have the signed checkpoint's root
    head = json.loads(store.get(HEAD)[0])  # type: ignore[index]
    chunk = head["leaves"]["tail"][-1]
    data, _ = store.get(chunk["name"])  # type: ignore[misc]
    lines = data.splitlines(keepends=True)
    number, capture, leaf = lines[-1].split()
    lines[-1] = b" ".join([number, capture, leaf[::-1]]) + b"\n"
    forged = b"".join(lines)
    store.put(chunk["name"], forged)
    chunk["sha256"] = hashlib.sha256(forged).hexdigest()
    store.put(HEAD, json.dumps(head).encode())
    with pytest.raises(StoreDamaged, match="root is not the signed checkpoint's"):
        Mirror(Store(STORE, patience=10), tmp_path / "w2").begin(no_adoption)
