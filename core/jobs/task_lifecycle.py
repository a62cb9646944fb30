"""A task record while a worker runs it: deliveries counted, progress, retries, release and end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, literal, select, update

from core.base.db import Database
from core.base.errors import PermanentError
from core.base.models import TaskRecord, utcnow
from core.jobs.records import FINISHED
from core.jobs.taskdefs import TaskState

# Deliveries that may start and never end (the worker died each time) before a task is failed.
MAX_CRASH_DELIVERIES = 3


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


def _update(db: Database, task_id: str, **values: Any) -> None:
    # One UPDATE statement, no read first: a task's start and its end each cost one write.
    with db.engine.begin() as connection:
        connection.execute(update(TaskRecord).where(TaskRecord.id == task_id).values(**values))


def begin_delivery(db: Database, task_id: str) -> int | None:
    """A worker began (or began again, after a redelivery) to run the task: one UPDATE.

    Returns how many deliveries of the task have started without ending, this one included (0
    when it has no record), or None if the record says REVOKED (canceled while queued): the
    task must not run.
    """
    now = literal(utcnow(), TaskRecord.started_at.type)
    values = {
        "state": TaskState.STARTED,
        "started_at": func.coalesce(TaskRecord.started_at, now),
        "finished_at": None,
        "error": None,
        # Back to 0 when the delivery ends (finished, retried, released): what is left counts
        # the workers that died under it.
        "deliveries": TaskRecord.deliveries + 1,
    }
    with db.engine.begin() as connection:
        started = connection.execute(
            update(TaskRecord)
            .where(TaskRecord.id == task_id, TaskRecord.state != TaskState.REVOKED)
            .values(**values)
            .returning(TaskRecord.deliveries)
        ).first()
        if started is not None:
            return int(started[0])
        # Rare: no record at all (it runs), or a canceled one (it does not).
        state = connection.scalar(select(TaskRecord.state).where(TaskRecord.id == task_id))
    return None if state == TaskState.REVOKED else 0


def mark_started(db: Database, task_id: str) -> bool:
    """begin_delivery, answering only whether the task may run (False: canceled while queued)."""
    return begin_delivery(db, task_id) is not None


def mark_retry(db: Database, task_id: str, error: BaseException | None) -> None:
    """The task failed transiently and will run again."""
    with db.session() as session:
        record = session.get(TaskRecord, task_id)
        if record is None:
            return
        record.state = TaskState.RETRY
        record.retries += 1
        record.deliveries = 0
        record.error = error_dict(error) if error is not None else None


def mark_released(db: Database, task_id: str) -> None:
    """A shutting-down worker handed the task back to the queue: it waits for a worker again."""
    with db.session() as session:
        record = session.get(TaskRecord, task_id)
        if record is None or record.state in FINISHED:
            return
        record.state = TaskState.PENDING
        record.deliveries = 0  # handed back on purpose: not a worker that died


def mark_finished(
    db: Database,
    task_id: str,
    state: str,
    *,
    result: Any = None,
    error: BaseException | None = None,
) -> None:
    """The task ended in SUCCESS, FAILURE or REVOKED."""
    values: dict[str, Any] = {
        "state": state,
        "finished_at": utcnow(),
        "active_key": None,
        "deliveries": 0,
    }
    if state == TaskState.SUCCESS:
        values["result"] = result if isinstance(result, dict) else {"value": result}
        values["error"] = None
    if error is not None:
        values["error"] = error_dict(error)
    _update(db, task_id, **values)


def error_dict(error: BaseException) -> dict[str, str]:
    """The contract's `{"type", "message"}` for an exception, never a traceback."""
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    # An error may name its contract type (GoogleReconnectRequired: google_reconnect_required).
    kind = getattr(error, "error_type", None) or type(error).__name__
    return {"type": kind, "message": message[:2000]}


class ProgressReporter:
    """Writes a task's progress at most every `interval` seconds (and always at the end)."""

    def __init__(self, db: Database, task_id: str, interval: float = 0.5) -> None:
        self.db = db
        self.task_id = task_id
        self.interval = interval
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
        with self.db.session() as session:
            record = session.get(TaskRecord, self.task_id)
            if record is not None and record.state not in FINISHED:
                record.state = TaskState.PROGRESS
                record.progress = progress
        return True
