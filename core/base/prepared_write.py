"""One write with RETURNING, compiled once, run alone in its own short transaction on a pooled
DBAPI connection: for the small writes clients repeat every few seconds (a player's position).

As core/base/prepared.py does for reads: no Session, no Connection wrapper, no result object;
the binds' and the columns' own processors; SQLAlchemy's exceptions. On top of it:

- SQLite: one writer at a time per database file, queued rather than polled. Two connections
  that want the write lock at once (web serves from several processes and threads) meet SQLite's
  busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between tries: a
  loser waited milliseconds for a lock held some tens of microseconds. Here the threads of a
  process queue on a `threading.Lock` and the processes on `flock(2)` of a file beside the
  database (`<database>.write-lock`); the kernel hands it to the next waiter the moment the
  holder lets go. Inside, the statement runs as its own transaction (`_alone`). Other
  writers (workers, the rest of the API) do not take the lane: they meet these writes at SQLite's
  lock as before, and a lane holder waits for them there within busy_timeout; nothing waits for
  the lane while holding SQLite's lock, so no cycle can form.
- PostgreSQL: the statement runs alone in autocommit (its own implicit transaction, one round
  trip: no BEGIN, no COMMIT). A statement whose commit need not wait for the WAL to reach the
  disk carries `relaxed_commit()`, a condition that sets `synchronous_commit = off` for its own
  transaction only (`set_config(..., is_local => true)`): the commit at the statement's end
  reads it, the next transaction on the connection has the server's setting again.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, true

from core.base.prepared import Prepared, rows_of, translated


class WriteLane:
    """One holder at a time among this process's threads and (with a `path`: a lock file) all
    processes that open the same file."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Wait for the lane (blocking, in the kernel), hold it for the block."""
        with self._threads:
            if self.path is None:
                yield
                return
            if self._fd is None:
                flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
                self._fd = os.open(self.path, flags, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def forget(self) -> None:
        """In a forked child: close the parent's descriptor (a flock belongs to the open file
        shared with the parent, so the child needs its own) and start unlocked."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._threads = None, threading.Lock()


_lanes: dict[str, WriteLane] = {}
_lanes_lock = threading.Lock()


def lane(engine: Engine) -> WriteLane:
    """The process's lane for `engine`'s SQLite database (a file lock beside it; an in-memory
    database is this process's alone: a thread lock suffices)."""
    database = engine.url.database or ""
    found = _lanes.get(database)
    if found is None:
        with _lanes_lock:
            found = _lanes.get(database)
            if found is None:
                on_disk = database not in ("", ":memory:") and "mode=memory" not in database
                found = _lanes[database] = WriteLane(f"{database}.write-lock" if on_disk else None)
    return found


def _after_fork() -> None:
    global _lanes_lock
    _lanes_lock = threading.Lock()
    for found in _lanes.values():
        found.forget()


os.register_at_fork(after_in_child=_after_fork)


def relaxed_commit() -> ColumnElement[bool]:
    """A condition that always holds and, evaluated by PostgreSQL, lets the commit of the
    statement's own transaction skip waiting for the WAL flush (a crash may lose that write;
    for writes that are repeated anyway). Put it in the WHERE of the SELECT that feeds a row:
    the row exists only once it was evaluated. PostgreSQL only."""
    return func.set_config("synchronous_commit", "off", true()) == "off"


class PreparedWrite(Prepared):
    """`statement` (an INSERT/UPDATE/DELETE with RETURNING and named bind parameters), run alone
    as its own transaction."""

    def first(self, engine: Engine, **values: Any) -> tuple[Any, ...] | None:
        """The first row the statement returns for these bind `values` (None if it returned
        none), committed."""
        plan = self.plan(engine.dialect)
        params = plan.params(values)
        if engine.dialect.name == "sqlite":
            with lane(engine).held():
                rows, description = _run(engine, plan.sql, params)
        else:
            rows, description = _run(engine, plan.sql, params)
        return plan.row(rows[0] if rows else None, description)


def _run(engine: Engine, sql: str, params: Any) -> tuple[Sequence[Any], Any]:
    """`sql` alone, in autocommit, on a pooled connection: its rows and description."""
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        connection = engine.raw_connection()
    except dbapi_error as error:
        raise translated(engine, None, sql, params, error) from error
    try:
        if engine.dialect.name == "sqlite":
            return _alone(connection.driver_connection, sql, params)
        return _autocommit(connection, sql, params)
    except dbapi_error as error:
        raise translated(engine, connection, sql, params, error) from error
    finally:
        connection.close()  # back to the pool


def _alone(driver: Any, sql: str, params: Any) -> tuple[Sequence[Any], Any]:
    """SQLite: the statement as its own transaction (autocommit). It takes the write lock as it
    starts (as BEGIN IMMEDIATE would: a write never starts as a read that must then upgrade)
    and commits when its last row is read. Two calls into SQLite, where BEGIN, the statement,
    its rows and COMMIT were four: each lets the GIL go and must win it back, and all of that
    happens while holding the lane."""
    before = driver.isolation_level
    driver.isolation_level = None
    try:
        return rows_of(driver, sql, params)
    finally:
        driver.isolation_level = before


def _autocommit(connection: Any, sql: str, params: Any) -> tuple[Sequence[Any], Any]:
    """PostgreSQL: the statement as its own implicit transaction, one round trip where BEGIN,
    the statement and COMMIT were three. A connection that cannot be put back out of
    autocommit is invalidated: the pool must never hand out one in autocommit, where a
    session's statements would each commit alone."""
    driver = connection.driver_connection
    driver.autocommit = True
    try:
        return rows_of(driver, sql, params)
    finally:
        try:
            driver.autocommit = False
        except driver.Error:  # broken: the error that brought us here says why
            connection.invalidate()
