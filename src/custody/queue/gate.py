"""Each host's politeness -- at most ``--concurrency`` fetches at once, ``--delay``
seconds between starts -- kept across all workers, not per worker.

A fetch enters through the host's gate: a Lua script, timed by Redis's own clock (so
the workers' clocks need not agree), lets it in when fewer than its job's limit are in
flight from the host, by any worker, and the host's next start time has come; it holds
a lease in the host's sorted set of slots until it leaves. The limit and the delay are
the job's own, checked and signed (custody.queue.acceptance), never a value read from
Redis, which anyone who reaches it may write: a next start time further off than the
longest delay custody allows is such a value, and is dropped.

A worker killed mid-fetch never leaves: its slot is freed once its heartbeat has expired
(a waiting worker looks), or at the latest when its lease ends, after the fetch's
timeout.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..capture.validation import most
from . import names

# KEYS: slots, next.  ARGV: lease ms, member, concurrency, delay ms, longest delay ms,
# longest lease ms.  0 when let in; otherwise the milliseconds to wait before asking again.
_ENTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. (now + tonumber(ARGV[6])), '+inf')
local limit = tonumber(ARGV[3])
local delay = tonumber(ARGV[4])
local nxt = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if nxt > now + tonumber(ARGV[5]) then redis.call('DEL', KEYS[2]) nxt = 0 end
if nxt > now then return nxt - now end
if redis.call('ZCARD', KEYS[1]) >= limit then return -1 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
if delay > 0 then redis.call('SET', KEYS[2], now + delay, 'PX', delay + 60000) end
return 0
"""

_POLL = 0.005  # seconds between asks while every slot of the host is taken
_POLL_MAX = 0.05


class HostGate:
    """``passage(host)``: a context manager a fetch runs inside (custody.capture.Crawl)."""

    def __init__(self, client: Any, patient: Any, *, lease: float, concurrency: int,
                 delay: float = 0.0, owner: str = "") -> None:
        self.client = client
        self.owner = owner  # a slot is named owner|id: a dead owner's slots are freed
        self.patient = patient
        self.lease_ms = int(lease * 1000)
        self.concurrency = max(1, concurrency)
        self.delay_ms = int(delay * 1000)
        self._enter = client.register_script(_ENTER)
        self.asks = 0  # calls to Redis, for the benchmark's count of operations per page
        self._lock = threading.Lock()

    @contextmanager
    def passage(self, host: str) -> Iterator[None]:
        member = f"{self.owner}|{uuid.uuid4().hex}"
        keys = [names.slots(host), names.next_start(host)]
        longest = int((most("delay") or 0) * 1000)
        # a lease no fetch custody allows could hold (written by hand) is dropped
        longest_lease = int(((most("timeout") or 0) + (most("page_timeout") or 0) + 60) * 1000)
        poll, looked = _POLL, time.monotonic()
        while True:
            wait = self.patient(lambda: self._enter(
                keys=keys, args=[self.lease_ms, member, self.concurrency, self.delay_ms,
                                 longest, longest_lease]))
            self._count()
            if wait == 0:
                break
            if wait > 0:
                time.sleep(wait / 1000)
                continue
            if time.monotonic() - looked > 1.0:
                looked = time.monotonic()
                self._free_slots_of_the_dead(host)
            time.sleep(poll)
            poll = min(poll * 2, _POLL_MAX)
        try:
            yield
        finally:
            self.patient(lambda: self.client.zrem(names.slots(host), member))
            self._count()

    def _free_slots_of_the_dead(self, host: str) -> None:
        """Slots held by workers whose heartbeat has expired (killed mid-fetch), and any
        that no worker's gate wrote (no owner named)."""
        members = self.patient(lambda: self.client.zrange(names.slots(host), 0, -1))
        owners = {m.split("|", 1)[0] for m in members if "|" in m}
        dead = {o for o in owners
                if not o or not self.patient(lambda o=o: self.client.exists(names.worker(o)))}
        stale = [m for m in members if "|" not in m or m.split("|", 1)[0] in dead]
        if stale:
            self.patient(lambda: self.client.zrem(names.slots(host), *stale))

    def _count(self) -> None:
        with self._lock:
            self.asks += 1
