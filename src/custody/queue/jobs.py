"""Jobs on the queue: enqueued, taken, kept alive, finished, counted.

A job is a hash (``custody:job:ID``): its signed envelope (its URLs, all of one host,
and the settings to capture them with; custody.queue.envelope), its state (pending,
inflight, done, failed), the token of the worker that holds it, the capture it became.
A message on the stream delivers it. Each change of state is one Lua script, so that
the counts by host (URLs in each state) and the job's own state never disagree,
whoever dies when.

Everything read back from Redis is taken as anyone may have written it: a message is
checked (``accept``, custody.queue.acceptance) before the job is taken, and one that
fails is marked failed with its reason and acknowledged, so that no worker takes it
again; the scripts read a count that is not a number as none.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..core.errors import JobRefused
from . import envelope, names
from .acceptance import Accepted, host_of
from .status import REFUSED_KEPT, printable

# A job's count of URLs and its host, as the scripts below read them from its hash: a
# value that is not a sane count is read as none, rather than fail the script. (A count
# is taken away as `0 - urls`: Lua's `-urls` of none is "-0", which HINCRBY refuses.)
_SANE = """
local function count(value)
  local n = tonumber(value)
  if not n or n ~= n or n < 0 or n > 1000000 then return 0 end
  return math.floor(n)
end
local host = redis.call('HGET', KEYS[1], 'host') or ''
local urls = count(redis.call('HGET', KEYS[1], 'urls'))
"""

# KEYS: job, fence, count:pending, count:inflight.  ARGV: worker.
# The job taken by this worker with a new token; "done" when it is over already (its
# message was left unacknowledged by a worker that died after finishing it).
_TAKE = _SANE + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'gone', ''} end
if state == 'done' or state == 'failed' then return {state, ''} end
local token = redis.call('INCR', KEYS[2])
if state == 'pending' then
  redis.call('HINCRBY', KEYS[3], host, 0 - urls)
  redis.call('HINCRBY', KEYS[4], host, urls)
end
local before = redis.call('HGET', KEYS[1], 'worker') or ''
redis.call('HSET', KEYS[1], 'state', 'inflight', 'token', token, 'worker', ARGV[1],
           'taken_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
return {tostring(token), before}
"""

# KEYS: job, count:inflight, count:OUTCOME, failed, stream.  ARGV: token, outcome,
# capture id, reason, message id, group, finished_at.
_FINISH = _SANE + """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HINCRBY', KEYS[2], host, 0 - urls)
redis.call('HINCRBY', KEYS[3], host, urls)
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'capture_id', ARGV[3], 'reason', ARGV[4],
           'finished_at', ARGV[7])
if ARGV[2] == 'failed' then redis.call('SADD', KEYS[4], redis.call('HGET', KEYS[1], 'id'))
end
redis.call('XACK', KEYS[5], ARGV[6], ARGV[5])
redis.call('XDEL', KEYS[5], ARGV[5])
return 1
"""

# KEYS: job, count:failed, count:pending, failed, stream.  ARGV: id.
_RETRY = _SANE + """
if redis.call('HGET', KEYS[1], 'state') ~= 'failed' then
  redis.call('SREM', KEYS[4], ARGV[1]) return 0 end
redis.call('HINCRBY', KEYS[2], host, 0 - urls)
redis.call('HINCRBY', KEYS[3], host, urls)
redis.call('HSET', KEYS[1], 'state', 'pending', 'token', '', 'reason', '')
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('XADD', KEYS[5], '*', 'job', ARGV[1])
return 1
"""

# A worker's claim on its job's message, renewed only while the job's token is still its
# own: a worker that lost the job (paused past the visibility timeout) must not claim the
# message back from the one that took the job over, and take the job from it in turn.
# KEYS: job, stream.  ARGV: token, group, worker, message id.
_KEEP = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('XCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, ARGV[4], 'JUSTID')
return 1
"""

# A job a worker refused: failed, with its reason, its message acknowledged and removed.
# KEYS: job, count:pending, count:inflight, count:failed, failed, stream.  ARGV: reason,
# message id, group, finished_at, worker, id.
_REFUSE = _SANE + """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'pending' or state == 'inflight' then
  redis.call('HINCRBY', state == 'pending' and KEYS[2] or KEYS[3], host, 0 - urls)
  redis.call('HINCRBY', KEYS[4], host, urls)
end
if state ~= 'done' then
  redis.call('HSET', KEYS[1], 'state', 'failed', 'token', '', 'reason', ARGV[1],
             'worker', ARGV[5], 'finished_at', ARGV[4])
  redis.call('SADD', KEYS[5], ARGV[6])
end
redis.call('XACK', KEYS[6], ARGV[3], ARGV[2])
redis.call('XDEL', KEYS[6], ARGV[2])
return 1
"""
# KEYS: job, count:pending, hosts, stream.  ARGV: id, host, urls, envelope, signature,
# enqueued_at.  A job put once: nothing when its id is taken.
_PUT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'host', ARGV[2], 'urls', ARGV[3], 'envelope',
           ARGV[4], 'signature', ARGV[5], 'state', 'pending', 'token', '', 'worker', '',
           'attempts', 0, 'enqueued_at', ARGV[6])
redis.call('HINCRBY', KEYS[2], ARGV[2], tonumber(ARGV[3]))
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('XADD', KEYS[4], '*', 'job', ARGV[1])
return 1
"""
_SHOWN = 500  # characters of a reason kept


@dataclass(frozen=True)
class Job:
    id: str
    host: str
    urls: list[str]
    settings: dict[str, Any]


Accept = Callable[[str, dict[str, Any]], Accepted]


@dataclass(frozen=True)
class Taken:
    """A job as one worker holds it, checked: the message that delivered it, its token."""
    job: Accepted
    message: str
    token: str
    taken_over_from: str  # the worker that held it before ('' when none)


def batches(urls: Iterable[str], size: int) -> list[tuple[str, list[str]]]:
    """The URLs as jobs of at most ``size``, each of one host, the hosts taken in turn (a
    job of each, then the second of each...): workers that take the next jobs work on
    different hosts, rather than all wait on one host's politeness."""
    by_host: dict[str, list[list[str]]] = {}
    for url in urls:
        jobs = by_host.setdefault(host_of(url), [[]])
        if len(jobs[-1]) == size:
            jobs.append([])
        jobs[-1].append(url)
    out = []
    for turn in range(max((len(j) for j in by_host.values()), default=0)):
        out += [(host, jobs[turn]) for host, jobs in by_host.items() if turn < len(jobs)]
    return out


class Queue:
    def __init__(self, client: Any, patient: Any = None) -> None:
        self.client = client
        self.patient = patient or (lambda call: call())
        self._take = client.register_script(_TAKE)
        self._finish = client.register_script(_FINISH)
        self._retry = client.register_script(_RETRY)
        self._refuse = client.register_script(_REFUSE)
        self._keep = client.register_script(_KEEP)
        self._put = client.register_script(_PUT)

    def ensure_group(self) -> None:
        import redis

        try:
            self.client.xgroup_create(names.STREAM, names.GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # -- enqueue ---------------------------------------------------------------------------

    def enqueue(self, urls: list[str], settings: dict[str, Any], batch: int, *,
                key: Any) -> list[Job]:
        """One job per batch of URLs of one host, each signed with ``key`` (the
        archivist's); each host's politeness is what its jobs' settings say."""
        self.ensure_group()
        jobs = []
        for host, listed in batches(urls, batch):
            job = Job(uuid.uuid4().hex, host, listed, settings)
            self.put(job, key=key)
            jobs.append(job)
        return jobs

    def put(self, job: Job, *, key: Any) -> bool:
        """The job signed and queued, unless the queue holds a job of its id already
        (False): whoever chose the id may put it again after a crash, and it runs once."""
        self.ensure_group()
        signed = envelope.signed(job.id, job.urls, job.settings, key)
        return bool(self.patient(lambda: self._put(
            keys=[names.job(job.id), names.count("pending"), names.HOSTS, names.STREAM],
            args=[job.id, job.host, len(job.urls), signed.data.decode("utf-8"),
                  signed.signature, _now()])))

    def look(self, job_id: str) -> dict[str, str]:
        """A job's state, the capture it became and why it failed, as Redis holds them
        (anyone may have written them: the caller checks them against the archive); {}
        when the queue holds no such job."""
        values = self.patient(lambda: self.client.hmget(
            names.job(job_id), ["state", "capture_id", "reason", "worker"]))
        if values[0] is None:
            return {}
        return {k: str(v or "") for k, v in zip(("state", "capture_id", "reason", "worker"),
                                                 values, strict=True)}

    # -- a worker's side -------------------------------------------------------------------

    def next(self, worker: str, accept: Accept, *, visibility: float,
             block: float) -> Taken | None:
        """The next job for this worker, checked by ``accept`` before it is taken: first
        what it held before it last stopped (its own pending messages), then a job whose
        worker stopped beating for longer than ``visibility`` seconds, then a new one
        (waiting up to ``block`` seconds). None when there was none, or when the one
        there was is refused (marked failed, with the reason ``accept`` raised)."""
        mine = self.patient(lambda: self.client.xreadgroup(
            names.GROUP, worker, {names.STREAM: "0"}, count=1))
        for message, fields in _messages(mine):
            if fields:
                return self._take_message(worker, message, fields, accept)
            self.patient(lambda m=message: self.client.xack(names.STREAM, names.GROUP, m))
        claimed = self.patient(lambda: self.client.xautoclaim(
            names.STREAM, names.GROUP, worker, int(visibility * 1000), "0-0", count=1))
        for message, fields in claimed[1] if claimed else []:
            if fields:
                return self._take_message(worker, message, fields, accept)
        fresh = self.patient(lambda: self.client.xreadgroup(
            names.GROUP, worker, {names.STREAM: ">"}, count=1, block=int(block * 1000)))
        for message, fields in _messages(fresh):
            return self._take_message(worker, message, fields, accept)
        return None

    def _take_message(self, worker: str, message: str, fields: dict[str, str],
                      accept: Accept) -> Taken | None:
        import redis

        job_id = fields.get("job", "")
        if not envelope.is_job_id(job_id):
            self._drop(worker, message, job_id, "the message names no job custody made")
            return None
        key = names.job(job_id)
        try:
            data = self.patient(lambda: self.client.hgetall(key))
        except redis.ResponseError as exc:  # a key of another type, written by hand
            self._drop(worker, message, job_id, f"its entry is not a job ({exc})")
            return None
        if not data:
            self._drop(worker, message, job_id, "it names a job the queue does not hold")
            return None
        if data.get("state") in ("done", "failed"):  # over already: the message is spent
            self.patient(lambda: self._ack(message))
            return None
        try:
            job = accept(job_id, data)
        except JobRefused as exc:
            self.refuse(worker, message, job_id, str(exc))
            return None
        except Exception as exc:  # nothing in a job may end the worker: a flaw is its reason
            self.refuse(worker, message, job_id,
                        f"could not be checked ({type(exc).__name__}: {exc})")
            return None
        token, before = self.patient(lambda: self._take(
            keys=[key, names.JOB_FENCE, names.count("pending"), names.count("inflight")],
            args=[worker, _now()]))
        if token in ("done", "failed", "gone"):  # finished meanwhile by another worker
            self.patient(lambda: self._ack(message))
            return None
        return Taken(job, message, token, before if before != worker else "")

    def refuse(self, worker: str, message: str, job_id: str, reason: str) -> None:
        """The job failed with ``reason``, and its message gone: no worker takes it again
        (`custody queue retry-failed` queues it again)."""
        keys = [names.job(job_id), names.count("pending"), names.count("inflight"),
                names.count("failed"), names.FAILED, names.STREAM]
        args = [printable(f"refused: {reason}")[:_SHOWN], message, names.GROUP, _now(),
                worker, job_id]
        self.patient(lambda: self._refuse(keys=keys, args=args))

    def _drop(self, worker: str, message: str, job_id: object, reason: str) -> None:
        """A message that names no job the queue holds: removed, and why kept for
        `custody queue status`."""
        note = json.dumps({"message": message, "job": str(job_id)[:100], "worker": worker,
                           "reason": printable(reason)[:_SHOWN], "at": _now()})
        pipe = self.client.pipeline(transaction=True)
        pipe.lpush(names.REFUSED, note)
        pipe.ltrim(names.REFUSED, 0, REFUSED_KEPT - 1)
        pipe.xack(names.STREAM, names.GROUP, message)
        pipe.xdel(names.STREAM, message)
        self.patient(pipe.execute)
        say = getattr(self.patient, "say", None)  # a worker's voice (connection.Patient)
        if say is not None:
            say(f"message {message} dropped: {printable(reason)}")

    def _ack(self, message: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(names.STREAM, names.GROUP, message)
        pipe.xdel(names.STREAM, message)
        pipe.execute()

    def beat(self, worker: str, taken: Taken | None, ttl: float) -> bool:
        """Keep the worker's job its own: claim its message again (its idle time starts
        over) and say the worker is alive. False when another worker has the job now."""
        pipe = self.client.pipeline(transaction=False)
        pipe.set(names.worker(worker), json.dumps({
            "job": taken.job.id if taken else None,
            "host": taken.job.host if taken else None, "at": _now()}), px=int(ttl * 1000))
        if taken is not None:
            self._keep(keys=[names.job(taken.job.id), names.STREAM],
                       args=[taken.token, names.GROUP, worker, taken.message], client=pipe)
        answers = pipe.execute()
        return taken is None or answers[-1] == 1

    def holds(self, taken: Taken) -> bool:
        return bool(self.patient(lambda: self.client.hget(names.job(taken.job.id), "token"))
                    == taken.token)

    def finish(self, taken: Taken, outcome: str, *, capture_id: str = "",
               reason: str = "") -> bool:
        """Done or failed, counted and acknowledged; False when the job was no longer
        this worker's (another took it over), in which case nothing changes."""
        keys = [names.job(taken.job.id), names.count("inflight"), names.count(outcome),
                names.FAILED, names.STREAM]
        args = [taken.token, outcome, capture_id, reason[:500], taken.message, names.GROUP,
                _now()]
        return bool(self.patient(lambda: self._finish(keys=keys, args=args)))

    def leave(self, worker: str) -> None:
        self.patient(lambda: self.client.delete(names.worker(worker)))

    # -- what anyone may ask ---------------------------------------------------------------

    def retry_failed(self) -> int:
        count = 0
        for job_id in sorted(self.client.smembers(names.FAILED)):
            count += int(self._retry(keys=[names.job(job_id), names.count("failed"),
                                           names.count("pending"), names.FAILED,
                                           names.STREAM], args=[job_id]))
        return count


def _messages(answer: Any) -> list[tuple[str, dict[str, str]]]:
    out = []
    for _stream, messages in answer or []:
        out.extend(messages)
    return out


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
