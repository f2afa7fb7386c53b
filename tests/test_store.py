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
        code, report, said = team.verify_store(tmp_path / "copy")
        assert code == 0, report
        assert report["status"] == "passed" and len(report["captures"]) == 6
        manifests = one_capture_per_job(tmp_path / "copy", jobs)
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


@pytest.mark.parametrize("fault", ["store.capture", "store.leaves", "store.log.jsonl"])
def test_a_worker_killed_while_sending_leaves_one_capture(tmp_path: Path,
                                                          redis_server: RedisServer,
                                                          s3: S3Server, fault: str) -> None:
    """Killed after each step of a send: the next worker settles what it left (a capture
    sent whole is published, once), and no job is sealed twice."""
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
        assert first["collector"]["operator"] == "w1@team.example"
        assert len(host.log) == 4  # nothing fetched twice: w1's capture was kept
        # w1 comes back with its folder: its copy is made the store's again, nothing lost
        again = team.store_worker("w1", team.root, "--exit-when-idle", "1")
        finish(again)
        code, report, _ = team.verify_store(tmp_path / "copy")
        assert code == 0, report
        assert len(report["captures"]) == 2
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


def test_a_changed_log_is_fetched_from_where_the_folder_ends(
        tmp_path: Path, s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The custody log only grows: a worker fetches what follows its own copy's end (and
    the bytes before it, to see that the store's continues it), or the whole log when
    the store's does not continue it."""
    from custody.store.mirror import LOG, Mirror
    from custody.store.s3 import Store

    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    store = Store(STORE, patience=10)
    lines = [json.dumps({"seq": n, "pad": "x" * 600}).encode() + b"\n" for n in range(40)]
    store.put(LOG, b"".join(lines[:30]))
    root = tmp_path / "worker"
    mirror = Mirror(store, root)
    mirror.begin(lambda capture_id: False)
    assert (root / LOG).read_bytes() == b"".join(lines[:30])
    store.put(LOG, b"".join(lines))  # another worker sealed: ten events more
    before = store.received
    mirror.begin(lambda capture_id: False)
    assert (root / LOG).read_bytes() == b"".join(lines)
    assert store.received - before < len(b"".join(lines[30:])) + 4096 + 1
    before = store.received
    mirror.begin(lambda capture_id: False)  # unchanged: nothing fetched
    assert store.received == before
    # a store's log that does not continue the folder's (rewritten, or shorter) is taken
    # whole: the folder follows the store, and verify judges it
    rewritten = b"".join(lines[:20]) + b'{"seq": "other"}\n' + b"".join(lines[21:])
    store.put(LOG, rewritten)
    mirror.begin(lambda capture_id: False)
    assert (root / LOG).read_bytes() == rewritten
    store.put(LOG, b"".join(lines[:5]))
    mirror.begin(lambda capture_id: False)
    assert (root / LOG).read_bytes() == b"".join(lines[:5])
    # one byte changed far before the folder's end, and grown: the bytes at the end match,
    # the MD5 of the whole does not
    store.put(LOG, b"".join(lines[:30]))
    mirror.begin(lambda capture_id: False)
    changed = lines[0].replace(b"x", b"y", 1) + b"".join(lines[1:35])
    store.put(LOG, changed)
    mirror.begin(lambda capture_id: False)
    assert (root / LOG).read_bytes() == changed
