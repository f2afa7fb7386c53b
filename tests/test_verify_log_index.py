"""What verify says of the custody log's index in custody.db, of a log it cannot read,
and of the very first capture's seal cut short before the ledger existed."""

from __future__ import annotations

import shutil
import signal
import sqlite3
from pathlib import Path
from typing import Any

from conftest import Custody, capture_id_of
from custody.testing.site import SiteServer
from test_crash import run_custody


def failed(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if c["outcome"] == "failed"]


def test_an_index_row_moved_in_custody_db_fails_and_one_missing_is_a_lag(
        sealed: Custody, tmp_path: Path) -> None:
    keyless = Custody(sealed.root, tmp_path / "no-key")  # logs no `verified` event of its own
    with sqlite3.connect(sealed.root / "custody.db") as conn:
        rows = conn.execute("SELECT seq, offset FROM log_events ORDER BY seq").fetchall()
        assert len(rows) >= 2
        conn.execute("UPDATE log_events SET offset = offset + 1 WHERE seq = ?", (rows[-1][0],))
    code, report = keyless.verify()
    assert code == 1
    (bad,) = failed(report)
    assert bad["subject"] == "log_events", bad
    assert f"event {rows[-1][0]} is indexed at {rows[-1][1] + 1}, not where the log holds" \
        in bad["detail"], bad
    with sqlite3.connect(sealed.root / "custody.db") as conn:  # the last row gone: the index
        conn.execute("DELETE FROM log_events WHERE seq = ?", (rows[-1][0],))  # lags the log
    code, report = keyless.verify()
    assert code == 0, failed(report)


def test_a_custody_log_that_cannot_be_read_fails(sealed: Custody) -> None:
    log = sealed.root / "manifests" / "ledger" / "log.jsonl"
    log.unlink()
    log.mkdir()  # a folder in its place
    code, report = sealed.verify()
    assert code == 1
    assert any(c["detail"] == "unreadable: Is a directory" for c in failed(report)), \
        failed(report)


def test_the_first_captures_seal_cut_before_its_ledger_is_a_note(custody: Custody,
                                                                  site: SiteServer) -> None:
    crashed = run_custody(custody, "archive", site.url + "/en.html", fault="seal.manifest")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert not (custody.root / "manifests" / "ledger" / "leaves").exists()
    code, report = custody.verify()
    assert code == 0, failed(report)
    assert any("the ledger is not written yet" in n for n in report["notes"]), report["notes"]
    custody.ok("reindex")
    code, report = custody.verify()
    assert code == 0 and not report["notes"], report
    assert capture_id_of(custody)


def test_the_ledger_gone_with_captures_sealed_fails(sealed: Custody) -> None:
    shutil.rmtree(sealed.root / "manifests" / "ledger")
    code, report = sealed.verify()
    assert code == 1
    assert any(c["detail"] == "the ledger is missing" for c in failed(report)), failed(report)


def test_what_the_index_keeps_of_an_event_is_held_to_the_log(sealed: Custody,
                                                             tmp_path: Path) -> None:
    """A report finds the verifications since a capture, and a capture's events, through
    these rows: a failed verification's time moved before the capture, or a capture's
    event unlinked from it, would hide it from the report while the log is intact."""
    keyless = Custody(sealed.root, tmp_path / "no-key")
    cid = capture_id_of(sealed)
    with sqlite3.connect(sealed.root / "custody.db") as conn:
        seq, at = conn.execute("SELECT seq, at FROM log_events ORDER BY seq DESC LIMIT 1"
                               ).fetchone()
        linked = conn.execute("SELECT seq FROM log_event_captures WHERE capture_id = ? "
                              "ORDER BY seq LIMIT 1", [cid]).fetchone()[0]
        conn.execute("UPDATE log_events SET at = '2000-01-01T00:00:00Z' WHERE seq = ?", [seq])
        conn.execute("DELETE FROM log_event_captures WHERE seq = ? AND capture_id = ?",
                     [linked, cid])
        conn.execute("INSERT INTO log_event_captures VALUES ('20000101T000000Z-00000000', ?)",
                     [seq])
    code, report = keyless.verify()
    assert code == 1
    # (the capture's own check misses its `captured` event, which it finds by these rows)
    assert [c["subject"] for c in failed(report)] == [cid, "log_events"], failed(report)
    bad = failed(report)[1]
    assert f"event {seq}'s at is '2000-01-01T00:00:00Z' in custody.db, the log says " \
        f"'{at}'" in bad["detail"], bad
    assert f"event {linked} is linked to the captures without {cid}" in bad["detail"], bad
    assert "with 20000101T000000Z-00000000, which it does not name" in bad["detail"], bad
    sealed.ok("reindex")
    code, report = keyless.verify()
    assert code == 0, failed(report)
