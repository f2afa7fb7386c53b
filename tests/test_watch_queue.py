"""Watches on the Redis queue: the scheduler puts each due run on the queue as a signed
job, workers in their own processes capture and seal it, and the scheduler compares
what they sealed; of several schedulers on the queue one leads and the others stand by,
and one killed with SIGKILL is replaced within its lease, with no run lost or made
twice in an interval and nothing sealed twice."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from custody.testing.changing import ChangingSite
from custody.testing.redis_server import RedisServer
from custody.watch.leader import KEY
from custody.watch.queued import job_id
from custody.watch.schedule import interval_of
from test_queue import BIN, Team, finish, pytestmark, redis_server, wait_for
from test_watch import next_interval

__all__ = ["pytestmark", "redis_server"]  # the skip and the fixture, shared with test_queue


def passed(team: Team, *extra: str) -> list[dict[str, Any]]:
    done = team.run("watch", "run", "--once", "--queue", team.queue, "--json", *extra,
                    check=False)
    assert done.returncode in (0, 5), done.stdout + done.stderr
    return list(json.loads(done.stdout)["outcomes"])


def work(team: Team) -> None:
    finish(team.worker("w1", "--exit-when-idle", "0.5"))


def by_job(team: Team) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for manifest in team.manifests():
        assert manifest["job"]["id"] not in found  # nothing sealed twice
        found[manifest["job"]["id"]] = manifest
    return found


def runs_of(watch_id: str, every: int, manifest: dict[str, Any]) -> int:
    """The interval whose run the capture was (its job's id names it): one before the
    capture started (within the five minutes a busy machine may keep a job waiting)."""
    started = datetime.fromisoformat(manifest["started_at"].replace("Z", "+00:00"))
    near = interval_of(watch_id, every, started.timestamp())
    return next(n for n in range(near - 300 // every, near + 1) if job_id(watch_id, n) ==
                manifest["job"]["id"])


def test_watch_runs_are_jobs_for_the_workers(tmp_path: Path, redis_server: RedisServer) -> None:
    team = Team(tmp_path, redis_server.url)
    team.add_worker_key("w1")
    with ChangingSite() as site:
        url = site.url + "/statement"
        added = json.loads(team.run("watch", "add", url, "--every", "1s", "--ignore",
                                    ".live-feed", "--json").stdout)["watches"][0]
        assert [o["status"] for o in passed(team)] == ["queued"]
        assert team.manifests() == []  # the scheduler fetches nothing
        listed = json.loads(team.run("watch", "list", "--json").stdout)["watches"]
        assert listed[0]["last_outcome"] == "queued"
        work(team)
        next_interval()
        assert [o["status"] for o in passed(team)] == ["baseline", "queued"]
        site.phase = "edited"
        work(team)
        next_interval()
        outcomes = passed(team)
        assert [(o["status"], o["kinds"]) for o in outcomes] == \
            [("changed", ["text"]), ("queued", [])]
        # a second pass while the job waits puts nothing more on the queue
        assert passed(team) == []
        assert team.status()["totals"]["pending"] == 1
    captures = by_job(team)
    assert len(captures) == 2
    for manifest in captures.values():
        assert manifest["job"]["worker"] == "w1" and manifest["seed_urls"] == [url]
        runs_of(added["id"], 1, manifest)
    (change,) = json.loads(team.run("watch", "changes", "--json").stdout)["changes"]
    assert change["after_capture"] == outcomes[0]["capture_id"]
    assert "+ Officials said the crossing would stay open for one day only." in \
        change["diff"]
    code, report = team.verify()
    assert code == 0, report


def test_one_scheduler_leads_and_another_takes_over(tmp_path: Path,
                                                    redis_server: RedisServer) -> None:
    import redis

    team = Team(tmp_path, redis_server.url)
    team.add_worker_key("w1")
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)

    def scheduler(name: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(BIN / "custody"), "watch", "run", "--queue", team.queue,
                                 "--name", name, "--leader-lease", "2", "-v"],
                                env=team.env("coord"), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    with ChangingSite() as site:
        added = json.loads(team.run("watch", "add", site.url + "/statement", "--every", "1s",
                                    "--ignore", ".live-feed", "--json").stdout)
        watch_id = added["watches"][0]["id"]
        worker = team.worker("w1")
        first = scheduler("s1")
        try:
            wait_for(lambda: str(client.get(KEY) or "").endswith(":s1"), 30, "s1 to lead")
            second = scheduler("s2")
            wait_for(lambda: len(team.manifests()) >= 2, 60, "two runs")
            held = team.run("watch", "run", "--once", "--queue", team.queue, check=False)
            assert held.returncode == 3 and "'s1' leads on this queue" in held.stderr
            assert held.stderr.count("\n") == 1
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            killed_at = time.monotonic()
            wait_for(lambda: str(client.get(KEY) or "").endswith(":s2"), 10, "s2 to lead")
            assert time.monotonic() - killed_at < 5  # within the lease, and a beat
            seen = len(team.manifests())
            wait_for(lambda: len(team.manifests()) >= seen + 2, 60, "s2's runs")
            second.send_signal(signal.SIGTERM)
            out, _ = second.communicate(timeout=30)
            assert second.returncode == 0, out
            assert "standing by; s1 leads" in out and "s2 leads the watch schedule" in out
        finally:
            for process in (first, worker):
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            worker.communicate(timeout=60)
            if first.poll() is None:
                first.kill()
    captures = by_job(team)
    intervals = [runs_of(watch_id, 1, m) for m in captures.values()]
    assert len(set(intervals)) == len(intervals)  # no interval's run made twice
    assert len(captures) >= 4
    code, report = team.verify()
    assert code == 0, report
    assert not any(key.startswith("custody:worker:s") for key in client.scan_iter())


def test_queue_options_that_cannot_be_used(tmp_path: Path, redis_server: RedisServer) -> None:
    team = Team(tmp_path, redis_server.url)
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    cases = [(("--ca-bundle", str(bundle)), 2, "give it to each worker"),
             (("--name", "a/b"), 2, "a scheduler's name"),
             (("--leader-lease", "0"), 2, "--leader-lease")]
    for extra, code, says in cases:
        done = team.run("watch", "run", "--once", "--queue", team.queue, *extra, check=False)
        assert done.returncode == code and says in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 or code == 2
    gone = team.run("watch", "run", "--once", "--queue", "redis://127.0.0.1:9/0", check=False)
    assert gone.returncode == 9 and gone.stderr.count("\n") == 1, gone.stderr
    assert os.listdir(team.root / "manifests") == ["ledger"] or \
        not list((team.root / "manifests").glob("*.json"))


def test_a_job_redis_lost_is_found_sealed_and_a_site_that_is_down_is_no_change(
        tmp_path: Path, redis_server: RedisServer) -> None:
    """Redis restarts empty after the workers sealed the runs: the scheduler finds each
    capture in the archive by its job's id and captures nothing again. A site that stops
    answering (its worker's job fails, with a capture sealed) is compared as without
    the queue: a passing error, no change."""
    import redis

    team = Team(tmp_path, redis_server.url)
    team.add_worker_key("w1")
    with ChangingSite() as site:
        url = site.url + "/statement"
        team.run("watch", "add", url, "--every", "1s", "--ignore", ".live-feed")
        assert [o["status"] for o in passed(team)] == ["queued"]
        work(team)
    redis.Redis.from_url(redis_server.url).flushall()  # the queue forgot every job
    next_interval()
    assert [o["status"] for o in passed(team)] == ["baseline", "queued"]
    assert len(team.manifests()) == 1  # found sealed, not captured again
    work(team)  # the site is gone: connection refused
    next_interval()
    outcomes = passed(team)
    assert [o["status"] for o in outcomes] == ["site-error", "queued"], outcomes
    assert len(by_job(team)) == 2
    assert json.loads(team.run("watch", "changes", "--json").stdout)["changes"] == []


def test_a_run_the_queue_keeps_waiting_fails_and_the_next_is_queued(
        tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """No worker takes the job (or its message is lost): after an hour the run fails,
    saying so, and the next interval's run is queued; a watch is never stuck."""
    from custody.cli.common import archivist
    from custody.core.archive import Archive
    from custody.watch import Runner
    from custody.watch.leading import Scheduler

    team = Team(tmp_path, redis_server.url)
    team.run("watch", "add", "http://127.0.0.1:9/x", "--every", "1m")
    monkeypatch.setenv("CUSTODY_KEY", str(tmp_path / "keys" / "coord"))
    key, who = archivist(Archive.open(team.root))
    now = [time.time()]
    scheduler = Scheduler(team.root, redis_server.url, name="s1", key=key, lease=15,
                          make_runner=lambda archive, queued: Runner(
                              archive, key=key, who=who, queued=queued, host_gap=0,
                              clock=lambda: now[0]))
    try:
        assert [o.status for o in scheduler.once().outcomes] == ["queued"]
        now[0] += 1800
        assert scheduler.once().outcomes == []  # waiting: within the hour
        now[0] += 1900
        stale, again = scheduler.once().outcomes
    finally:
        scheduler.close()
    assert stale.status == "failed" and "waited on the queue for more than 3600 s" in \
        str(stale.error)
    assert again.status == "queued"
    assert team.status()["totals"]["pending"] == 2


def test_a_scheduler_stands_by_while_another_holds_the_archive(
        tmp_path: Path, redis_server: RedisServer) -> None:
    """A scheduler without --queue (or a leader that was paused, and still holds the
    archive's scheduler lock) keeps a queued one standing by; it leads once that one is
    gone. A name a worker goes by is refused."""
    import redis

    from custody.core.archive import Archive
    from custody.watch import scheduler_lock

    team = Team(tmp_path, redis_server.url)
    team.run("watch", "add", "http://127.0.0.1:9/x", "--every", "1h")
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.set("custody:worker:w1", json.dumps({"job": None, "host": None}), ex=60)
    clash = team.run("watch", "run", "--once", "--queue", team.queue, "--name", "w1",
                     check=False)
    assert clash.returncode == 2 and "a worker of that name is live" in clash.stderr
    with scheduler_lock(Archive.open(team.root)):
        waiting = subprocess.Popen([str(BIN / "custody"), "watch", "run", "--queue",
                                    team.queue, "--name", "s1", "--leader-lease", "2", "-v"],
                                   env=team.env("coord"), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        time.sleep(4)
        assert waiting.poll() is None  # standing by, not gone
    try:
        wait_for(lambda: team.status()["totals"]["pending"] == 1, 30, "the run to be queued")
    finally:
        waiting.send_signal(signal.SIGTERM)
        out, _ = waiting.communicate(timeout=30)
    assert "holds this archive's scheduler lock" in out and "s1 leads" in out


@pytest.mark.parametrize("url", ["redis://127.0.0.1:99999/0", "redis://[::1:6399/0"])
def test_a_queue_url_that_is_no_url_is_one_line(tmp_path: Path, url: str) -> None:
    team = Team(tmp_path, "redis://127.0.0.1:9/0")
    for args in (("watch", "run", "--once", "--queue", url), ("worker", "--queue", url)):
        done = team.run(*args, check=False)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert "not a queue URL" in done.stderr
    alone = team.run("watch", "run", "--once", "--name", "s1", check=False)
    assert alone.returncode == 2 and "--name is for a scheduler on a queue" in alone.stderr


def test_each_mode_leaves_the_others_runs_alone_and_forged_keys_are_one_line(
        tmp_path: Path, redis_server: RedisServer) -> None:
    """A run on the queue is not made again by a scheduler without --queue (it says so);
    a worker does not take a live scheduler's name; keys of the wrong type and a queue
    URL whose query would choose another database are one line."""
    import redis

    team = Team(tmp_path, redis_server.url)
    team.add_worker_key("w1")
    team.run("watch", "add", "http://127.0.0.1:9/x", "--every", "1h")
    assert [o["status"] for o in passed(team, "--name", "s1")] == ["queued"]
    local = team.run("watch", "run", "--once", "--json", check=False)
    assert local.returncode == 5
    (said,) = json.loads(local.stdout)["outcomes"]
    assert "run this archive's scheduler with --queue" in said["error"]
    assert team.manifests() == [] and team.status()["totals"]["pending"] == 1
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.set("custody:worker:s1", json.dumps({"job": None, "role": "watch scheduler"}),
               ex=60)
    clash = team.run("worker", "--queue", team.queue, "--name", "s1", "--exit-when-idle", "0",
                     who="w1", check=False)
    assert clash.returncode == 2 and "a watch scheduler of that name" in clash.stderr
    client.hset("custody:worker:s7", "a", "b")
    forged = team.run("watch", "run", "--once", "--queue", team.queue, "--name", "s7",
                      check=False)
    assert forged.returncode == 9 and forged.stderr.count("\n") == 1, forged.stderr
    worker = team.run("worker", "--queue", team.queue, "--name", "s7", "--exit-when-idle", "0",
                      who="w1", check=False)
    assert worker.returncode == 9 and worker.stderr.count("\n") == 1, worker.stderr
    client.rpush("custody:watch:leader", "x")
    leader = team.run("watch", "run", "--once", "--queue", team.queue, check=False)
    assert leader.returncode == 9 and "custody:watch:leader was written" in leader.stderr
    other = team.run("watch", "run", "--once", "--queue", team.queue + "?db=3", check=False)
    assert other.returncode == 2 and "no query" in other.stderr


def test_a_last_capture_of_another_page_is_compared_with_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The working state is no evidence: a previous capture it names that is of another
    URL raises no change; and verify fails a change the log records between captures
    that are not of the watch's URL."""
    import sqlite3

    from custody.annotate import Signer
    from custody.annotate.recording import record
    from custody.cli.common import archivist
    from custody.core.archive import Archive

    team = Team(tmp_path, "redis://127.0.0.1:9/0")
    with ChangingSite() as site:
        one, two = site.url + "/statement", site.url + "/w/1"
        team.run("watch", "add", one, two, "--every", "1s", "--ignore", ".live-feed")
        team.run("watch", "run", "--once", "--host-gap", "0")
        state = sqlite3.connect(team.root / ".custody" / "watch" / "state.db")
        with state:
            first = dict(state.execute("SELECT watch_id, last_capture FROM schedule"))
            ids = list(first)
            state.execute("UPDATE schedule SET last_capture = ?, text_capture = ? WHERE "
                          "watch_id = ?", [first[ids[0]], first[ids[0]], ids[1]])
        state.close()
        next_interval()
        done = team.run("watch", "run", "--once", "--json", "--host-gap", "0")
    outcomes = {o["watch_id"]: o for o in json.loads(done.stdout)["outcomes"]}
    assert outcomes[ids[1]]["status"] == "baseline" and outcomes[ids[0]]["status"] == "same"
    assert json.loads(team.run("watch", "changes", "--json").stdout)["changes"] == []
    # a false change signed into the log anyway (an archivist's key, a hand-made event)
    monkeypatch.setenv("CUSTODY_KEY", str(tmp_path / "keys" / "coord"))
    archive = Archive.open(team.root)
    key, who = archivist(archive)
    before, after = first[ids[0]], outcomes[ids[1]]["capture_id"]
    sha = {cid: hashlib.sha256((team.root / "manifests" / f"{cid}.json").read_bytes())
           .hexdigest() for cid in (before, after)}
    record(archive, Signer(key, who), "watch-changed", {
        "watch_id": ids[1], "url": two, "kinds": ["text"],
        "before": {"capture_id": before, "manifest_sha256": sha[before]},
        "after": {"capture_id": after, "manifest_sha256": sha[after]},
        "capture_ids": [before, after], "counts": {}, "diff_sha256": "0" * 64, "diff": ""})
    code, report = team.verify()
    assert code == 1
    assert f"is of {one}, not of the watched {two}" in json.dumps(report)
