"""Who is asking: sessions that expire, the per-run secret that opens the first one on
loopback, and the limit on failed logins.

Sessions live in the server's memory only (a restart signs everyone out): a random id
in an HttpOnly, SameSite=Strict cookie, and, with it, the session's own CSRF token,
which every form and script sends back with a change. A session ends after
``idle`` seconds unused, and after ``lifetime`` seconds whatever happens.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

COOKIE = "custody_session"
IDLE = 2 * 3600.0
LIFETIME = 12 * 3600.0


@dataclass
class Session:
    id: str
    account: str  # the account's name; on loopback, the archivist the key names
    role: str
    csrf: str
    created: float
    seen: float


@dataclass
class Sessions:
    idle: float = IDLE
    lifetime: float = LIFETIME
    _by_id: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, account: str, role: str) -> Session:
        now = time.monotonic()
        session = Session(secrets.token_urlsafe(32), account, role, secrets.token_urlsafe(32),
                          now, now)
        with self._lock:
            self._sweep(now)
            self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None:
                return None
            if now - session.seen > self.idle or now - session.created > self.lifetime:
                del self._by_id[session_id]
                return None
            session.seen = now
            return session

    def close(self, session_id: str) -> None:
        with self._lock:
            self._by_id.pop(session_id, None)

    def close_account(self, account: str) -> None:
        """End every session of an account (disabled, or its role changed)."""
        with self._lock:
            for key in [k for k, s in self._by_id.items() if s.account == account]:
                del self._by_id[key]

    def _sweep(self, now: float) -> None:
        for key in [k for k, s in self._by_id.items()
                    if now - s.seen > self.idle or now - s.created > self.lifetime]:
            del self._by_id[key]


def same_secret(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


@dataclass
class LoginLimit:
    """At most ``attempts`` failed logins in ``window`` seconds per account name and per
    client address; past that, every login (right or wrong) is refused until the window
    has room again, so that guessing costs hours, not seconds."""

    attempts: int = 5
    window: float = 900.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures.setdefault(key, deque())
        while found and now - found[0] > self.window:
            found.popleft()
        return found

    def wait(self, *keys: str) -> float:
        """Seconds until a login for these keys may be tried again (0: now)."""
        now = time.monotonic()
        with self._lock:
            longest = 0.0
            for key in keys:
                found = self._recent(key, now)
                if len(found) >= self.attempts:
                    longest = max(longest, self.window - (now - found[0]))
            return longest

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
