"""Reading the database, for `custody query`, search, history and verify: a connection
that cannot write, statements that may only read, and a time limit Ctrl-C also ends."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.errors import ArchiveError, QueryError


def settle(path: Path) -> str | None:
    """Roll back a write a crash left half done (a hot rollback journal), as SQLite does
    when it next opens the database for writing: a read-only connection cannot, and
    refuses to read ("attempt to write a readonly database"). The database is derived;
    what a crash interrupted was never committed. A note saying so, or None."""
    journal = path.with_name(path.name + "-journal")
    try:
        if journal.stat().st_size == 0:
            return None
    except OSError:
        return None
    try:
        conn = sqlite3.connect(path, timeout=10)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return (f"custody.db: a write a crash interrupted (its journal) could not be rolled "
                f"back ({exc}): copy the archive where it can be written, or reindex")
    if journal.exists() and journal.stat().st_size:
        return None  # not hot: a writer holds it (SQLite rolls back only what none holds)
    return ("custody.db: a write a crash interrupted was rolled back (its journal), as "
            "SQLite does when it next opens it; nothing sealed depends on it")


def open_readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot write: read-only URI plus query_only."""
    if not path.exists():
        raise ArchiveError("no database (run `custody reindex` to rebuild it)", where=str(path))
    settle(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.execute("PRAGMA query_only = ON")
    return conn


def read_value(path: Path, sql: str) -> Any:
    """The first value of the first row a query gives, read without writing anything
    (not even a rollback); sqlite3.Error when the database cannot be read."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


# What `custody query` may do: read. Everything else -- ATTACH (which VACUUM INTO does
# too), writes, temporary tables, transactions, pragmas that set things -- is refused.
_READ_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "foreign_key_check", "database_list", "collation_list",
    "function_list", "module_list", "pragma_list", "compile_options", "data_version",
    "user_version", "schema_version", "application_id", "encoding", "page_count",
    "page_size", "freelist_count",
})
_TAKES_A_TABLE = frozenset({"table_info", "table_xinfo", "table_list", "index_list",
                            "index_info", "index_xinfo", "foreign_key_list",
                            "foreign_key_check"})


def _authorize(action: int, arg1: str | None, arg2: str | None, db_name: str | None,
               trigger: str | None) -> int:
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                  sqlite3.SQLITE_RECURSIVE):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 is not None:
        name = arg1.lower()
        if name in _READ_PRAGMAS and (arg2 is None or name in _TAKES_A_TABLE):
            return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master" and db_name == "main":
        return sqlite3.SQLITE_OK  # asked while SQLite reads its schema (table-valued pragmas)
    return sqlite3.SQLITE_DENY


def open_for_query(path: Path) -> sqlite3.Connection:
    """A read-only connection that refuses, statement by statement, all but reading."""
    conn = open_readonly(path)
    conn.set_authorizer(_authorize)
    return conn


def run_query(conn: sqlite3.Connection, sql: str, params: Iterable[Any] = (), *,
              timeout: float | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Columns and rows; QueryError for what SQLite refuses, and when the query runs past
    ``timeout`` seconds; KeyboardInterrupt when Ctrl-C or SIGTERM ends it (it is checked as it runs,
    so a runaway recursive query ends too)."""
    import signal
    import threading
    import time

    interrupted = []
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: interrupted.append(True))
    deadline = time.monotonic() + timeout if timeout is not None else None

    def stop() -> int:
        return 1 if interrupted or (deadline is not None and time.monotonic() > deadline) else 0

    conn.set_progress_handler(stop, 20_000)
    try:
        cursor = conn.execute(sql, list(params))
        columns = [d[0] for d in cursor.description or []]
        return columns, cursor.fetchall()
    except sqlite3.Error as exc:
        if interrupted:
            raise KeyboardInterrupt from exc
        message = str(exc)
        if "interrupted" in message and deadline is not None and time.monotonic() > deadline:
            message = f"the query ran longer than {timeout:g} s (--timeout S gives it longer)"
        elif "not authorized" in message or "authorization denied" in message:
            message = ("refused: custody query only reads (no ATTACH, VACUUM, writes, "
                       "temporary tables or pragmas that set things)")
        elif "readonly" in message or "read-only" in message or "query_only" in message:
            message = "the database is opened read-only; custody query does not write"
        elif "malformed" in message or "not a database" in message:
            message = (f"custody.db is damaged ({message}): `custody reindex` makes it "
                       "again from the manifests and WARC files")
        raise QueryError(message) from exc
    finally:
        conn.set_progress_handler(None, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
