"""One seal at a time across every worker on every machine, with fencing.

The hash chain (each manifest names the one before it) and the ledger (one Merkle log)
need one writer order. Workers take a lock in Redis around each seal: ``SET NX PX``
under a name of the attempt's own, renewed while the seal runs and released by a script
that deletes it only if it is still that name; once it holds the lock, the worker takes
a token from an always-increasing counter (so tokens follow the order the lock is had);
a worker that
finds it held by a worker whose heartbeat has expired (killed mid-seal) takes it over
without waiting out the lease. A lock in Redis
alone is not enough: a worker paused (a long GC, a stopped VM) past its lease could
wake up believing it still holds it. So the archive keeps a fence,
``.custody/seal-fence``: the highest token that wrote there. Just before each write no
one may undo -- a manifest's rename, a ledger leaf -- the worker checks that Redis still
names its lock and that the fence holds no newer token, then writes its own token there;
a worker that finds either otherwise stops its seal (what it wrote beside the
manifest's temporary name is discarded) and the job is left to whoever holds it now.
It also checks that it still holds the job, so a job taken over is never sealed by
the worker that lost it.

On one machine the archive's own sealing lock (flock) is taken inside this one, as
for any writer. With an object store (custody.store), the lock also spans the store's
side of each seal: the store's head read (and what it adds fetched) just after it is
taken, the seal sent just before it is released, the head written only over the
version read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.atomic import write_atomic
from ..core.errors import CustodyError
from . import names

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: lock.  ARGV: the value seen (a dead worker's), the new one, lease.
_STEAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return false
"""


# KEYS: the fence counter.  ARGV: the archive's fence.  (Run by the seal lock's holder.)
_RAISE = """
local past = tonumber(ARGV[1]) + 1
if (tonumber(redis.call('GET', KEYS[1]) or '0') or 0) < past then
  redis.call('SET', KEYS[1], past) return past end
return redis.call('INCR', KEYS[1])
"""


class LostSeal(CustodyError):
    """This worker no longer holds the seal order, or no longer holds the job; the
    capture it was sealing, when it was sealing one."""

    def __init__(self, message: str, *, capture_id: str | None = None) -> None:
        super().__init__(message)
        self.capture_id = capture_id


class SharedSeal:
    def __init__(self, client: Any, patient: Any, root: Path, *, lease: float = 30.0,
                 holds_job: Callable[[], bool] | None = None, owner: str = "",
                 mirror: Any = None, adopt: Callable[[str], bool] | None = None) -> None:
        self.client = client
        self.owner = owner  # the worker's name: a lock whose owner's heartbeat is gone is
        # taken over at once rather than after its lease
        self.patient = patient
        self.fence_path = root / ".custody" / "seal-fence"
        self.lease_ms = int(lease * 1000)
        self.holds_job = holds_job
        self.mirror = mirror  # a store.mirror.Mirror: the archive kept in an object store
        self.adopt = adopt or (lambda capture_id: False)
        self._seeded = False
        self.token: int | None = None
        self.lock_value = ""  # the lock's value while this worker holds it
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._steal = client.register_script(_STEAL)
        self._raise = client.register_script(_RAISE)
        self.waits = 0  # times the lock was found taken, for the benchmark
        self.seals = 0
        self.held_seconds = 0.0  # in all, under the lock

    @contextmanager
    def held(self) -> Iterator[None]:
        import secrets

        # the lock is held under a name of this attempt's own; the fence token is taken
        # once it is held, so tokens increase in the order the lock is had (taken before,
        # a worker that waited longer would hold an older token than the one before it)
        value = f"{secrets.token_hex(8)}:{self.owner}"
        pause, looked = 0.002, time.monotonic()
        while not self.patient(lambda: self.client.set(names.SEAL_LOCK, value, nx=True,
                                                       px=self.lease_ms)):
            self.waits += 1
            if time.monotonic() - looked > 0.5:
                looked = time.monotonic()
                if self._steal_from_the_dead(value):
                    break
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        token = int(self.patient(lambda: self.client.incr(names.SEAL_FENCE)))
        seen = self._fence_seen()
        if token <= seen:  # a Redis that restarted without its data counts from 1 again:
            # its counter is raised past the archive's fence, or no seal would pass it
            token = int(self.patient(lambda: self._raise(keys=[names.SEAL_FENCE],
                                                         args=[seen])))
        self.token, self.lock_value = token, value
        began = time.monotonic()
        stop = threading.Event()
        renewer = threading.Thread(target=self._keep, args=(value, stop), daemon=True,
                                   name="seal-lease")
        renewer.start()
        try:
            if self.mirror is None:
                yield
            else:
                with self._mirrored():
                    yield
        finally:
            stop.set()
            renewer.join()
            self.token = None
            self.seals += 1
            self.held_seconds += time.monotonic() - began
            self.patient(lambda: self._release(keys=[names.SEAL_LOCK], args=[value]))

    @contextmanager
    def _mirrored(self) -> Iterator[None]:
        from ..store.s3 import Conflict

        if not self._seeded:
            self._seed()
        try:
            self.mirror.begin(self.adopt, token=self.token)
        except Conflict as exc:
            raise LostSeal(f"the store's head changed while this worker settled what "
                           f"another left ({exc}); another worker holds the seal lock") \
                from exc
        yield
        try:
            self.mirror.commit()
        except Conflict as exc:
            sent = getattr(exc, "captures", None) or [None]
            raise LostSeal(f"the store's head changed while this worker sealed ({exc}); "
                           "another worker holds the seal lock", capture_id=sent[-1]) from exc

    def _seed(self) -> None:
        """An empty store gets the archive this worker's folder holds (`custody init`, the
        workers' keys admitted): the first worker to start sends it."""
        from ..core.errors import StoreError

        if not self.mirror.seeded():
            signers = self.mirror.root / "allowed_signers"
            if not signers.exists() or not signers.read_bytes().strip():
                raise StoreError("the store holds no archive yet: run `custody init` in the "
                                 "worker's --root and admit the workers' keys there; the "
                                 "first worker sends it to the store",
                                 where=str(self.mirror.store.url))
            from ..seal.ledger import Ledger

            Ledger(self.mirror.root / "manifests").origin()  # the ledger's name, sent too
            self.mirror.seed(token=self.token)
        self._seeded = True

    def _steal_from_the_dead(self, value: str) -> bool:
        """Take the lock from a worker whose heartbeat has expired (killed mid-seal): it
        writes nothing more, and if it was only paused its fence check stops it."""
        held = self.patient(lambda: self.client.get(names.SEAL_LOCK))
        if held and (":" not in held or not held.split(":", 1)[1]) and \
                self.patient(lambda: self.client.pttl(names.SEAL_LOCK)) == -1:
            # custody always sets its lock with an expiry, and names its holder: this one
            # would be waited for for ever
            from ..core.errors import QueueError

            raise QueueError(f"{names.SEAL_LOCK} holds {held[:40]!r}, which no custody "
                             "worker wrote (no holder named, no expiry): no capture can be "
                             "sealed until it is removed (redis-cli DEL "
                             f"{names.SEAL_LOCK}, once no worker is sealing)")
        if not held or ":" not in held:
            return False
        owner = held.split(":", 1)[1]
        if not owner or self.patient(lambda: self.client.exists(names.worker(owner))):
            return False
        return bool(self.patient(lambda: self._steal(keys=[names.SEAL_LOCK],
                                                     args=[held, value, self.lease_ms])))

    def _keep(self, value: str, stop: threading.Event) -> None:
        import redis

        while not stop.wait(self.lease_ms / 3000):
            try:
                self._renew(keys=[names.SEAL_LOCK], args=[value, self.lease_ms])
            except redis.RedisError:
                continue  # Redis away: the fence check before each write decides

    def _fence_seen(self) -> int:
        """The highest token that wrote in the archive (.custody/seal-fence)."""
        try:
            return int(self.fence_path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def fence(self, point: str, capture_id: str) -> None:
        token = self.token
        if token is None:
            raise LostSeal(f"{capture_id}: sealing outside the shared seal lock",
                           capture_id=capture_id)
        holder = self.patient(lambda: self.client.get(names.SEAL_LOCK))
        if holder != self.lock_value:
            raise LostSeal(f"{capture_id}: the seal lock's lease ran out before the {point} "
                           "was written; another worker may be sealing", capture_id=capture_id)
        seen = self._fence_seen()
        if seen > token:
            raise LostSeal(f"{capture_id}: a newer seal (fence {seen} > {token}) was "
                           f"written before this {point}", capture_id=capture_id)
        if self.holds_job is not None and not self.holds_job():
            raise LostSeal(f"{capture_id}: the job was taken over by another worker",
                           capture_id=capture_id)
        if seen != token:
            self.fence_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.fence_path, f"{token}\n".encode())
