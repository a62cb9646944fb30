"""The owner lease of a running task: which delivery runs it, and until when it is known alive.

A twin of a running task (its message handed back while the first delivery still runs: a
reaper misled by a Redis outage or a stalled worker) must not run beside it, and a delivery
handed back because its worker really died must run. The record says which: the guarded
STARTED transition writes `owner` (a token of this one delivery) and `lease_until` (now plus
the liveness TTL); the owner's worker renews the lease every liveness round (the main process,
from the requests it holds, whatever the task does) and with every progress report (the task
itself, even while its main process is stalled). A delivery may start only if the lease is
free (no owner, or it ran out) or its own. A dead owner renews nothing, so its lease runs out
one TTL after its last proof of life, which is before the reaper hands its message back (a
TTL of unclaimed rounds after the liveness entry itself expired).

Expiry is judged on the database's clock, in the same statement that reads it: one clock for
every worker (SQLite's is the one host's, PostgreSQL's the server's), and unlike Redis's it
keeps answering during a Redis outage, so leases of live work never run out because of one.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Float, or_, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from core.base.db import Database
from core.base.models import TaskRecord
from core.jobs.taskdefs import TaskState

RUNNING = (TaskState.STARTED, TaskState.PROGRESS)
NAME_MAX = 100  # + ":" pid ":" boot id ":" pool pid ":" random: at most 150 characters


class db_epoch(FunctionElement[float]):  # noqa: N801  (used like a SQL function)
    """The database server's clock, in seconds since the epoch."""

    type = Float()
    inherit_cache = True
    name = "db_epoch"


@compiles(db_epoch)
def _epoch_postgresql(_element: Any, _compiler: Any, **_: Any) -> str:
    return "CAST(EXTRACT(EPOCH FROM CLOCK_TIMESTAMP()) AS DOUBLE PRECISION)"


@compiles(db_epoch, "sqlite")
def _epoch_sqlite(_element: Any, _compiler: Any, **_: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


@dataclass(frozen=True)
class Held:
    """Another delivery holds the task's lease: this one must not run (for `seconds_left` at
    least: then the owner has renewed it, or it is dead and the lease is free)."""

    owner: str
    seconds_left: float


# This worker's part of every owner token: node name, main process id, a boot id. Set in the
# main process before the pool forks (tasks/liveness.py), so its children inherit it.
_prefix: dict[str, str] = {}


def set_worker(hostname: str) -> str:
    """Name this worker process in the tokens of its deliveries; returns the prefix."""
    # The node name cut so that a token fits the column (160) whatever name a worker is given.
    _prefix["worker"] = f"{hostname[:NAME_MAX]}:{os.getpid()}:{secrets.token_hex(4)}:"
    return _prefix["worker"]


def worker_prefix() -> str:
    """The prefix of this worker's owner tokens (one made up outside a worker)."""
    if "worker" not in _prefix:
        set_worker(socket.gethostname())
    return _prefix["worker"]


def new_owner() -> str:
    """A token for one delivery of a task on this worker: the worker's prefix, then the pool
    process's id (what the worker's main process knows of the delivery), then a random part."""
    return f"{process_prefix(os.getpid())}{secrets.token_hex(4)}"


def process_prefix(pid: int) -> str:
    """The prefix of the owner tokens of deliveries run by pool process `pid` of this worker."""
    return f"{worker_prefix()}{pid}:"


def may_take(owner: Any) -> ColumnElement[bool]:
    """The lease is free (no owner, or it ran out by the database's clock) or `owner`'s."""
    record: Any = TaskRecord
    ran_out = record.lease_until < db_epoch()
    free = or_(record.owner.is_(None), record.lease_until.is_(None), ran_out)
    return free if owner is None else or_(free, record.owner == owner)


def claim(owner: Any, lease_s: Any) -> dict[str, Any]:
    """The values a starting delivery writes: itself as owner, for `lease_s`."""
    return {"owner": owner, "lease_until": db_epoch() + lease_s}


RELEASED: dict[str, Any] = {"owner": None, "lease_until": None}


def held(connection: Connection, task_id: str) -> Held | None:
    """Who holds the lease of `task_id` and for how long yet, or None if it is free."""
    row = connection.execute(
        select(TaskRecord.owner, TaskRecord.lease_until - db_epoch()).where(
            TaskRecord.id == task_id, ~may_take(None)
        )
    ).first()
    return None if row is None else Held(str(row[0]), max(float(row[1] or 0.0), 0.0))


def free(db: Database, task_id: str, prefix: str) -> bool:
    """Free the lease of `task_id` if a delivery whose token starts with `prefix` holds it (its
    pool process died): the next delivery need not wait for it to run out."""
    stmt = (
        update(TaskRecord)
        .where(
            TaskRecord.id == task_id,
            TaskRecord.state.in_(RUNNING),
            TaskRecord.owner.startswith(prefix, autoescape=True),
        )
        .values(owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    with db.engine.begin() as connection:
        return bool(getattr(connection.execute(stmt), "rowcount", 0))


def renew(db: Database, prefix: str, task_ids: Iterable[str], lease_s: float) -> int:
    """Extend the leases this worker's deliveries hold (owner tokens starting with `prefix`)
    of `task_ids` by `lease_s` from now; returns how many. Never takes a lease."""
    ids = sorted(set(task_ids))
    if not ids:
        return 0
    stmt = (
        update(TaskRecord)
        .where(
            TaskRecord.id.in_(ids),
            TaskRecord.state.in_(RUNNING),
            TaskRecord.owner.startswith(prefix, autoescape=True),
        )
        .values(lease_until=db_epoch() + lease_s)
        .execution_options(synchronize_session=False)
    )
    with db.engine.begin() as connection:
        return int(getattr(connection.execute(stmt), "rowcount", 0) or 0)
