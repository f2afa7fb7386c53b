"""Workers that keep the archive in an S3-compatible store (a real moto server on
loopback): each seals in a folder of its own and sends the seal to the store under the
shared seal lock; the store's archive then verifies as one (`verify --store`), with one
chain and one ledger, after a worker killed mid-send and a store that stopped answering
mid-crawl; a byte changed in the store, or an object removed, is caught."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from custody.testing.hosts import Host
from custody.testing.postgres_server import PostgresServer, postgres_bin
from custody.testing.redis_server import RedisServer, redis_binary
from custody.testing.s3_server import S3Server, moto_python
from test_queue import Team, finish

STORE = "s3://evidence/team"
pytestmark = pytest.mark.skipif(
    (redis_binary() is None or moto_python() is None or postgres_bin() is None)
    and not os.environ.get("CI"),
    reason="redis-server, moto or PostgreSQL is not installed (./scripts/setup --test)")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    server = S3Server(tmp_path / "s3").start()
    try:
        server.bucket("evidence")
        # every version of every object kept: what was written more than once shows
        server.client().put_bucket_versioning(  # type: ignore[attr-defined]
            Bucket="evidence", VersioningConfiguration={"Status": "Enabled"})
        yield server
    finally:
        server.stop()


class StoreTeam(Team):
    """The queue tests' team, with its archive folder (``root``: custody init, the
    workers' keys admitted) sent to the store by the first worker; every other worker
    starts from an empty folder."""

    def __init__(self, tmp: Path, queue: str, s3: S3Server) -> None:
        super().__init__(tmp, queue)
        self.base.update(XDG_CACHE_HOME=str(tmp / "cache"), CUSTODY_S3_TIMEOUT="3",
                         **s3.env())

    def store_worker(self, who: str, root: Path, *args: str,
                     **extra: str) -> subprocess.Popen[str]:
        return self.worker(who, "--root", str(root), "--store", STORE, *args, **extra)

    def jobs(self, *urls: str, options: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        return list(self.enqueue(*urls, options=options)["jobs"])

    def totals(self) -> dict[str, int]:
        return dict(self.status()["totals"])

    def verify_store(self, copy: Path) -> tuple[int, dict[str, Any], str]:
        done = self.run("verify", "--store", STORE, "--root", str(copy), "--json", check=False)
        return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, \
            done.stderr


def one_capture_per_job(copy: Path, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    manifests = [json.loads(p.read_text()) for p in sorted((copy / "manifests").glob("*.json"))]
    by_job: dict[str, list[str]] = {}
    for m in manifests:
        by_job.setdefault(m["job"]["id"], []).append(m["capture_id"])
    assert sorted(by_job) == sorted(j["id"] for j in jobs)
    assert all(len(ids) == 1 for ids in by_job.values()), by_job  # nothing sealed twice
    assert sorted(m["chain"]["sequence"] for m in manifests) == \
        list(range(1, len(manifests) + 1))
    leaves = (copy / "manifests" / "ledger" / "leaves").read_text().splitlines()
    assert sorted(line.split()[1] for line in leaves) == sorted(m["capture_id"] for m in manifests)
    return manifests


def objects(s3: S3Server) -> dict[str, bytes]:
    client: Any = s3.client()
    listed = client.list_objects_v2(Bucket="evidence", Prefix="team/").get("Contents", [])
    return {o["Key"][5:]: client.get_object(Bucket="evidence", Key=o["Key"])["Body"].read()
            for o in listed}


def strays(stored: dict[str, bytes], manifests: list[dict[str, Any]]) -> list[str]:
    """Objects that neither the head nor a sealed capture names: pieces and tiles of a
    seal never committed, or replaced; files of a capture never sealed; notes."""
    head = json.loads(stored["manifests/ledger/head.json"])
    named = {c["name"] for s in ("leaves", "log") for c in head[s]["tail"]} | \
        {t["name"] for t in head["tiles"]["tail"]}
    sealed = {m["capture_id"] for m in manifests}
    def stray(key: str) -> bool:
        if key.startswith(".custody/store/"):
            return True
        if "/pieces/" in key and ".p/" in key:
            return key not in named
        if key.startswith("archive/"):
            return not any(key.rsplit("/", 1)[1].startswith(cid) for cid in sealed)
        if key.startswith("manifests/") and "/ledger/" not in key:
            return key.split("/")[1].split(".")[0] not in sealed
        return False

    found = [key for key in stored if stray(key)]
    return sorted(found)


def writes(s3: S3Server) -> dict[str, int]:
    """How many times each object was written (deleted ones too)."""
    client: Any = s3.client()
    counts: dict[str, int] = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket="evidence",
                                                                      Prefix="team/"):
        for version in page.get("Versions", []):
            counts[version["Key"][5:]] = counts.get(version["Key"][5:], 0) + 1
    return counts


def test_workers_keep_the_archive_in_the_store(tmp_path: Path, redis_server: RedisServer,
                                               s3: S3Server) -> None:
    hosts = [Host("127.0.0.1"), Host("127.0.0.2")]
    try:
        team = StoreTeam(tmp_path, redis_server.url, s3)
        team.add_worker_key("w1")
        team.add_worker_key("w2")
        jobs = team.jobs(*hosts[0].urls(6), *hosts[1].urls(6), options=("--batch", "2"))
        assert len(jobs) == 6
        # w1 sends the coordinator's folder to the empty store; w2 starts from nothing;
        # both copy what they seal to one PostgreSQL index
        with PostgresServer() as postgres:
            w1 = team.store_worker("w1", team.root, "--exit-when-idle", "2", "--db",
                                   postgres.url)
            w2 = team.store_worker("w2", tmp_path / "w2", "--exit-when-idle", "2", "--db",
                                   postgres.url)
            outs = finish(w1, w2)
            done = subprocess.run(["psql", postgres.url, "-tAc",
                                   "select id from captures"],
                                  capture_output=True, text=True)
            assert done.returncode == 0, (done.stderr, outs)
            listed = done.stdout.split()
        assert team.totals() == {"pending": 0, "inflight": 0, "done": 12, "failed": 0}
        stored = objects(s3)
        assert not any(k.startswith(".custody/store/") for k in stored)  # no seal half sent
        assert not any(k.startswith(".custody/jobs/") for k in stored)  # every job finished
        # the leaves and the log as pieces, the head the one object written again
        assert "manifests/ledger/head.json" in stored
        assert not {"manifests/ledger/leaves", "manifests/ledger/log.jsonl",
                    "manifests/ledger/checkpoint", "manifests/ledger/log.head"} & set(stored)
        assert any(k.startswith("manifests/ledger/pieces/log/") for k in stored), sorted(stored)
        again = {k: n for k, n in writes(s3).items() if n > 1}
        assert set(again) == {"manifests/ledger/head.json"}, again
        code, report, said = team.verify_store(tmp_path / "copy")
        assert code == 0, report
        assert report["status"] == "passed" and len(report["captures"]) == 6
        manifests = one_capture_per_job(tmp_path / "copy", jobs)
        assert strays(stored, manifests) == []
        # each worker's folder holds its own captures; PostgreSQL holds every one, once
        assert sorted(listed) == sorted(m["capture_id"] for m in manifests)
        operators = {m["collector"]["operator"] for m in manifests}
        assert operators <= {"w1@team.example", "w2@team.example"}
        assert "objects" in said
        # the copy is indexed: queries answer from it
        rows = team.run("query", "select count(*) as n from captures", "--json", "--root",
                        str(tmp_path / "copy")).stdout
        assert json.loads(rows)[0]["n"] == 6
        # a second verify fetches nothing again
        code, _, said = team.verify_store(tmp_path / "copy")
        assert code == 0 and " 0 fetched" in said, said
        # one byte flipped in a WARC in the store: caught, and named
        client: Any = s3.client()
        warc = next(k for k in stored if k.startswith("archive/"))
        data = bytearray(stored[warc])
        data[len(data) // 2] ^= 0x01
        client.put_object(Bucket="evidence", Key=f"team/{warc}", Body=bytes(data))
        code, report, _ = team.verify_store(tmp_path / "copy")
        assert code == 1
        assert any(c["outcome"] == "failed" and warc.rsplit("/", 1)[-1] in c["subject"]
                   for c in report["checks"]), report
        client.put_object(Bucket="evidence", Key=f"team/{warc}", Body=stored[warc])
        # one byte changed in a piece of the leaves the copy holds already: the copy sees
        # the object changed, fetches it again, and refuses the store, in one line
        piece = next(k for k in stored if k.startswith("manifests/ledger/pieces/leaves/"))
        changed = bytearray(stored[piece])
        at = changed.index(b"\n") - 1  # the first leaf hash's last digit
        changed[at] = ord("0") if changed[at] != ord("0") else ord("1")
        client.put_object(Bucket="evidence", Key=f"team/{piece}", Body=bytes(changed))
        code, report, said = team.verify_store(tmp_path / "copy")
        assert code == 1 and report == {}, report
        assert said.count("custody: error:") == 1 and "Traceback" not in said, said
        assert "manifests/ledger/leaves" in said and "head" in said, said
        client.put_object(Bucket="evidence", Key=f"team/{piece}", Body=stored[piece])
        code, _, said = team.verify_store(tmp_path / "copy")
        assert code == 0, said
        # a capture's manifest removed from the store: the ledger shows it
        gone = next(k for k in stored if k.startswith("manifests/") and k.endswith(".json")
                    and "/ledger/" not in k)
        client.delete_object(Bucket="evidence", Key=f"team/{gone}")
        code, report, _ = team.verify_store(tmp_path / "copy")
        assert code == 1
        assert not (tmp_path / "copy" / gone).exists()  # the copy follows the store
    finally:
        for host in hosts:
            host.close()


# (before the store's commit point and at it; store.pieces and store.superseded hold the
# same way, and each case costs the suite 20 s: run them with CUSTODY_ALL_FAULTS=1)
@pytest.mark.parametrize("fault", ["store.capture", "store.head"] + (
    ["store.pieces", "store.superseded"] if os.environ.get("CUSTODY_ALL_FAULTS") else []))
def test_a_worker_killed_while_sending_leaves_one_capture(tmp_path: Path,
                                                          redis_server: RedisServer,
                                                          s3: S3Server, fault: str) -> None:
    """Killed after each step of a send: the next worker settles what it left (a capture
    sent whole is published, once; one whose manifest was not sent is removed and its
    job captured again), no job is sealed twice, and nothing the dead worker sent is
    left in the store that the head does not name."""
    host = Host("127.0.0.1")
    try:
        team = StoreTeam(tmp_path, redis_server.url, s3)
        team.add_worker_key("w1")
        team.add_worker_key("w2")
        jobs = team.jobs(*host.urls(4), options=("--batch", "2", "--concurrency", "1"))
        dying = team.store_worker("w1", team.root, "--visibility", "2", CUSTODY_TEST_FAULT=fault)
        dying.wait(timeout=120)
        assert dying.returncode == -signal.SIGKILL, dying.stdout.read() if dying.stdout else ""
        other = team.store_worker("w2", tmp_path / "w2", "--visibility", "2",
                                  "--exit-when-idle", "3")
        out = finish(other)[0]
        assert team.totals()["done"] == 4, out
        code, report, _ = team.verify_store(tmp_path / "copy")
        assert code == 0, (report, out)
        manifests = one_capture_per_job(tmp_path / "copy", jobs)
        first = min(manifests, key=lambda m: m["chain"]["sequence"])
        if fault == "store.capture":  # sent whole but not in the ledger: published by w2
            assert "published it" in out
        if fault == "store.pieces":  # its manifest never sent: not sealed, captured again
            assert first["collector"]["operator"] == "w2@team.example"
            assert len(host.log) == 6
        else:
            assert first["collector"]["operator"] == "w1@team.example"
            assert len(host.log) == 4  # nothing fetched twice: w1's capture was kept
        assert strays(objects(s3), manifests) == []
        # w1 comes back with its folder: its copy is made the store's again, nothing lost
        again = team.store_worker("w1", team.root, "--exit-when-idle", "1")
        finish(again)
        code, report, _ = team.verify_store(tmp_path / "copy")
        assert code == 0, report
        assert len(report["captures"]) == 2
    finally:
        host.close()


def test_a_store_of_the_layout_before_the_head_is_taken_over(
        tmp_path: Path, redis_server: RedisServer, s3: S3Server) -> None:
    """A store holding an archive object for file, its leaves and custody log as whole
    objects (as custody kept it before the head): the first worker to hold the seal lock
    writes its pieces and the head, and removes the whole objects only after; the chain
    goes on from the captures it held, and the copy verifies."""
    host = Host("127.0.0.1")
    try:
        team = StoreTeam(tmp_path, redis_server.url, s3)
        team.add_worker_key("w1")
        for url in host.urls(2):
            team.run("archive", "--no-requisites", url)
        client: Any = s3.client()
        for path in sorted(team.root.rglob("*")):
            relative = path.relative_to(team.root).as_posix()
            if path.is_file() and not relative.startswith((".", "custody.db")):
                client.put_object(Bucket="evidence", Key=f"team/{relative}",
                                  Body=path.read_bytes())
        before = objects(s3)
        assert "manifests/ledger/leaves" in before and "manifests/ledger/head.json" not in before
        jobs = team.jobs(*host.urls(4, start=10), options=("--batch", "2"))
        out = finish(team.store_worker("w1", tmp_path / "w1", "--exit-when-idle", "2"))[0]
        stored = objects(s3)
        assert not {"manifests/ledger/leaves", "manifests/ledger/log.jsonl",
                    "manifests/ledger/checkpoint", "manifests/ledger/checkpoint.sig",
                    "manifests/ledger/log.head"} & set(stored), out
        assert not [k for k in stored if k.startswith("manifests/ledger/tile/") and ".p/" in k]
        code, report, _ = team.verify_store(tmp_path / "copy")
        assert code == 0, (report, out)
        manifests = [json.loads(p.read_text())
                     for p in sorted((tmp_path / "copy" / "manifests").glob("*.json"))]
        assert sorted(m["chain"]["sequence"] for m in manifests) == [1, 2, 3, 4]
        assert sorted(m["job"]["id"] for m in manifests if m.get("job")) == \
            sorted(j["id"] for j in jobs)
        assert strays(stored, manifests) == []
        copied = (tmp_path / "copy" / "manifests" / "ledger" / "log.jsonl").read_bytes()
        assert copied.startswith(before["manifests/ledger/log.jsonl"])  # the log went on
    finally:
        host.close()


def test_the_store_stops_answering_mid_crawl(tmp_path: Path, redis_server: RedisServer,
                                             s3: S3Server) -> None:
    host = Host("127.0.0.1", latency=0.05)
    try:
        team = StoreTeam(tmp_path, redis_server.url, s3)
        team.add_worker_key("w1")
        jobs = team.jobs(*host.urls(16), options=("--batch", "2"))
        worker = team.store_worker("w1", team.root, "--visibility", "5", "--exit-when-idle", "2",
                                   CUSTODY_S3_TIMEOUT="1")
        deadline = time.monotonic() + 60
        while len(host.log) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        s3.pause()  # the store stops answering: the worker waits, holding what it sealed
        time.sleep(3.5)  # past the client's 1 s timeout, several times
        s3.resume()
        out = finish(worker)[0]
        assert "the store does not answer" in out and "the store answers again" in out, out
        assert team.totals() == {"pending": 0, "inflight": 0, "done": 16, "failed": 0}
        code, report, _ = team.verify_store(tmp_path / "copy")
        assert code == 0, report
        one_capture_per_job(tmp_path / "copy", jobs)
    finally:
        host.close()


def test_bad_store_input_is_one_line(tmp_path: Path, redis_server: RedisServer,
                                     s3: S3Server) -> None:
    team = StoreTeam(tmp_path, redis_server.url, s3)
    bad = team.run("verify", "--store", "http://evidence/team", check=False)
    assert bad.returncode == 2 and "s3://" in bad.stderr and "Traceback" not in bad.stderr
    empty = team.run("verify", "--store", "s3://evidence/nothing-here", "--root",
                     str(tmp_path / "c"), check=False)
    assert empty.returncode == 10 and "holds no archive" in empty.stderr, empty.stderr
    missing = team.run("pull", "--store", "s3://no-such-bucket/x", "--root",
                       str(tmp_path / "c2"), check=False)
    assert missing.returncode == 10 and "Traceback" not in missing.stderr, missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    # a folder that is not a copy is never made one (that would remove what it holds)
    before = sorted(p.relative_to(team.root) for p in team.root.rglob("*"))
    into = team.run("verify", "--store", STORE, "--root", str(team.root), check=False)
    assert into.returncode == 2 and "empty folder" in into.stderr, into.stderr
    assert sorted(p.relative_to(team.root) for p in team.root.rglob("*")) == before
    # a worker that finds an empty store and nothing to send says what to do
    team.add_worker_key("w1")
    lone = team.store_worker("w1", tmp_path / "empty", "--exit-when-idle", "1",
                       CUSTODY_STORE_WAIT="1")
    out, _ = lone.communicate(timeout=60)
    assert lone.returncode == 10 and "custody init" in out and "Traceback" not in out, out
    shutil.rmtree(tmp_path / "empty", ignore_errors=True)
