"""Bad input to `custody watch` gets one line on stderr and a documented exit code, and
writes nothing; pause, resume and remove are signed events the scheduler obeys."""

from __future__ import annotations

import json

import pytest

from conftest import Custody
from custody.core.archive import Archive
from custody.testing.changing import ChangingSite
from custody.watch import scheduler_lock
from test_watch import log_events, run_once


@pytest.mark.parametrize(("args", "code", "says"), [
    (("add", "http://127.0.0.1:9/x", "--every", "6x"), 2, "not an interval"),
    (("add", "http://127.0.0.1:9/x", "--every", "0s"), 2, "an interval from"),
    (("add", "ftp://example.org/x"), 2, "ftp://example.org/x"),
    (("add", "http://127.0.0.1:9/x", "--notify", "nobody"), 2, "no notification target"),
    (("add", "http://127.0.0.1:9/x", "--ignore", "div[["), 2, "not a CSS selector"),
    (("add", "http://127.0.0.1:9/x", "--case", "No such case"), 8, "no such case"),
    (("remove", "w-000000000000"), 8, "no such watch"),
    (("pause", "http://127.0.0.1:9/never-watched"), 8, "no such watch"),
    (("changes", "--since", "last tuesday"), 2, "--since takes"),
    (("target", "add", "bad name", "json://127.0.0.1/x"), 2, "a target's name"),
    (("target", "add", "x", "nonsense://x"), 2, "not a notification URL"),
    (("target", "remove", "x"), 8, "no such notification target"),
    (("run", "--once", "--behaviors", "autoscroll,dance"), 2, "--behaviors 'dance'"),
    (("run", "--once", "--behavior-timeout", "-1"), 2, "--behavior-timeout"),
])
def test_bad_input(custody: Custody, args: tuple[str, ...], code: int, says: str) -> None:
    result = custody("watch", *args)
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("custody: error: ") and says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert log_events(custody.root, "watch-added") == []


def test_one_scheduler_at_a_time(custody: Custody) -> None:
    with scheduler_lock(Archive.open(custody.root)):
        result = custody("watch", "run", "--once")
    assert result.exit_code == 3
    assert "a watch scheduler runs on this archive already" in result.stderr


def test_pause_resume_remove(custody: Custody) -> None:
    with ChangingSite() as site:
        url = site.url + "/statement"
        watch = json.loads(custody.ok("watch", "add", url, "--every", "1s",
                                      "--json").stdout)["watches"][0]
        custody.ok("watch", "pause", url, "--reason", "holiday")
        assert run_once(custody) == []
        assert custody("watch", "pause", watch["id"]).exit_code == 2  # paused already
        custody.ok("watch", "resume", watch["id"])
        assert [o["status"] for o in run_once(custody)] == ["baseline"]
        custody.ok("watch", "remove", watch["id"], "--reason", "done")
        assert custody("watch", "resume", watch["id"]).exit_code == 2
        listed = json.loads(custody.ok("watch", "list", "--all", "--json").stdout)["watches"]
        assert [(w["id"], w["status"], w["reason"]) for w in listed] == \
            [(watch["id"], "removed", "done")]
        assert run_once(custody) == []
        # a URL may be watched again once its watch is removed
        custody.ok("watch", "add", url, "--every", "1h")
    kinds = [e["event"] for e in json.loads(
        "[" + ",".join(line for line in (custody.root / "manifests" / "ledger" /
                                         "log.jsonl").read_text().splitlines()) + "]")
        if e["event"].startswith("watch-")]
    assert kinds == ["watch-added", "watch-paused", "watch-resumed", "watch-removed",
                     "watch-added"]


def test_a_database_from_before_the_watches(custody: Custody) -> None:
    """custody.db made before the watches' tables still serves cases; watch commands
    say what to do; the next command that writes adds the tables."""
    import sqlite3

    custody.ok("case", "create", "Before")
    with sqlite3.connect(custody.root / "custody.db") as conn:
        conn.execute("DROP TABLE watches")
        conn.execute("DROP TABLE watch_changes")
    assert "Before" in custody.ok("case", "list").stdout
    result = custody("watch", "list")
    assert result.exit_code == 3 and "run `custody reindex`" in result.stderr
    custody.ok("watch", "add", "http://127.0.0.1:9/x", "--every", "1h")
    assert "http://127.0.0.1:9/x" in custody.ok("watch", "list").stdout
    assert custody.verify()[0] == 0


def test_a_database_from_before_screenshot_thresholds(custody: Custody) -> None:
    """A watches table made before the column: verify still holds it to the log (it
    holds no threshold, as no event before gave one); a command that writes adds it."""
    import sqlite3

    custody.ok("watch", "add", "http://127.0.0.1:9/x", "--every", "1h")
    with sqlite3.connect(custody.root / "custody.db") as conn:
        conn.execute("ALTER TABLE watches DROP COLUMN screenshot_permille")
    assert custody("watch", "list").exit_code == 3
    assert custody.verify()[0] == 0
    custody.ok("watch", "add", "http://127.0.0.1:9/y", "--every", "1h", "--browser",
               "--screenshot-threshold", "3%")
    listed = json.loads(custody.ok("watch", "list", "--json").stdout)["watches"]
    assert [w["screenshot_permille"] for w in listed] == [None, 30]
    with sqlite3.connect(custody.root / "custody.db") as conn:
        conn.execute("UPDATE watches SET screenshot_permille = 300 WHERE url LIKE '%/y'")
    code, report = custody.verify()
    assert code == 1 and "(edited)" in json.dumps(report)


def test_the_scheduler_runs_a_watch_as_its_signed_event_says(custody: Custody) -> None:
    """custody.db is derived, and anyone may edit it: what a watch captures, how often
    and what it ignores come from its signed watch-added event, and whether it runs from
    the signed event that last set its status; a row that names an event not its own is
    not run, and said."""
    import sqlite3

    from custody.testing.changing import ChangingSite
    from test_watch import next_interval, run_once

    with ChangingSite() as site:
        url = site.url + "/statement"
        custody.ok("watch", "add", url, "--every", "1s", "--ignore", ".live-feed")
        with sqlite3.connect(custody.root / "custody.db") as conn:
            conn.execute("UPDATE watches SET url = 'http://127.0.0.1:9/elsewhere', "
                         "every = 86400, ignore = '[]'")
        (first,) = run_once(custody)
        assert first["url"] == url and first["status"] == "baseline"
        next_interval()
        (second,) = run_once(custody)  # due again after 1 s: the signed interval
        assert second["status"] == "same"  # .live-feed still ignored
        with sqlite3.connect(custody.root / "custody.db") as conn:  # paused, in the row
            conn.execute("UPDATE watches SET status = 'paused'")
        next_interval()
        assert [o["status"] for o in run_once(custody)] == ["same"]  # runs: as signed
        custody.ok("reindex")
        custody.ok("watch", "pause", first["watch_id"])
        with sqlite3.connect(custody.root / "custody.db") as conn:  # active, in the row
            conn.execute("UPDATE watches SET status = 'active'")
        next_interval()
        assert run_once(custody) == []  # paused, as signed
        custody.ok("reindex")
        custody.ok("watch", "resume", first["watch_id"])
        with sqlite3.connect(custody.root / "custody.db") as conn:
            conn.execute("UPDATE watches SET added_seq = 1")
        next_interval()
        result = custody("watch", "run", "--once", "--json")
    assert result.exit_code == 5
    (astray,) = json.loads(result.stdout)["outcomes"]
    assert astray["status"] == "failed" and "not run" in astray["error"]
    assert custody.verify()[0] == 1


def test_a_working_state_wound_back_records_no_change_again(
        custody: Custody, monkeypatch: pytest.MonkeyPatch) -> None:
    """The working state names the capture a run is compared with; wound back to before
    the watch's last change, the run is compared with that change's capture instead
    (no change recorded twice); and verify fails a change the log records between a
    capture older than the one before it and a later one."""
    import hashlib
    import sqlite3

    from custody.annotate import Signer
    from custody.annotate.recording import record
    from custody.cli.common import archivist
    from custody.core.archive import Archive
    from custody.testing.changing import ChangingSite
    from test_watch import next_interval, run_once

    with ChangingSite() as site:
        url = site.url + "/statement"
        custody.ok("watch", "add", url, "--every", "1s", "--ignore", ".live-feed")
        (first,) = run_once(custody)
        site.phase = "edited"
        next_interval()
        (second,) = run_once(custody)
        assert second["status"] == "changed"
        with sqlite3.connect(custody.root / ".custody" / "watch" / "state.db") as state:
            state.execute("UPDATE schedule SET last_capture = ?, text_capture = ?",
                          [first["capture_id"], first["capture_id"]])
        next_interval()
        (third,) = run_once(custody)
    assert third["status"] == "same"
    assert len(json.loads(custody.ok("watch", "changes", "--json").stdout)["changes"]) == 1
    monkeypatch.setenv("CUSTODY_KEY", str(custody.key))
    archive = Archive.open(custody.root)
    key, who = archivist(archive)
    old, new = first["capture_id"], third["capture_id"]
    sha = {c: hashlib.sha256((custody.root / "manifests" / f"{c}.json").read_bytes())
           .hexdigest() for c in (old, new)}
    record(archive, Signer(key, who), "watch-changed", {
        "watch_id": first["watch_id"], "url": url, "kinds": ["text"],
        "before": {"capture_id": old, "manifest_sha256": sha[old]},
        "after": {"capture_id": new, "manifest_sha256": sha[new]},
        "capture_ids": [old, new], "counts": {}, "diff_sha256": "0" * 64, "diff": ""})
    code, report = custody.verify()
    assert code == 1 and f"compares {old}, sealed before" in json.dumps(report)
