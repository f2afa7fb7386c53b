"""Fault injection for the tests: die, or fail a write, right after a named step.

custody promises that a crash at any instant of a capture leaves an archive that
verifies and that the next run completes. The tests hold it to that by naming each
durable write of the sealing sequence here and asking, through the environment, for
the process to be killed (SIGKILL, as a power cut would) right after one of them:

    CUSTODY_TEST_FAULT=seal.manifest            kill after the manifest's rename
    CUSTODY_TEST_FAULT=seal.token@2             kill after the second token is written
    CUSTODY_TEST_FAULT=seal.log:eio             the step raises OSError(EIO) instead
    CUSTODY_TEST_FAULT=pool.worker-job@*:slow   every verify job in a worker takes 0.3 s
    CUSTODY_TEST_FAULT=extract.warm-answer:nomem  MemoryError there (what else may fail)
    CUSTODY_TEST_FAULT=seal.journal:stop        the process stops itself (SIGSTOP) there,
                                                as a frozen VM would, until a SIGCONT

Without the variable every point is a dictionary lookup and nothing else.
"""

from __future__ import annotations

import errno
import os
import signal
from functools import cache

VARIABLE = "CUSTODY_TEST_FAULT"

# The durable writes of a capture's end, in the order they happen (see capture.finish and
# seal.seal); the tests kill the process after each of them in turn.
SEAL_STEPS = (
    "seal.journal",  # the sealing journal: from here recovery completes the capture
    "seal.warc",  # the last WARC file renamed into place
    "seal.manifest-temp",  # the manifest written under its temporary name
    "seal.signature",  # its SSH signature
    "seal.token",  # each RFC 3161 token (or the pending mark)
    "seal.sha256sums",  # SHA256SUMS
    "seal.manifest",  # the manifest renamed into place: the capture exists
    "seal.ledger-leaf",  # its leaf appended to the ledger
    "seal.checkpoint-history",  # the new checkpoint in checkpoints/N
    "seal.checkpoint-sig",  # checkpoint.sig over it
    "seal.checkpoint",  # the checkpoint itself
    "log.event",  # the `captured` event in the custody log, its signed head not yet
    "seal.log",  # the log's head signed over it
    "seal.database",  # the capture's rows in custody.db
    "seal.crawl-state",  # the crawl's working state removed (or kept for --resume)
)
OTHER_STEPS = (
    "warc.torn-record",  # a record half written to the WARC file, then death
    "pool.worker-job",  # a verify worker about to run a job
    "store.pieces",  # worker --store: the new pieces and tiles sent, a capture's files
    # but its manifest
    "store.capture",  # the captures' manifests sent, last of their files
    "store.head",  # the store's head written: the commit point in the store
    "store.superseded",  # the pieces the new head no longer names removed
    "log.head",  # any event's signed log head written
    "import.hashed",  # a file to import hashed, not yet copied
    "import.checked",  # its copy checked, not yet placed in archive/
    "import.copy",  # an imported file's copy renamed into place
    "index.mid-write",  # a capture's rows half written to custody.db, not committed
    "extract.worker-batch",  # an extraction worker about to extract a batch of records
    "extract.warm-answer",  # the warm worker's answer read by the capture's process
    "key.signer-line",  # key add: the new key's line in allowed_signers, its event not yet
    "key.new", "key.journal", "key.event", "key.signers", "key.retired", "key.swap",
    # key rotate's steps (seal/rotation.py)
    "watch.claim",  # a watch's run claimed for its interval, its capture not begun
    "watch.done",  # a run's result (and its change's deliveries) recorded
    "watch.sending",  # a notification marked as being sent, not sent yet
    "watch.delivered",  # a notification sent and recorded as sent
)

_ERRORS = {"eio": errno.EIO, "enospc": errno.ENOSPC, "eacces": errno.EACCES,
           "erofs": errno.EROFS}
_seen: dict[str, int] = {}


@cache
def _wanted() -> tuple[str, int, str] | None:
    text = os.environ.get(VARIABLE, "").strip()
    if not text:
        return None
    text, _, action = text.partition(":")
    name, _, nth = text.partition("@")
    return name, 0 if nth == "*" else int(nth or 1), action or "kill"


def armed(name: str) -> bool:
    """Whether this passage through ``name`` is the one the test asked to fail (``@*``:
    every one)."""
    wanted = _wanted()
    if wanted is None or wanted[0] != name:
        return False
    _seen[name] = _seen.get(name, 0) + 1
    return wanted[1] == 0 or _seen[name] == wanted[1]


def after(name: str) -> None:
    """A durable write named ``name`` is done: die here, fail, (``:slow``) take a while,
    or (``:stop``) stop until continued, when a test asks."""
    if not armed(name):
        return
    action = _wanted()[2]  # type: ignore[index]
    if action == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)
        return
    if action == "slow":
        import time

        time.sleep(0.3)
        return
    if action == "nomem":
        raise MemoryError(f"(test fault after {name})")
    if action in _ERRORS:
        code = _ERRORS[action]
        raise OSError(code, os.strerror(code), f"(test fault after {name})")
    kill()


def kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
