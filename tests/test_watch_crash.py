"""kill -9 of `custody watch run` at its durable steps (and inside its capture's seal):
the next run finishes what was cut short. No watch is lost, no interval runs twice,
nothing is sealed twice, the change is logged once, and each receiver gets it once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conftest import Custody
from custody.testing.changing import ChangingSite
from custody.testing.receivers import WebhookReceiver
from test_watch import changes, log_events, next_interval, run_once

CUSTODY = str(Path(sys.executable).with_name("custody"))


def killed_run(custody: Custody, fault: str) -> None:
    env = {**os.environ, "CUSTODY_ROOT": str(custody.root), "CUSTODY_KEY": str(custody.key),
           "CUSTODY_TEST_FAULT": fault}
    done = subprocess.run([CUSTODY, "watch", "run", "--once"], env=env, capture_output=True,
                          timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def ended(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """What the process wrote to stderr once it has ended; one that has not ended after
    ``timeout`` seconds fails the test with its threads' stacks (faulthandler, on SIGABRT),
    or, if it ended and something it started still holds its pipes, says so."""
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        exited = proc.poll() is not None
        if not exited:
            proc.send_signal(signal.SIGABRT)
        try:
            err = proc.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            err = proc.communicate()[1]
        what = "ended, but a process it started holds its stderr" if exited else "hung"
        pytest.fail(f"not done {timeout:.0f} s after SIGTERM ({what}):\n{err.decode()}")


def jobs(root: Path) -> Counter[str]:
    found: Counter[str] = Counter()
    for path in (root / "manifests").glob("*.json"):
        job = json.loads(path.read_text()).get("job")
        if job:
            found[job["id"]] += 1
    return found


@pytest.mark.parametrize("fault", [
    "watch.claim",  # claimed, nothing captured: the interval's run is made again
    "seal.manifest",  # the capture sealed, the rest of its seal cut short: completed
    "seal.database",  # sealed and logged, not indexed: indexed, then compared
    "log.event@2",  # the change's event appended, its head not signed: found, not logged again
    "watch.done",  # the run recorded, not notified: notified
    "watch.sending",  # about to send: sent, once
    "watch.delivered",  # sent and recorded: never sent again
])
def test_killed_run_is_finished_once(custody: Custody, fault: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(custody.root.parent / "config"))
    with ChangingSite() as site, WebhookReceiver() as hook:
        custody.ok("watch", "target", "add", "hook", f"hmac://127.0.0.1:{hook.port}/in")
        custody.ok("watch", "add", site.url + "/statement", "--every", "1s", "--notify", "hook",
                   "--ignore", ".live-feed")
        run_once(custody)
        site.phase = "edited"
        next_interval()
        killed_run(custody, fault)
        run_once(custody)  # (the run cut short is finished, or only its notification sent)

        assert all(n == 1 for n in jobs(custody.root).values()), jobs(custody.root)
        found = changes(custody)
        assert [c["kinds"] for c in found] == [["text"]], found
        assert len(log_events(custody.root, "watch-changed")) == 1
        posts = [json.loads(p.body) for p in hook.posts]
        assert [[c["seq"] for c in p["changes"]] for p in posts] == [[found[0]["seq"]]]
        code, report = custody.verify()
        assert code in (0, 6), [c for c in report["checks"] if c["outcome"] == "failed"]
        left = list((custody.root / ".custody" / "jobs").glob("*.json")) \
            if (custody.root / ".custody" / "jobs").exists() else []
        assert left == []


def test_no_watch_is_lost_when_killed_while_claiming_the_first_run(custody: Custody) -> None:
    with ChangingSite() as site:
        custody.ok("watch", "add", site.url + "/statement", "--every", "1h")
        killed_run(custody, "watch.claim")
        outcomes: list[dict[str, Any]] = run_once(custody)
        assert [o["status"] for o in outcomes] == ["baseline"]
        assert run_once(custody) == []
        assert site.requests.count("/statement") == 1


def test_the_scheduler_runs_until_sigterm(custody: Custody) -> None:
    """`custody watch run`: the loop captures each interval, and SIGTERM ends it cleanly
    with no run left claimed."""
    with ChangingSite() as site:
        custody.ok("watch", "add", site.url + "/statement", "--every", "1s", "--ignore",
                   ".live-feed")
        env = {**os.environ, "CUSTODY_ROOT": str(custody.root),
               "CUSTODY_KEY": str(custody.key), "PYTHONFAULTHANDLER": "1"}
        proc = subprocess.Popen([CUSTODY, "watch", "run", "--host-gap", "0"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while site.requests.count("/statement") < 3 and time.monotonic() < deadline:
                time.sleep(0.2)
            site.phase = "edited"
            while not changes(custody) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            err = ended(proc, 60)
        assert proc.returncode == 0, err.decode()
        assert b"scheduler started" in err and b"text" in err
        assert [c["kinds"] for c in changes(custody)] == [["text"]]
        listed = json.loads(custody.ok("watch", "list", "--json").stdout)["watches"]
        assert listed[0]["last_outcome"] in ("same", "changed")
        assert not list((custody.root / ".custody" / "jobs").glob("*.json"))
