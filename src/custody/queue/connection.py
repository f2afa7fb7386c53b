"""One Redis client for a queue URL, and patience across a Redis restart.

A worker outlives Redis going away: each call is retried, with a note on standard
error once per outage, until Redis answers again (its data survives when it keeps an
append-only file, as the tests' Redis and a production one should). A command that
only asks (``queue status``) or enqueues gives up at once, with one line saying why.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..core.errors import QueueError
from ..core.patience import reason

T = TypeVar("T")


def check_url(url: str) -> str:
    """A redis:// (or rediss://, unix://) URL, or UsageError naming what is wrong."""
    from ..core.errors import UsageError

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (read to check it: a port past 65535 raises)
    except ValueError as exc:
        raise UsageError(f"not a queue URL ({exc})", where=url) from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise UsageError("a queue is a redis:// URL, like redis://HOST:6379/0", where=url)
    if parts.scheme != "unix" and (parts.query or parts.fragment):  # (redis-py would take
        # ?db= over the path's number)
        raise UsageError("a queue URL has no query or fragment: the database is its path, "
                         "like redis://HOST:6379/0", where=url)
    if parts.scheme != "unix" and not parts.hostname:
        raise UsageError("the queue URL names no host", where=url)
    path = parts.path.strip("/")
    if parts.scheme != "unix" and path and not path.isdigit():
        raise UsageError("the queue URL's path is a database number, like /0", where=url)
    return url


def connect(url: str) -> Any:
    """A client for the queue at ``url``; QueueError when Redis does not answer."""
    import redis

    # bytes that are not UTF-8 (anyone may write them) are kept, as surrogates, rather
    # than fail the read that meets them: a job's signature is over its exact bytes
    client = redis.Redis.from_url(check_url(url), socket_timeout=30,
                                  socket_connect_timeout=5, health_check_interval=15,
                                  decode_responses=True, encoding_errors="surrogateescape")
    try:
        client.ping()
    except redis.RedisError as exc:
        raise QueueError(f"the queue does not answer ({reason(exc)})",
                         where=shown(url)) from exc
    return client


def shown(url: str) -> str:
    """The URL without a password."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url



class Patient:
    """Runs Redis calls again until Redis answers (a worker's way); ``stop()`` ends the
    waiting with QueueError."""

    def __init__(self, url: str, say: Callable[[str], None] | None = None) -> None:
        self.url = url
        self.say = say or (lambda text: print(f"custody: {text}", file=sys.stderr,
                                               flush=True))
        self.stopped = False

    def __call__(self, call: Callable[[], T]) -> T:
        import redis

        from ..core.patience import patiently

        transient = (redis.ConnectionError, redis.TimeoutError,
                     redis.exceptions.BusyLoadingError)
        return patiently(
            call, name="the queue", say=self.say,
            transient=lambda exc: isinstance(exc, transient),
            give_up=lambda exc: QueueError(f"the queue went away ({reason(exc)})",
                                           where=shown(self.url)),
            stopped=lambda: self.stopped)
