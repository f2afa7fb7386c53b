"""custody watch, end to end: a page whose statement is edited, then trimmed, then gone
(410), then redirected to a login, while its time, counter, ad and tokens change on every
request, raises exactly those four changes, each a signed event naming both captures,
with the right diff; each notification reaches the SMTP server and the webhook once,
the webhook's signed with a valid HMAC; verify and reindex hold the watch's tables to
the log."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Custody
from custody.testing.changing import ChangingSite
from custody.testing.receivers import SmtpReceiver, WebhookReceiver

INTERVAL = 1.0  # the watch's interval: a run is due again after it (and its jitter)


def run_once(custody: Custody, *extra: str) -> list[dict[str, Any]]:
    result = custody.ok("watch", "run", "--once", "--json", *extra)
    return list(json.loads(result.stdout)["outcomes"])


def next_interval() -> None:
    time.sleep(INTERVAL * 1.15)


def changes(custody: Custody) -> list[dict[str, Any]]:
    return list(json.loads(custody.ok("watch", "changes", "--json").stdout)["changes"])


def log_events(root: Path, kind: str) -> list[dict[str, Any]]:
    lines = (root / "manifests" / "ledger" / "log.jsonl").read_bytes().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == kind]


@pytest.fixture
def watched(custody: Custody) -> Any:
    with ChangingSite() as site, SmtpReceiver() as smtp, WebhookReceiver() as hook:
        custody.ok("watch", "target", "add", "desk", smtp.url)
        secret = custody.ok("watch", "target", "add", "hook",
                            f"hmac://127.0.0.1:{hook.port}/custody").stdout.split()[1]
        added = json.loads(custody.ok("watch", "add", site.url + "/statement", "--every", "1s",
                                      "--notify", "desk", "--notify", "hook",
                                      "--ignore", ".live-feed", "--json").stdout)
        yield site, smtp, hook, secret, added["watches"][0]


def test_four_changes_and_nothing_for_the_noise(custody: Custody, watched: Any) -> None:
    site, smtp, hook, secret, _ = watched
    outcomes = [run_once(custody)]
    assert [o["status"] for o in outcomes[0]] == ["baseline"]
    for phase in ("original", "original", "edited", "trimmed", "gone", "gone", "login"):
        site.phase = phase
        next_interval()
        outcomes.append(run_once(custody))
    statuses = [o[0]["status"] for o in outcomes]
    kinds = [o[0]["kinds"] for o in outcomes]
    assert statuses == ["baseline", "same", "same", "changed", "changed", "changed", "same",
                        "changed"], outcomes
    assert kinds[3:] == [["text"], ["text"], ["gone"], [], ["gone"]]

    found = changes(custody)
    assert [c["kinds"] for c in found] == [["gone"], ["gone"], ["text"], ["text"]]  # newest first
    login, gone, trimmed, edited = found
    assert edited["counts"] == {"added": 0, "removed": 0, "edited": 1}
    assert "- Officials said the crossing would stay open for three days." in edited["diff"]
    assert "+ Officials said the crossing would stay open for one day only." in edited["diff"]
    assert trimmed["counts"] == {"added": 0, "removed": 2, "edited": 0}
    assert "- The ministry thanks the volunteers who unloaded the trucks overnight." \
        in trimmed["diff"]
    assert "- Further deliveries are planned before the end of the month." in trimmed["diff"]
    for one in (edited, trimmed):  # nothing of the noise in the diffs
        assert not any(w in one["diff"] for w in ("views", "Updated", "Server time", "generated",
                                                  "flights", "Request id"))
    assert gone["reason"] == "answers 410 Gone"
    assert login["reason"].startswith("redirects to a login page (")
    assert "/login?next=/statement" in login["reason"]
    # each change names the two captures it is proved from, and they follow each other
    captures = [o[0]["capture_id"] for o in outcomes]
    for change, (before, after) in zip(
            [edited, trimmed, gone, login],
            [(captures[2], captures[3]), (captures[3], captures[4]), (captures[4], captures[5]),
             (captures[6], captures[7])], strict=True):
        assert (change["before_capture"], change["after_capture"]) == (before, after)
        for side in ("before", "after"):
            manifest = custody.root / "manifests" / f"{change[side + '_capture']}.json"
            assert change[side + "_manifest_sha256"] == \
                hashlib.sha256(manifest.read_bytes()).hexdigest()

    # the signed events are the evidence; the short diff they carry hashes to diff_sha256
    events = log_events(custody.root, "watch-changed")
    assert [e["details"]["after"]["capture_id"] for e in events] == \
        [c["after_capture"] for c in reversed(found)]
    for event in events:
        if "[..." not in event["details"]["diff"]:
            assert hashlib.sha256(event["details"]["diff"].encode()).hexdigest() == \
                event["details"]["diff_sha256"]
    assert [e["event"] for e in log_events(custody.root, "watch-added")] == ["watch-added"]

    # notified once per run with a change: four emails, four signed webhooks
    assert len(smtp.messages) == 4
    subjects = {m["Subject"] for m in smtp.messages}
    assert subjects == {"custody: 1 change on watched pages"}
    assert len(hook.posts) == 4
    seen = []
    for post in hook.posts:
        want = "sha256=" + hmac.new(secret.encode(), post.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(post.headers["X-Custody-Signature"], want)
        body = json.loads(post.body)
        assert body["format"] == "custody-watch-notification/1"
        assert body["delivery"] == post.headers["X-Custody-Delivery"]
        seen += [c["seq"] for c in body["changes"]]
    assert sorted(seen) == sorted(c["seq"] for c in found)

    # verify holds the watch's tables to the log; reindex rebuilds them the same
    code, report = custody.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
    annotations = [c for c in report["checks"] if c["subject"] == "annotations"]
    assert annotations and annotations[0]["outcome"] == "passed"
    before = _tables(custody.root)
    (custody.root / "custody.db").unlink()
    custody.ok("reindex")
    assert _tables(custody.root) == before


def _tables(root: Path) -> dict[str, list[Any]]:
    with sqlite3.connect(root / "custody.db") as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("watches", "watch_changes")}


def test_a_tampered_change_row_fails_verify(custody: Custody, watched: Any) -> None:
    site, *_ = watched
    run_once(custody)
    site.phase = "edited"
    next_interval()
    run_once(custody)
    with sqlite3.connect(custody.root / "custody.db") as conn:
        conn.execute("UPDATE watch_changes SET kinds = '[\"gone\"]'")
    code, report = custody.verify()
    failed = [c for c in report["checks"] if c["outcome"] == "failed"]
    assert code == 1 and any("watch_changes" in c["detail"] for c in failed), failed


def test_never_twice_in_an_interval(custody: Custody) -> None:
    with ChangingSite() as site:
        custody.ok("watch", "add", site.url + "/statement", "--every", "1h")
        assert [o["status"] for o in run_once(custody)] == ["baseline"]
        assert run_once(custody) == []
        assert site.requests.count("/statement") == 1


def test_missed_runs_are_caught_up_once(custody: Custody) -> None:
    with ChangingSite() as site:
        custody.ok("watch", "add", site.url + "/statement", "--every", "1s", "--ignore",
                   ".live-feed")
        run_once(custody)
        time.sleep(3.5)  # three intervals and more, missed
        assert [o["status"] for o in run_once(custody)] == ["same"]
        assert site.requests.count("/statement") == 2
