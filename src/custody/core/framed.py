"""Pickled messages between custody's own processes, each after its length (8 bytes,
big-endian): the extraction worker's socket (extract.warm) and yt-dlp's worker's pipes
(media.apart). Only ever between a process and the child it started."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def frame(message: Any) -> bytes:
    import pickle  # (imported when used: the extraction worker forks before)

    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(8, "big") + data


def unframe(read: Callable[[int], bytes]) -> Any:
    """The next message, ``read(n)`` giving the next n bytes (fewer only at the end);
    EOFError at the end of the stream, or within a message."""
    import pickle

    head = read(8)
    if len(head) < 8:
        raise EOFError("the other end closed")
    size = int.from_bytes(head, "big")
    data = read(size)
    if len(data) < size:
        raise EOFError("the other end closed within a message")
    return pickle.loads(data)
