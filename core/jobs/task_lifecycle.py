"""A task record while a worker runs it: deliveries counted, progress, retries, release and end."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import Connection, Float, bindparam, func, null, select, update

from core.base.db import Database
from core.base.errors import PermanentError
from core.base.models import TaskRecord, utcnow
from core.base.transitions import prepare, run, transition
from core.jobs import leases
from core.jobs.leases import Held
from core.jobs.taskdefs import TaskState

FINISHED = frozenset({TaskState.SUCCESS, TaskState.FAILURE, TaskState.REVOKED})

# Deliveries that may start and never end (the worker died each time) before a task is failed.
MAX_CRASH_DELIVERIES = 3
# The owner lease a delivery takes when called without one (the default WORKER_LIVENESS_TTL_S).
DEFAULT_LEASE_S = 30.0
# What a start and an end read back from their UPDATE (RETURNING): nothing else is decoded.
_DELIVERIES: Any = TaskRecord.deliveries
_ACTIVE_KEY: Any = TaskRecord.active_key


class WorkerKeptDying(PermanentError):
    """The task's worker died every time it ran it: running it again would loop forever."""


def check_crashes(deliveries: int) -> None:
    """WorkerKeptDying if the task's worker died under it MAX_CRASH_DELIVERIES times;
    `deliveries` (from begin_delivery) counts the current delivery too."""
    crashes = deliveries - 1
    if crashes >= MAX_CRASH_DELIVERIES:
        raise WorkerKeptDying(
            f"The worker stopped {crashes} times while running this task (killed, out of"
            " memory or its machine gone); giving up instead of running it again."
        )


# The states each change of a task record leaves from: the one table of what is allowed.
# Finished states are final; a redelivered message of a finished task does not run again.
UNFINISHED = frozenset({TaskState.PENDING, TaskState.STARTED, TaskState.PROGRESS, TaskState.RETRY})
RUNNING = frozenset({TaskState.STARTED, TaskState.PROGRESS})
SOURCES: dict[str, frozenset[TaskState]] = {
    # STARTED/PROGRESS too: redelivered after its worker died (and its lease ran out).
    "begin": UNFINISHED,
    # PENDING and RETRY too for a caller without an owner token (a task run outside a worker
    # delivery); a delivery's reports carry its token, and a released or retried record has
    # no owner, so a stale delivery's late report is refused there (leases.may_take).
    "progress": UNFINISHED,
    "retry": RUNNING,
    "release": RUNNING | {TaskState.RETRY},
    "finish": UNFINISHED,
    "cancel_queued": frozenset({TaskState.PENDING}),
    "cancel_running": RUNNING | {TaskState.RETRY},
    "resend": UNFINISHED,
}


def begin_delivery(
    db: Database, task_id: str, owner: str | None = None, lease_s: float = DEFAULT_LEASE_S
) -> int | Held | None:
    """A worker began (or began again, after a redelivery) to run the task: one UPDATE, which
    also takes the owner lease for `owner` (core/jobs/leases.py) if it is free.

    Returns how many deliveries of the task have started without ending, this one included (0
    when it has no record); None if the record has ended (canceled while queued, or a
    redelivered message of a task that finished); Held if another delivery that is alive holds
    the lease (a twin handed back while it runs). Only an int lets the task run.
    """
    with db.engine.begin() as connection:
        started = run(
            connection, _begin_statement(owner is not None), task_id,
            v_now=utcnow(), v_owner=owner, v_lease_s=lease_s,
        )  # fmt: skip
        if started is not None:
            return int(started.deliveries)
        # Rare: no record at all (it runs), an ended one (it does not) or a twin (it waits).
        state = connection.scalar(select(TaskRecord.state).where(TaskRecord.id == task_id))
        holder = leases.held(connection, task_id) if state in UNFINISHED else None
    if state is None:
        return 0
    if state not in UNFINISHED:
        return None
    return holder or Held("", 0.0)  # freed since the UPDATE: ask again shortly


@cache
def _begin_statement(with_owner: bool) -> Any:
    """begin_delivery's one UPDATE, built once: a twin's owner token and the lease's length are
    its parameters (`v_owner`, `v_lease_s`), with the time it starts (`v_now`)."""
    owner = bindparam("v_owner", type_=TaskRecord.owner.type) if with_owner else None
    now = bindparam("v_now", type_=TaskRecord.started_at.type)
    values = {
        "state": TaskState.STARTED,
        "started_at": func.coalesce(TaskRecord.started_at, now),
        "error": null(),
        # Back to 0 when the delivery ends (finished, retried, released): what is left counts
        # the workers that died under it.
        "deliveries": TaskRecord.deliveries + 1,
        **leases.claim(owner, bindparam("v_lease_s", type_=Float())),
    }
    where = [leases.may_take(owner)]
    return prepare(TaskRecord, SOURCES["begin"], values, where=where, returning=[_DELIVERIES])


def mark_started(db: Database, task_id: str) -> bool:
    """begin_delivery, answering only whether the task may run (False: it has ended, or a live
    delivery holds it)."""
    return isinstance(begin_delivery(db, task_id), int)


def mark_retry(db: Database, task_id: str, error: BaseException | None) -> None:
    """The task failed transiently and will run again (never over an ended record)."""
    values = {
        "state": TaskState.RETRY,
        "retries": TaskRecord.retries + 1,
        "deliveries": 0,
        "error": error_dict(error) if error is not None else None,
        **leases.RELEASED,
    }
    with db.engine.begin() as connection:
        transition(connection, TaskRecord, task_id, SOURCES["retry"], values)


def mark_released(db: Database, task_id: str) -> None:
    """A shutting-down worker handed the task back to the queue: it waits for a worker again."""
    # deliveries 0 on purpose: not a worker that died; the lease is free for the next delivery.
    values = {"state": TaskState.PENDING, "deliveries": 0, **leases.RELEASED}
    with db.engine.begin() as connection:
        transition(connection, TaskRecord, task_id, SOURCES["release"], values)


def mark_finished(
    db: Database,
    task_id: str,
    state: str,
    *,
    result: Any = None,
    error: BaseException | None = None,
) -> str | None:
    """The task ended in SUCCESS, FAILURE or REVOKED (a record that ended already keeps its
    outcome). Returns the single-instance key it released, if any: its follow-up may start."""
    values: dict[str, Any] = {"state": state, "finished_at": utcnow(), "deliveries": 0}
    values |= leases.RELEASED
    if state == TaskState.SUCCESS:
        values["result"] = result if isinstance(result, dict) else {"value": result}
        values["error"] = None
    if error is not None:
        values["error"] = error_dict(error)
    shape = tuple((key, value is None) for key, value in values.items())
    params = {f"v_{key}": value for key, value in values.items() if value is not None}
    with db.engine.begin() as connection:
        ended = run(connection, _finish_statement(shape), task_id, **params)
        if ended is not None and ended.active_key is None:
            return None  # the common case: one write
        return release_key(connection, task_id)


@cache
def _finish_statement(shape: tuple[tuple[str, bool], ...]) -> Any:
    """mark_finished's one UPDATE for a set of written columns (`shape`: each name and whether
    it is written NULL), built once; the values are its parameters `v_<column>`."""
    columns = TaskRecord.__table__.columns
    values = {
        key: null() if is_null else bindparam(f"v_{key}", type_=columns[key].type)
        for key, is_null in shape
    }
    return prepare(TaskRecord, SOURCES["finish"], values, returning=[_ACTIVE_KEY])


def release_key(connection: Connection, task_id: str) -> str | None:
    """Free the single-instance key of a task that has really ended; returns it (None if the
    task has not ended or held none)."""
    key = connection.scalar(
        select(TaskRecord.active_key).where(
            TaskRecord.id == task_id, TaskRecord.state.in_(FINISHED)
        )
    )
    if key is None:
        return None
    connection.execute(
        update(TaskRecord)
        .where(TaskRecord.id == task_id, TaskRecord.state.in_(FINISHED))
        .where(TaskRecord.active_key == key)
        .values(active_key=None)
    )
    return str(key)


def error_dict(error: BaseException) -> dict[str, str]:
    """The contract's `{"type", "message"}` for an exception, never a traceback."""
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    # An error may name its contract type (GoogleReconnectRequired: google_reconnect_required).
    kind = getattr(error, "error_type", None) or type(error).__name__
    return {"type": kind, "message": message[:2000]}


class ProgressReporter:
    """Writes a task's progress at most every `interval` seconds (and always at the end).

    With the `owner` token of the delivery reporting, each report also renews its lease for
    `lease_s`, and is written only while that delivery holds the lease."""

    def __init__(
        self,
        db: Database,
        task_id: str,
        interval: float = 0.5,
        owner: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        self.db = db
        self.task_id = task_id
        self.interval = interval
        self.owner = owner
        self.lease_s = lease_s
        self._last = float("-inf")
        self._clock: Callable[[], float] = time.monotonic

    def __call__(self, current: int, total: int | None, message: str = "") -> bool:
        """Report progress; returns True if it was written."""
        now = self._clock()
        done = total is not None and current >= total
        if not done and now - self._last < self.interval:
            return False
        self._last = now
        percent = round(100.0 * current / total, 1) if total else None
        progress = {"current": current, "total": total, "percent": percent, "message": message}
        values: dict[str, Any] = {"state": TaskState.PROGRESS, "progress": progress}
        mine: list[Any] = []
        if self.owner is not None:
            values |= leases.claim(self.owner, self.lease_s)
            mine = [TaskRecord.owner == self.owner]
        with self.db.engine.begin() as connection:  # never over an ended record
            transition(
                connection, TaskRecord, self.task_id, SOURCES["progress"], values, where=mine
            )
        return True
