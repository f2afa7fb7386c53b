"""Fencing: a worker paused (SIGSTOP, as a frozen VM or a long GC would pause it) past its
lease loses its job to another worker, which captures and seals it; when the first is
continued (SIGCONT) it finishes its crawl, reaches its seal, finds it no longer holds
the job, and seals nothing. One capture per job, an archive that verifies, and nothing
left that a later command would seal as a second capture of the job."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from custody.core.archive import Archive
from custody.queue import names
from custody.queue.acceptance import Gatekeeper, Permits
from custody.queue.connection import Patient, connect
from custody.queue.jobs import Queue
from custody.testing.hosts import Host
from custody.testing.redis_server import RedisServer
from test_queue import Team, check_one_capture_per_job, finish, redis_server, wait_for

__all__ = ["redis_server"]  # the fixture, shared with test_queue


def stopped(pid: int) -> bool:
    """Whether the process is stopped (state T in /proc), as SIGSTOP leaves it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0] == "T"


@pytest.mark.parametrize("pause", ["mid-crawl", "before-seal", "back-early"])
def test_a_worker_paused_past_its_lease_seals_nothing(tmp_path: Path,
                                                       redis_server: RedisServer,
                                                       pause: str) -> None:
    """mid-crawl: stopped by the test after its second fetch, continued once the job is
    sealed by the other. before-seal: it stops itself (a test fault) once its crawl is
    over and its seal has begun (its sealing journal written), the worst moment: all it
    has left to do is seal. back-early: continued as soon as the other has begun the job
    again, so that it reaches its seal while the other still crawls (and must leave the
    other's capture alone)."""
    host = Host("127.0.0.1", latency=0.2)
    try:
        team = Team(tmp_path, redis_server.url)
        team.add_worker_key("w1")
        team.add_worker_key("w2")
        jobs = team.enqueue(*host.urls(8), options=("--batch", "8", "--concurrency", "1"))
        extra = {"CUSTODY_TEST_FAULT": "seal.journal:stop"} if pause == "before-seal" else {}
        # w1's --visibility is how long its heartbeat outlives it, and how long it lets
        # another be silent before it takes a job from it: longer than w2's, so that w2
        # takes the job soon after w1 stops, and a busy machine delaying w2's heartbeat
        # does not hand the job back to w1 (that would be a takeover, not a lost fence)
        first = team.worker("w1", "--visibility", "6", "--exit-when-idle", "2", **extra)
        if pause == "before-seal":
            wait_for(lambda: stopped(first.pid), what="w1 to stop itself at its seal")
        else:
            wait_for(lambda: len(host.log) >= 2, what="w1 to fetch")
            first.send_signal(signal.SIGSTOP)
        fetched_by_first = len(host.log)
        assert fetched_by_first == 8 if pause == "before-seal" else fetched_by_first < 8
        second = team.worker("w2", "--visibility", "3", "--exit-when-idle", "3")
        if pause == "back-early":
            client = connect(redis_server.url)
            job = names.job(jobs["jobs"][0]["id"])
            wait_for(lambda: client.hget(job, "worker") == "w2", timeout=60,
                     what="w2 to take the job over")
            taken_at = len(host.log)
            wait_for(lambda: len(host.log) > taken_at, what="w2 to fetch")
        else:
            try:
                wait_for(lambda: team.status()["totals"]["done"] == 8, timeout=120,
                         what="w2 to take the job over and seal it")
            except AssertionError:
                second.kill()
                raise AssertionError(f"w2 did not seal the job: {team.status()}\n"
                                     f"{second.communicate()[0]}") from None
        assert stopped(first.pid)  # w1 slept through all of it
        first.send_signal(signal.SIGCONT)
        out1, out2 = finish(first, second)
        manifests = check_one_capture_per_job(team, jobs["jobs"])
        assert "took over job" in out2 and "Traceback" not in out1 + out2
        assert "the job was taken over by another worker" in out1, out1
        assert "not sealed here" in out1
        assert [m["collector"]["operator"] for m in manifests] == ["w2@team.example"]
        assert len(host.log) == 16  # each fetched the job whole: w1 for nothing
        assert not list((team.root / ".custody" / "sealing").glob("*.json"))
        code, report = team.verify()
        assert code == 0, report
        # w1 set its own capture's WARC files aside once its job was over: none is left in
        # archive/ that no manifest seals, for every verify to note
        assert not [n for n in report["notes"] if "not sealed by any manifest" in n], \
            report["notes"]
        # nothing w1 left is sealed later: reindex completes every interrupted seal
        team.run("reindex")
        check_one_capture_per_job(team, jobs["jobs"])
        rows = team.run("query", "select count(*) as n from captures", "--json").stdout
        assert json.loads(rows)[0]["n"] == 1
        code, report = team.verify()
        assert code == 0, report
    finally:
        host.close()


def test_a_worker_that_lost_its_job_does_not_claim_it_back(tmp_path: Path,
                                                           redis_server: RedisServer) -> None:
    """Its heartbeat renews its claim on the job's message only while the job's token is
    its own: otherwise it would take the message from the worker that took the job over,
    and then the job itself, back and forth (the back-early case above, when the timing
    falls that way)."""
    team = Team(tmp_path, redis_server.url)
    client = connect(redis_server.url)
    queue = Queue(client, Patient(redis_server.url))
    accept = Gatekeeper(Archive.open(team.root), Permits()).accept
    team.enqueue("http://127.0.0.1:9/a.html")
    first = queue.next("w1", accept, visibility=60, block=1)
    assert first is not None and queue.beat("w1", first, ttl=60)
    time.sleep(0.2)
    second = queue.next("w2", accept, visibility=0.1, block=0.1)  # w1 silent: "paused"
    assert second is not None and second.job.id == first.job.id
    assert second.taken_over_from == "w1"
    assert not queue.beat("w1", first, ttl=60)  # w1 wakes: it no longer holds the job
    (pending,) = client.xpending_range(names.STREAM, names.GROUP, "-", "+", 10)
    assert pending["consumer"] == "w2"
    assert queue.next("w1", accept, visibility=60, block=0.1) is None
    assert queue.beat("w2", second, ttl=60)
    assert not queue.finish(first, "done") and queue.finish(second, "done")
