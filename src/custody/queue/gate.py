"""Each host's politeness -- at most ``--concurrency`` fetches at once, ``--delay``
seconds between starts -- kept across all workers, not per worker.

A fetch enters through the host's gate: a Lua script, timed by Redis's own clock (so
the workers' clocks need not agree), lets it in when fewer than the host's limit are in
flight and the host's next start time has come; it holds a lease in the host's sorted
set of slots until it leaves. A worker killed mid-fetch never leaves: its slot is freed
once its heartbeat has expired (a waiting worker looks), or at the latest when its lease
ends, after the fetch's timeout.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import names

# KEYS: slots, next, rules.  ARGV: lease ms, member, default concurrency.
# 0 when let in; otherwise the milliseconds to wait before asking again.
_ENTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(redis.call('HGET', KEYS[3], 'concurrency') or ARGV[3])
local delay = math.floor(tonumber(redis.call('HGET', KEYS[3], 'delay') or '0') * 1000)
local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
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
                 owner: str = "") -> None:
        self.client = client
        self.owner = owner  # a slot is named owner|id: a dead owner's slots are freed
        self.patient = patient
        self.lease_ms = int(lease * 1000)
        self.concurrency = concurrency
        self._enter = client.register_script(_ENTER)
        self.asks = 0  # calls to Redis, for the benchmark's count of operations per page
        self._lock = threading.Lock()

    @contextmanager
    def passage(self, host: str) -> Iterator[None]:
        member = f"{self.owner}|{uuid.uuid4().hex}"
        keys = [names.slots(host), names.next_start(host), names.politeness(host)]
        poll, looked = _POLL, time.monotonic()
        while True:
            wait = self.patient(lambda: self._enter(
                keys=keys, args=[self.lease_ms, member, self.concurrency]))
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
        """Slots held by workers whose heartbeat has expired (killed mid-fetch)."""
        members = self.patient(lambda: self.client.zrange(names.slots(host), 0, -1))
        owners = {m.split("|", 1)[0] for m in members if "|" in m}
        dead = {o for o in owners
                if o and not self.patient(lambda o=o: self.client.exists(names.worker(o)))}
        stale = [m for m in members if m.split("|", 1)[0] in dead]
        if stale:
            self.patient(lambda: self.client.zrem(names.slots(host), *stale))

    def _count(self) -> None:
        with self._lock:
            self.asks += 1
