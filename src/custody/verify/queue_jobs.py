"""Each queue job is sealed once: a worker that takes a job over from one that died finds
the capture it left (queue/worker.py), and a paused worker is fenced off its seal. Two
sealed manifests naming one job mean the queue's state was written by something other
than custody's workers (a job marked pending again after it was done) and a worker
captured it a second time. Both captures are signed evidence and each verifies on its
own, so verify names them in a note rather than failing either."""

from __future__ import annotations

from collections.abc import Iterable

from ..seal import manifest
from .report import Report
from .scratch import Scratch

SHOWN = 10  # jobs named in full


def job_of(sealed: manifest.Sealed) -> list[tuple[str, str]]:
    """(job id, capture id) for a capture a queue worker made; nothing for any other."""
    job = sealed.head.get("job")
    if isinstance(job, dict) and isinstance(job.get("id"), str) and job["id"]:
        return [(job["id"], sealed.capture_id)]
    return []


def keep(names: Scratch, pairs: Iterable[tuple[str, str]]) -> None:
    names.conn.executemany("INSERT OR IGNORE INTO jobs VALUES (?, ?)", pairs)


def note_twice(names: Scratch, report: Report) -> None:
    twice = names.conn.execute(
        "SELECT job, group_concat(capture, ', ') FROM (SELECT job, capture FROM jobs "
        "WHERE job IN (SELECT job FROM jobs GROUP BY job HAVING count(*) > 1) "
        "ORDER BY job, capture) GROUP BY job ORDER BY job").fetchall()
    for job, captures in twice[:SHOWN]:
        report.notes.append(f"queue job {job} was sealed more than once: captures "
                            f"{captures}. A worker captured it again after it was done: "
                            "the queue's state in Redis was written by something other "
                            "than custody's workers. Each capture is sealed evidence of "
                            "its own fetch.")
    if len(twice) > SHOWN:
        report.notes.append(f"and {len(twice) - SHOWN} more queue jobs sealed more than once")
