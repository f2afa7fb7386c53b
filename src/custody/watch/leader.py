"""One watch scheduler across machines: leadership held in the queue's Redis.

Any number of ``custody watch run --queue`` may run, on any number of machines sharing
the archive; one leads and schedules, the others stand by. The leader holds
``custody:watch:leader`` (``SET NX PX``, under a value of its own), renews it every
third of its lease, and stops scheduling the moment a renewal finds the key gone or
another's; a standby takes the key once it expires (a leader killed with -9 is replaced
within a lease). A leader paused past its lease (a frozen VM) and woken believing it
still leads does no harm: every run's queue job has an id made from the watch and its
interval, put at most once (custody.queue.jobs ``put``), and a change found twice is
recorded once. While leading it also beats as ``custody:worker:NAME`` -- the seal lock
is taken at once from a holder without a heartbeat -- with ``"role": "watch scheduler"``
for ``custody queue status``.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

from ..queue import names

KEY = f"{names.PREFIX}:watch:leader"
LEASE = 15.0  # seconds

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
  return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1], KEYS[2]) end
return 0
"""


def holder(client: Any) -> str | None:
    """The name of the scheduler that leads now, escaped (None: none does)."""
    import redis

    from ..queue.status import printable

    try:
        value = client.get(KEY)
    except redis.ResponseError:  # a key of another type: not custody's
        return "(a key custody did not write)"
    if value is None:
        return None
    return printable(value.split(":", 1)[1][:100]) if isinstance(value, str) and \
        ":" in value else "(a value custody did not write)"


class Leadership:
    def __init__(self, client: Any, name: str, *, lease: float = LEASE) -> None:
        self.client = client
        self.name = name
        self.lease_ms = max(int(lease * 1000), 1000)
        self.value = f"{secrets.token_hex(8)}:{name}"
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def leads(self) -> bool:
        return self._thread is not None and not self._lost.is_set()

    def take(self) -> bool:
        """Lead, if no scheduler does (True); kept by a thread until ``release``."""
        if self.leads:
            return True
        if not self.client.set(KEY, self.value, nx=True, px=self.lease_ms):
            return False
        self._lost.clear()
        self._stop.clear()
        self._beat()
        self._thread = threading.Thread(target=self._keep, daemon=True, name="watch-leader")
        self._thread.start()
        return True

    def _beat(self) -> bool:
        heartbeat = json.dumps({"job": None, "host": None, "role": "watch scheduler",
                                "at": datetime.now(UTC).isoformat(timespec="seconds")})
        return bool(self._renew(keys=[KEY, names.worker(self.name)],
                                args=[self.value, self.lease_ms, heartbeat]))

    def _keep(self) -> None:
        import redis

        while not self._stop.wait(self.lease_ms / 3000):
            try:
                if not self._beat():
                    self._lost.set()
                    return
            except redis.RedisError:
                continue  # Redis away: the lease runs out unless it answers in time

    def still(self) -> bool:
        """Whether this scheduler leads now, asked of Redis (the thread asks every third
        of a lease; a step that writes asks first)."""
        if not self.leads:
            return False
        if self.client.get(KEY) != self.value:
            self._lost.set()
        return self.leads

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        import redis

        with contextlib.suppress(redis.RedisError):  # (or it expires)
            self._release(keys=[KEY, names.worker(self.name)], args=[self.value])
