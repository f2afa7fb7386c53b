"""The queue is a trust boundary: a job runs only when an archivist the archive admits
signed it, and its settings pass the command line's own rules; anything else an attacker
writes straight into Redis is marked failed (or dropped) with its reason, acknowledged,
and never ends, hangs or misleads a worker. Files a capture reads come from the
worker's own configuration."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from custody.core import allowed_signers, keyfile, sshsig
from custody.core.archive import Archive
from custody.queue import envelope, names
from custody.queue.acceptance import Gatekeeper, Permits
from custody.queue.connection import connect
from custody.testing.hosts import Host
from custody.testing.redis_server import RedisServer
from custody.testing.site import Page, SiteServer
from test_queue import Team, finish, redis_server

__all__ = ["redis_server"]  # the fixture, shared with test_queue
COORDINATOR = "Coordinator <coord@example.org>"


class Attacker:
    """Writes into the queue's Redis what custody never would (a raw client: any bytes)."""

    def __init__(self, url: str, team: Team) -> None:
        self.raw = redis.Redis.from_url(url)
        self.team = team
        self.planted: dict[str, str] = {}  # job id -> what it is

    def message(self, fields: dict[str, Any]) -> None:
        self.raw.xadd(names.STREAM, fields)

    def job(self, what: str, fields: dict[str, Any], job_id: str | None = None) -> str:
        job_id = job_id or uuid.uuid4().hex
        self.raw.hset(names.job(job_id), mapping={"id": job_id, "host": "127.0.0.1",
                                                  "urls": 1, "state": "pending", **fields})
        self.raw.xadd(names.STREAM, {"job": job_id})
        self.planted[job_id] = what
        return job_id

    def signed(self, what: str, urls: list[str], settings: dict[str, Any], *,
               key: Any = None, job_id: str | None = None, **changes: Any) -> str:
        """A job signed (by the coordinator, unless another key is given) as custody
        signs one, with ``changes`` to its settings."""
        job_id = job_id or uuid.uuid4().hex
        signed = envelope.signed(job_id, urls, {**settings, **changes},
                                 key or self.team_key())
        return self.job(what, {"envelope": signed.data, "signature": signed.signature},
                        job_id)

    def team_key(self) -> Any:
        return keyfile.load_key(self.team.tmp / "keys" / "coord")


def legit(team: Team, client: Any, url: str) -> tuple[str, dict[str, Any]]:
    """A job queued by the coordinator with `custody archive --queue`, and its envelope."""
    (job,) = team.enqueue(url)["jobs"]
    return job["id"], json.loads(client.hget(names.job(job["id"]), "envelope"))


def test_a_job_is_signed_so_that_ssh_keygen_checks_it(tmp_path: Path,
                                                      redis_server: RedisServer) -> None:
    team = Team(tmp_path, redis_server.url)
    client = connect(redis_server.url)
    job_id, content = legit(team, client, "http://127.0.0.1:9/a.html")
    assert content["id"] == job_id and content["urls"] == ["http://127.0.0.1:9/a.html"]
    assert content["format"] == "custody-job/1" and content["queued_at"].endswith("Z")
    assert content["settings"]["depth"] == 0 and content["settings"]["cookies"] is None
    stored = client.hgetall(names.job(job_id))
    (tmp_path / "job.json").write_bytes(stored["envelope"].encode())
    (tmp_path / "job.sig").write_text(stored["signature"])

    def keygen(namespace: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I",
                               COORDINATOR, "-n", namespace, "-s", str(tmp_path / "job.sig")],
                              cwd=team.root, input=(tmp_path / "job.json").read_text(),
                              capture_output=True, text=True)

    assert keygen("custody-job").returncode == 0
    assert keygen("custody-manifest").returncode != 0  # a job's signature is a job's only
    text = (tmp_path / "job.json").read_text().replace('"depth":0', '"depth":9')
    (tmp_path / "job.json").write_text(text)
    assert keygen("custody-job").returncode != 0


def test_hostile_entries_are_refused_and_the_worker_goes_on(tmp_path: Path,
                                                            redis_server: RedisServer) -> None:
    host = Host("127.0.0.1")
    try:
        team = Team(tmp_path, redis_server.url)
        team.add_worker_key("w1")
        client = connect(redis_server.url)
        attacker = Attacker(redis_server.url, team)
        good, content = legit(team, client, host.urls(1)[0])
        urls, settings = content["urls"], content["settings"]
        junk_counts, _ = legit(team, client, host.urls(1, start=1)[0])
        attacker.raw.hset(names.job(junk_counts), mapping={"urls": "lots", "host": ""})
        attacker.raw.hdel(names.job(junk_counts), "host")

        # messages naming no job custody made: dropped, with why
        attacker.message({"hello": "world"})
        attacker.message({"job": "../../../etc/passwd"})
        attacker.message({"job": uuid.uuid4().hex})
        wrong_type = uuid.uuid4().hex
        attacker.raw.set(names.job(wrong_type), "not a hash")
        attacker.message({"job": wrong_type})

        outsider = tmp_path / "outsider"
        outsider_key = keyfile.create_key(outsider)
        intruder = tmp_path / "intruder"
        intruder_key = keyfile.create_key(intruder)
        with open(team.root / "allowed_signers", "a") as fh:  # no key-added event admits it
            fh.write(allowed_signers.allowed_signers_line(
                "intruder@example.org", intruder_key.public_key(), sshsig.ARCHIVIST_NAMESPACES))
        coordinator = attacker.team_key()
        stored = client.hgetall(names.job(good))
        expected = {
            attacker.job("unsigned", {"seeds": json.dumps(urls), "settings": json.dumps(
                {**settings, "ca_bundle": "/etc/shadow"})}): "not a signed job",
            attacker.job("not json", {"envelope": "{oops", "signature": sshsig.sign(
                coordinator, b"{oops", "custody-job")}): "not JSON",
            attacker.job("not utf-8", {"envelope": b"\xff\xfe{}", "signature": "x"}):
                "not a usable SSH signature",
            attacker.job("altered", {
                "envelope": stored["envelope"].replace('"depth":0', '"depth":1000000'),
                "signature": stored["signature"]}): "does not match its bytes",
            attacker.job("manifest namespace", {
                "envelope": stored["envelope"], "signature": sshsig.sign(
                    coordinator, stored["envelope"].encode(), "custody-manifest")}):
                "is for 'custody-manifest', not 'custody-job'",
            attacker.job("replayed", {"envelope": stored["envelope"],
                                      "signature": stored["signature"]}):
                f"signed for job '{good}', not this one",
            attacker.signed("outsider", urls, settings, key=outsider_key):
                "a key not in the archive's allowed_signers",
            attacker.signed("intruder", urls, settings, key=intruder_key):
                "signed by a key the archive does not admit",
            attacker.signed("concurrency 0", urls, settings, concurrency=0):
                "setting 'concurrency' is from 1 to 64, not 0",
            attacker.signed("depth", urls, settings, depth=1000000):
                "setting 'depth' is from 0 to 100",
            attacker.signed("regex", urls, settings, exclude=["(unclosed"]):
                "is not a regular expression",
            attacker.signed("type", urls, settings, depth="2"):
                "setting 'depth' is a whole number, not the text '2'",
            attacker.signed("header", urls, settings, user_agent="x\r\nX-Evil: 1"):
                "without control characters",
            attacker.signed("unknown", urls, settings, run="rm -rf /"):
                "unknown setting 'run'",
            attacker.signed("missing", urls, {k: v for k, v in settings.items()
                                              if k != "timeout"}):
                "setting 'timeout' is missing",
            attacker.signed("ca_bundle", urls, settings, ca_bundle="/etc/shadow"):
                "names a file on the worker's machine (ca_bundle)",
            attacker.signed("cookies", urls, settings, cookies="/root/.ssh/id_ed25519"):
                "(cookies)",
            attacker.signed("profile", urls, settings, browser_profile="/root"):
                "(browser_profile)",
            attacker.signed("private", urls, settings, allow_private=True):
                "asks --allow-private, which this worker does not permit",
            attacker.signed("scheme", ["file:///etc/passwd"], settings):
                "unsupported scheme file",
            attacker.signed("hosts", [urls[0], "http://example.org/"], settings):
                "URLs of 2 hosts",
            attacker.signed("tsa", urls, settings, tsa=["gopher://127.0.0.1/"]):
                "setting 'tsa'",
            attacker.signed("interactive", urls, settings, interactive=True):
                "no worker makes one",
        }
        future = uuid.uuid4().hex
        from datetime import UTC, datetime, timedelta

        later = envelope.signed(future, urls, settings, coordinator,
                                now=datetime.now(UTC) + timedelta(days=1))
        attacker.job("future", {"envelope": later.data, "signature": later.signature},
                     future)
        expected[future] = "still to come"
        attacker.raw.set(names.worker("ghost"), b"\xff not json")
        attacker.raw.hset(names.count("pending"), "evil.example", "many")
        attacker.raw.sadd(names.HOSTS, "evil.example")
        forged = uuid.uuid4().hex  # a failure written by hand, to rewrite the screen
        attacker.raw.hset(names.job(forged), mapping={
            "state": "failed", "host": "evil.example",
            "reason": "\x1b[2J\x1b[Hall jobs done\nfailed: job 0 (x): nothing"})
        attacker.raw.sadd(names.FAILED, forged)

        out = finish(team.worker("w1", "--exit-when-idle", "3"))[0]
        assert "Traceback" not in out
        assert f"{len(expected)} refused" in out, out
        assert out.count("dropped: ") == 4, out
        status = team.status()
        reasons = {f["job"]: f["reason"] for f in status["failed_jobs"] if f["job"] != forged}
        for job_id, reason in expected.items():
            what = attacker.planted[job_id]
            assert reasons.get(job_id, "").startswith("refused: "), (what, reasons.get(job_id))
            assert reason in reasons[job_id], (what, reasons[job_id])
        dropped = sorted(d["reason"] for d in status["dropped_messages"])
        assert len(dropped) == 4, dropped
        assert dropped[0] == "it names a job the queue does not hold"
        assert dropped[1].startswith("its entry is not a job (WRONGTYPE")
        assert dropped[2:] == ["the message names no job custody made"] * 2
        # every message acknowledged and gone: no worker takes any of them again
        assert client.xlen(names.STREAM) == 0
        assert client.xpending(names.STREAM, names.GROUP)["pending"] == 0
        # the two good jobs were captured, the one with junk counts too
        captured = {m["job"]["id"] for m in team.manifests()}
        assert captured == {good, junk_counts}
        code, report = team.verify()
        assert code == 0, report
        text = team.run("queue", "status").stdout  # what is shown, tampered with as it is
        assert "refused: signed by a key the archive does not admit" in text
        assert "dropped: message" in text and "evil.example" in text
        assert "\x1b" not in text and "\nfailed: job 0 (x)" not in text
        assert "\\x1b[2J\\x1b[Hall jobs done\\nfailed: job 0 (x): nothing" in text
    finally:
        host.close()


def test_files_and_private_addresses_come_from_the_worker(
        tmp_path: Path, redis_server: RedisServer, tls_site: SiteServer,
        ca_file: str) -> None:
    team = Team(tmp_path, redis_server.url)
    team.add_worker_key("w1")
    https = tls_site.url + "/en.html"
    plain = team.enqueue(https)["jobs"][0]["id"]
    private = team.enqueue(https + "?private", options=("--allow-private",))["jobs"][0]["id"]
    out = finish(team.worker("w1", "--exit-when-idle", "2", "--ca-bundle", ca_file))[0]
    status = team.status()
    (failed,) = status["failed_jobs"]
    assert failed["job"] == private and "does not permit" in failed["reason"], out
    (manifest,) = team.manifests()
    assert manifest["job"]["id"] == plain and manifest["status"] == "complete"
    assert manifest["settings"]["ca_bundle"] == str(Path(ca_file).resolve())
    assert "1 failed job queued again" in team.run("queue", "retry-failed").stdout
    finish(team.worker("w1", "--exit-when-idle", "2", "--ca-bundle", ca_file,
                       "--allow-private"))
    assert {m["job"]["id"] for m in team.manifests()} == {plain, private}
    assert team.status()["totals"]["failed"] == 0
    code, report = team.verify()
    assert code == 0, report


def test_what_a_job_cannot_carry_is_refused_when_queued(tmp_path: Path,
                                                        redis_server: RedisServer,
                                                        ca_file: str) -> None:
    team = Team(tmp_path, redis_server.url)
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n")
    url = "http://127.0.0.1:9/a.html"
    for options, code, says in [
            (("--cookies", str(cookies)), 2, "--cookies names a file on this machine"),
            (("--ca-bundle", ca_file), 2, "custody worker --ca-bundle"),
            (("--user-agent", "a\nb"), 2, "--user-agent is one line of at most 1000 "
                                            "characters, without control characters")]:
        done = team.run("archive", "--queue", team.queue, *options, url, check=False)
        assert done.returncode == code, (options, done.stderr)
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("custody: error: ") and says in line, (options, line)
    for options in (("--delay", "100000"), ("--concurrency", "0"), ("--depth", "101")):
        done = team.run("archive", "--queue", team.queue, *options, url, check=False)
        assert done.returncode == 2 and f"Invalid value for '{options[0]}'" in done.stderr
    # the workers' CA bundle from the environment is this machine's: left out, not refused
    done = team.run("archive", "--queue", team.queue, "--json", url,
                    CUSTODY_CA_BUNDLE=ca_file)
    (job,) = json.loads(done.stdout)["jobs"]
    client = connect(redis_server.url)
    assert json.loads(client.hget(names.job(job["id"]), "envelope"))["settings"][
        "ca_bundle"] is None
    # a key whose line leaves out custody-job: refused here, before anything is queued
    signers = team.root / "allowed_signers"
    signers.write_text(signers.read_text().replace(sshsig.ARCHIVIST_NAMESPACES,
                                                   "custody-manifest,custody-checkpoint"))
    done = team.run("archive", "--queue", team.queue, url, check=False)
    assert done.returncode == 4, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "leave out custody-job" in line and "workers would refuse" in line


@pytest.mark.parametrize("what", ["no log", "rotated"])
def test_a_key_must_be_admitted_and_current(tmp_path: Path, redis_server: RedisServer,
                                            what: str) -> None:
    """The key's admission comes from the custody log, its validity from allowed_signers
    now: an archive without a log admits no job, and a key retired by `key rotate` signs
    none that is still waiting."""
    team = Team(tmp_path, redis_server.url)
    gatekeeper = Gatekeeper(Archive.open(team.root), Permits())
    client = connect(redis_server.url)
    job_id, _ = legit(team, client, "http://127.0.0.1:9/a.html")
    fields = client.hgetall(names.job(job_id))
    assert gatekeeper.accept(job_id, fields).principal == COORDINATOR
    if what == "no log":
        (team.root / "manifests" / "ledger" / "log.jsonl").unlink()
        says = "no custody log"
    else:
        team.run("key", "rotate")
        says = "outside its validity"
    from custody.core.errors import JobRefused

    with pytest.raises(JobRefused, match=says):
        Gatekeeper(Archive.open(team.root), Permits()).accept(job_id, fields)


def test_a_queue_whose_own_keys_were_overwritten_is_one_line(tmp_path: Path,
                                                             redis_server: RedisServer) -> None:
    """Not a job but the queue's own bookkeeping written over (a count that is no longer
    a hash): the worker cannot keep the queue's books, and says so in one line (exit 9)
    rather than with a traceback."""
    team = Team(tmp_path, redis_server.url)
    team.add_worker_key("w1")
    team.enqueue("http://127.0.0.1:9/a.html")
    attacker = Attacker(redis_server.url, team)
    attacker.raw.delete(names.count("pending"))
    attacker.raw.set(names.count("pending"), "not a hash")
    worker = team.worker("w1", "--exit-when-idle", "2")
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 9, out
    assert "Traceback" not in out
    (line,) = [line for line in out.splitlines() if "error" in line]
    assert line.startswith("custody: error: redis://127.0.0.1:") and "WRONGTYPE" in line


def test_a_seal_lock_no_worker_wrote_is_one_line_not_a_wait_for_ever(
        tmp_path: Path, redis_server: RedisServer) -> None:
    """custody's seal lock always names its holder and expires; one set by hand (no
    holder, no expiry) was waited for silently, for ever. The worker says what it is, and
    how to remove it, in one line (exit 9)."""
    pages = {"/a.html": Page(b"<html><body>a</body></html>", "text/html")}
    with SiteServer(pages) as site:
        team = Team(tmp_path, redis_server.url)
        team.add_worker_key("w1")
        team.enqueue(site.url + "/a.html")
        attacker = Attacker(redis_server.url, team)
        attacker.raw.set(names.SEAL_LOCK, "garbage-forever")
        worker = team.worker("w1", "--exit-when-idle", "2")
        out, _ = worker.communicate(timeout=120)
    assert worker.returncode == 9, out
    assert "Traceback" not in out
    (line,) = [line for line in out.splitlines() if "error" in line]
    assert names.SEAL_LOCK in line and "DEL" in line, line
    code, report = team.verify()
    assert code == 0, report


def test_a_redis_that_lost_its_data_is_said_to_have_lost_it(
        tmp_path: Path, redis_server: RedisServer) -> None:
    """A Redis restarted without its data (no appendonly): the worker's next read finds
    no consumer group. It says the queue is gone, not that something else wrote its keys."""
    import time

    team = Team(tmp_path, redis_server.url)
    team.add_worker_key("w1")
    team.enqueue("http://127.0.0.1:9/a.html")
    worker = team.worker("w1", "--exit-when-idle", "30")
    time.sleep(3)
    Attacker(redis_server.url, team).raw.flushall()
    out, _ = worker.communicate(timeout=120)
    assert worker.returncode == 9, out
    (line,) = [line for line in out.splitlines() if "error" in line]
    assert "no longer holds the queue" in line and "appendonly" in line, line
    assert "something other than custody" not in line


def test_a_done_job_set_back_to_pending_is_not_captured_again(
        tmp_path: Path, redis_server: RedisServer) -> None:
    """Someone with the Redis password sets a done job back to pending and puts it on the
    stream again: its envelope is still validly signed, but the worker finds the job
    done in this archive and fetches nothing; a second manifest of one job, however it
    came about, is named by verify."""
    host = Host("127.0.0.1")
    try:
        team = Team(tmp_path, redis_server.url)
        team.add_worker_key("w1")
        (job,) = team.enqueue(*host.urls(2))["jobs"]
        finish(team.worker("w1", "--exit-when-idle", "2"))
        (sealed,) = team.manifests()
        fetched = len(host.log)
        attacker = Attacker(redis_server.url, team)
        attacker.raw.hset(names.job(job["id"]), "state", "pending")
        attacker.message({"job": job["id"]})
        (out,) = finish(team.worker("w1", "--exit-when-idle", "2"))
        assert "was done already" in out and len(team.manifests()) == 1, out
        assert len(host.log) == fetched  # nothing fetched again
        code, report = team.verify()
        assert code == 0 and not any("sealed more than once" in n for n in report["notes"])
        # the same job sealed twice (as a worker without this guard would): named
        from custody.capture import run as capture
        from custody.capture.settings import Settings

        again = capture.start(Archive.open(team.root), job["urls"],
                              key=keyfile.load_key(tmp_path / "keys" / "w1"),
                              settings=Settings(), job=job["id"])
        code, report = team.verify()
        assert code == 0, report
        (note,) = [n for n in report["notes"] if "sealed more than once" in n]
        assert job["id"] in note and sealed["capture_id"] in note and again.capture_id in note
    finally:
        host.close()
