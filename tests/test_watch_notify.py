"""A target that fails is tried again on the next run, with the same delivery id, until
it takes the change, and then never again; a watch with --case puts each capture in it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import Custody
from custody.testing.changing import ChangingSite
from custody.testing.receivers import WebhookReceiver
from test_watch import changes, next_interval, run_once


def test_a_failed_delivery_is_retried_until_taken(custody: Custody) -> None:
    with ChangingSite() as site, WebhookReceiver() as hook:
        custody.ok("watch", "target", "add", "hook", f"hmac://127.0.0.1:{hook.port}/in")
        custody.ok("watch", "add", site.url + "/statement", "--every", "1s", "--notify", "hook",
                   "--ignore", ".live-feed")
        run_once(custody)
        hook.status = 500
        site.phase = "edited"
        next_interval()
        result = json.loads(custody.ok("watch", "run", "--once", "--json").stdout)
        assert [n["sent"] for n in result["notified"]] == [False]
        hook.status = 200
        next_interval()
        result = json.loads(custody.ok("watch", "run", "--once", "--json").stdout)
        assert [n["sent"] for n in result["notified"]] == [True]
        next_interval()
        assert json.loads(custody.ok("watch", "run", "--once", "--json").stdout)[
            "notified"] == []
    (change,) = changes(custody)
    assert len(hook.posts) == 2
    first, second = (json.loads(p.body) for p in hook.posts)
    assert first["delivery"] == second["delivery"]
    assert [c["seq"] for c in second["changes"]] == [change["seq"]]


def test_each_capture_goes_into_the_case_and_its_package(custody: Custody,
                                                         tmp_path: Path) -> None:
    custody.ok("case", "create", "Convoy")
    with ChangingSite() as site:
        custody.ok("watch", "add", site.url + "/statement", "--every", "1s", "--case", "Convoy",
                   "--ignore", ".live-feed")
        captured = [o["capture_id"] for o in run_once(custody)]
        site.phase = "edited"
        next_interval()
        captured += [o["capture_id"] for o in run_once(custody)]
    shown = json.loads(custody.ok("case", "show", "Convoy", "--json").stdout)
    assert sorted(c["capture_id"] for c in shown["captures"]) == sorted(captured)
    listed = json.loads(custody.ok("watch", "list", "--case", "Convoy", "--json").stdout)
    assert len(listed["watches"]) == 1
    # the case's package carries the change's signed event, as the log holds it
    custody.ok("case", "export", "Convoy", "-o", str(tmp_path / "package"))
    lines = (tmp_path / "package" / "events" / "events.jsonl").read_text().splitlines()
    (event,) = [json.loads(line) for line in lines if '"watch-changed"' in line]
    assert event["details"]["after"]["capture_id"] == captured[1]
    assert "from " + captured[0] in (tmp_path / "package" / "report.html").read_text()
    checked = subprocess.run([sys.executable, "check_events.py"], cwd=tmp_path / "package",
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
