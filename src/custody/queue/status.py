"""What anyone may ask of the queue (`custody queue status`): URLs pending, in flight,
done and failed, by host; the live workers; why each failed job failed; the messages
dropped because they named no job.

Everything here is read as anyone who reaches Redis may have written it: a count that is
not a number is none, a key of another type is empty, text that is not UTF-8 is shown
with U+FFFD, so that looking at a queue someone has tampered with still works.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import names

REFUSED_KEPT = 1000  # the newest reasons for dropped messages that are kept and shown


def status(client: Any) -> dict[str, Any]:
    """URLs pending, in flight, done and failed, by host; the live workers; the failed
    jobs' reasons, and the messages dropped because they named no job. Read as
    anyone may have written it: a value of the wrong kind is shown as none."""
    import redis

    pipe = client.pipeline(transaction=False)
    pipe.smembers(names.HOSTS)
    for state in names.STATES:
        pipe.hgetall(names.count(state))
    pipe.smembers(names.FAILED)
    pipe.lrange(names.REFUSED, 0, REFUSED_KEPT - 1)
    answers = pipe.execute(raise_on_error=False)
    answers = [{} if isinstance(a, redis.ResponseError) else a for a in answers]
    hosts, counts, failed = answers[0], answers[1:5], answers[5]
    by_host = {_text(host): {state: _int(counts[i].get(host))
                             for i, state in enumerate(names.STATES)}
               for host in sorted(hosts)}
    workers = {}
    for key in client.scan_iter(match=names.worker("*"), count=1000):
        value = _json(_quietly(client.get, key))
        if isinstance(value, dict):
            workers[_text(key.split(":", 2)[2])] = {k: _text(v) if isinstance(v, str)
                                                   else v for k, v in value.items()}
    reasons = []
    for job_id in sorted(failed)[:1000]:
        data = _quietly(client.hmget, names.job(job_id),
                        ["host", "envelope", "reason", "worker", "seeds"]) or [None] * 5
        signed = _json(data[1])
        # a job queued before jobs were signed kept its URLs as "seeds"
        urls = signed.get("urls") if isinstance(signed, dict) else _json(data[4])
        reasons.append({"job": _text(job_id), "host": _text(data[0]),
                        "urls": [_text(u) for u in urls if isinstance(u, str)]
                        if isinstance(urls, list) else [],
                        "reason": _text(data[2]), "worker": _text(data[3])})
    dropped = [note for note in (_json(n) for n in answers[6] or [])
               if isinstance(note, dict)]
    totals = {state: sum(h[state] for h in by_host.values()) for state in names.STATES}
    return {"format": "custody-queue-status/1", "totals": totals, "hosts": by_host,
            "workers": workers, "failed_jobs": reasons,
            "dropped_messages": [{k: _text(str(v)) for k, v in note.items()}
                                 for note in dropped]}


def _quietly(call: Callable[..., Any], *args: Any) -> Any:
    """A read of a key anyone may have written: None when it is of another type."""
    import redis

    try:
        return call(*args)
    except redis.ResponseError:
        return None


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _json(value: object) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


def _text(value: object) -> str:
    if value is None:
        return ""
    return printable(str(value))


def printable(text: str) -> str:
    """Text fit to print on a terminal: what was not UTF-8 in Redis shown as U+FFFD, and
    control characters (a line break, an escape sequence that would rewrite the screen)
    shown escaped."""
    try:
        text = text.encode("utf-8", errors="surrogateescape").decode("utf-8",
                                                                     errors="replace")
    except UnicodeEncodeError:  # a surrogate that escaped no byte (a JSON "\ud800")
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
