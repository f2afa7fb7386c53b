"""The Redis keys of one queue (all under ``custody:``, so a Redis database may hold
other things too)."""

from __future__ import annotations

PREFIX = "custody"
STREAM = f"{PREFIX}:jobs"  # one message per delivery of a job: {"job": id}
GROUP = "workers"
HOSTS = f"{PREFIX}:hosts"  # every host a job was enqueued for
FAILED = f"{PREFIX}:failed"  # ids of the jobs that failed
REFUSED = f"{PREFIX}:refused"  # messages naming no job custody made: why each was dropped
JOB_FENCE = f"{PREFIX}:job-fence"  # tokens of job takings, always increasing
SEAL_LOCK = f"{PREFIX}:seal:lock"  # held by the one worker sealing now: its token
SEAL_FENCE = f"{PREFIX}:seal:fence"  # tokens of the seal lock, always increasing
STATES = ("pending", "inflight", "done", "failed")


def job(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def count(state: str) -> str:
    """URLs in that state, by host (a hash)."""
    return f"{PREFIX}:count:{state}"


def worker(name: str) -> str:
    """A live worker's heartbeat: expires when it stops beating."""
    return f"{PREFIX}:worker:{name}"


def slots(host: str) -> str:
    """The fetches from that host in flight now, across workers (a sorted set of leases)."""
    return f"{PREFIX}:gate:{host}:slots"


def next_start(host: str) -> str:
    """When the next fetch from that host may start, in Redis's milliseconds (--delay)."""
    return f"{PREFIX}:gate:{host}:next"
