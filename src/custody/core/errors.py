"""Errors custody raises, and the exit code each one maps to.

The hierarchy::

    CustodyError                      any failure custody reports (exit code on the class)
    ├── UsageError                    bad input on the command line           -> 2
    │   └── InvalidURL                a URL that cannot be fetched (scheme, syntax)
    ├── ArchiveError                  the archive root is missing or unusable -> 3
    │   └── ArchiveLocked             another custody process holds the archive
    ├── KeyProblem                    the archivist's key is missing or locked -> 4
    ├── QueryError                    SQL refused or failed in `custody query` -> 7
    ├── NotFound                      a capture id or URL that is not there    -> 8
    ├── QueueError                    the shared queue (Redis) is unusable     -> 9
    │   └── JobRefused                a job a worker will not run (its reason is kept
    │                                 on the queue; the worker goes on)
    ├── StoreError                    the object store (S3) is unusable        -> 10
    │   └── StoreDamaged              its pieces are not those its head commits -> 1
    └── SecretsFound                  the session's secrets would be handed over -> 11

Network failures while fetching are not exceptions at this level: they are
evidence too, recorded in the manifest and the database (see ``fetch.py``), and
the CLI turns "some URLs failed" into exit code 5.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes, documented in the README's table."""

    OK = 0
    FAILED = 1  # verify: something failed; diff: the texts differ
    USAGE = 2  # bad arguments or input: nothing was written
    ARCHIVE = 3  # not an archive root, or unusable (locked, unreadable)
    KEY = 4  # the signing key is missing, unreadable or locked
    FETCH = 5  # archive: one or more URLs could not be fetched (recorded as such)
    UNCHECKED = 6  # verify: nothing failed, but something could not be checked
    QUERY = 7  # query/search: SQL error, or a write was refused
    NOT_FOUND = 8  # a capture id or URL that the archive does not hold
    QUEUE = 9  # the shared crawl queue (Redis) cannot be reached, or its URL is wrong
    STORE = 10  # the object store (S3) cannot be reached, refuses access, or its URL is wrong
    SECRETS = 11  # bundle, export, report: the session's secrets are in what would go out
    INTERRUPTED = 130  # archive: stopped by Ctrl-C; what was fetched is sealed
    PIPE_CLOSED = 141  # the reader of the output went away (as a process SIGPIPE ends)


class CustodyError(Exception):
    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.where = where

    def __str__(self) -> str:
        message = super().__str__()
        return f"{self.where}: {message}" if self.where else message


class UsageError(CustodyError):
    exit_code = ExitCode.USAGE


class InvalidURL(UsageError):
    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message, where=url)
        self.url = url


class ArchiveError(CustodyError):
    exit_code = ExitCode.ARCHIVE


class ArchiveLocked(ArchiveError):
    pass


class KeyProblem(CustodyError):
    exit_code = ExitCode.KEY


class QueryError(CustodyError):
    exit_code = ExitCode.QUERY


class NotFound(CustodyError):
    exit_code = ExitCode.NOT_FOUND


class QueueError(CustodyError):
    exit_code = ExitCode.QUEUE


class JobRefused(QueueError):
    """A job on the queue that fails a worker's checks: unsigned, signed by a key the
    archive does not admit, unreadable, or asking for what the worker does not permit.
    Never the worker's end: the job is marked failed with this reason."""


class StoreError(CustodyError):
    exit_code = ExitCode.STORE


class StoreDamaged(StoreError):
    """The store answers, but what it holds is not what its head commits (a piece or tile
    whose bytes differ, one missing, a head that does not continue the folder's copy):
    evidence that fails a check, so `verify --store` and `pull` refuse it, and a worker
    seals nothing on top of it."""

    exit_code = ExitCode.FAILED


class EvidenceFails(CustodyError):
    """What would be handed over (a bundle, an export) or proved fails a check now: a
    changed manifest, a capture the ledger does not hold. Nothing goes out on it; `custody
    verify ID` says where it fails."""

    exit_code = ExitCode.FAILED


def refuse_failed(status: str, capture_id: str, consequence: str) -> None:
    """EvidenceFails (exit 1) when ``status``, that of a verification of ``capture_id``
    made now, is a failure: evidence that fails a check is not handed over as if it held."""
    if status == "failed":  # verify/report.py's FAILED
        raise EvidenceFails(f"the capture fails verification (custody verify {capture_id} "
                            f"says where); {consequence}", where=capture_id)


class SecretsFound(CustodyError):
    """A capture's session secrets are in what a bundle, export or report would carry, or
    could not be searched for; ``lines`` says where, each without the value."""

    exit_code = ExitCode.SECRETS

    def __init__(self, message: str, *, lines: list[str]) -> None:
        super().__init__(message)
        self.lines = lines


def first_line(exc: BaseException, most: int | None = None) -> str:
    """An exception said in one line (its first; at most ``most`` characters), or its
    type's name when it says nothing."""
    text = str(exc).strip().splitlines()
    return text[0][:most] if text else type(exc).__name__
