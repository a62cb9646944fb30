"""Task records: created before a message is sent by name, updated from signals and progress."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError

from core.base.db import Database
from core.base.errors import BrokerUnavailable, Conflict, NotFound
from core.base.logging import request_id_var
from core.base.models import TaskRecord, utcnow
from core.base.pagination import Page, keyset_page
from core.base.services import TaskBroker
from core.jobs.taskdefs import QueueName, TaskName, TaskState
from core.jobs.taskdefs import queue_for as _queue_of

log = logging.getLogger(__name__)

STATES = tuple(str(state) for state in TaskState)
FINISHED = frozenset({TaskState.SUCCESS, TaskState.FAILURE, TaskState.REVOKED})
RUNNING = frozenset({TaskState.STARTED, TaskState.PROGRESS})
TASK_NAMES = tuple(str(name) for name in TaskName)
QUEUES = tuple(str(queue) for queue in QueueName)


def queue_for(name: str) -> str:
    """The queue a task name is routed to (core.jobs.taskdefs' table)."""
    return str(_queue_of(name))


def enqueue(
    db: Database,
    broker: TaskBroker,
    name: str,
    kwargs: dict[str, Any] | None = None,
    *,
    single: str | None = None,
) -> TaskRecord:
    """Record a task, then send it by name; if the broker refuses, forget the record and raise.

    With `single`, at most one task with that key is active: while one is, its record is
    returned and nothing new is sent.
    """
    task_id = str(uuid.uuid4())
    name = str(name)  # a TaskName, stored and sent as its plain value
    kwargs = kwargs or {}
    queue = queue_for(name)
    request_id = request_id_var.get() or uuid.uuid4().hex
    now = utcnow()
    record = TaskRecord(
        id=task_id, name=name, queue=queue, args=kwargs, request_id=request_id, active_key=single,
        state=TaskState.PENDING, retries=0, created_at=now, updated_at=now,
    )  # fmt: skip
    try:
        # One Core INSERT (no ORM session): half the cost of the record's write.
        with db.engine.begin() as connection:
            connection.execute(insert(TaskRecord), _columns(record))
    except IntegrityError:
        existing = _active(db, single)
        if existing is not None:
            return existing
        raise
    try:
        broker.send_task(
            name, kwargs=kwargs, task_id=task_id, queue=queue, headers={"request_id": request_id}
        )
    except Exception as error:
        log.error("could not send %s to the broker: %s", name, type(error).__name__)
        with db.session() as session:
            session.execute(delete(TaskRecord).where(TaskRecord.id == task_id))
        raise BrokerUnavailable("The task broker is unavailable; try again shortly.") from None
    log.info("enqueued %s", name, extra={"enqueued_task_id": task_id, "queue": queue})
    return record


def _columns(record: TaskRecord) -> dict[str, Any]:
    # Unset columns are left out, as the ORM leaves them: SQL NULL, not a JSON null.
    values = {column.key: getattr(record, column.key) for column in TaskRecord.__table__.columns}
    return {key: value for key, value in values.items() if value is not None}


def _active(db: Database, key: str | None) -> TaskRecord | None:
    with db.session() as session:
        return session.scalars(select(TaskRecord).where(TaskRecord.active_key == key)).first()


def ensure_record(
    db: Database, task_id: str, name: str, kwargs: dict[str, Any], request_id: str | None
) -> None:
    """Create the record of a task sent by someone else (beat, a retry) if it has none yet."""
    with db.session() as session:
        if session.get(TaskRecord, task_id) is not None:
            return
    try:
        with db.session() as session:
            session.add(
                TaskRecord(
                    id=task_id, name=name, queue=queue_for(name), args=kwargs, request_id=request_id
                )
            )
    except IntegrityError:
        pass  # another process created it first


def get_record(db: Database, task_id: str) -> TaskRecord:
    """The record of `task_id`, or NotFound."""
    return db.get(TaskRecord, task_id, f"No task with id {task_id!r}.")


# What GET /api/tasks/{id} shows, read with one cached Core select: no ORM session per poll.
_VIEW = select(
    TaskRecord.id,
    TaskRecord.name,
    TaskRecord.state,
    TaskRecord.progress,
    TaskRecord.result,
    TaskRecord.error,
    TaskRecord.created_at,
    TaskRecord.started_at,
    TaskRecord.finished_at,
).where(TaskRecord.id == bindparam("task_id"))


def read_view(db: Database, task_id: str) -> dict[str, Any]:
    """The shown fields of `task_id`'s record as read now from the database, or NotFound."""
    with db.engine.connect() as connection:
        row = connection.execute(_VIEW, {"task_id": task_id}).first()
    if row is None:
        raise NotFound(f"No task with id {task_id!r}.")
    return row._asdict()


def list_records(
    db: Database,
    *,
    state: str | None = None,
    name: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[TaskRecord]:
    """Records newest first, optionally filtered by state and name."""
    stmt = select(TaskRecord)
    if state:
        stmt = stmt.where(TaskRecord.state == state)
    if name:
        stmt = stmt.where(TaskRecord.name == name)
    with db.session() as session:
        return keyset_page(
            session, stmt, (TaskRecord.created_at, TaskRecord.id), limit=limit, cursor=cursor
        )


def is_revoked(db: Database, task_id: str) -> bool:
    """True if the task was canceled before a worker picked it up."""
    with db.session() as session:
        record = session.get(TaskRecord, task_id)
        return record is not None and record.state == TaskState.REVOKED


def cancel(db: Database, broker: TaskBroker, task_id: str) -> TaskRecord:
    """Revoke a task: dropped if still queued, terminated if running; finished tasks conflict."""
    with db.session() as session:
        record = session.get(TaskRecord, task_id)
        if record is None:
            raise NotFound(f"No task with id {task_id!r}.")
        if record.state in FINISHED:
            raise Conflict(f"The task already ended in state {record.state}.")
        running = record.state in RUNNING
        record.state = TaskState.REVOKED
        record.active_key = None
        record.finished_at = utcnow()
        record.error = {"type": "Revoked", "message": "Canceled by request."}
    try:
        broker.control.revoke(task_id, terminate=running, signal="SIGTERM")
    except Exception as error:
        # The record already says REVOKED and workers check it before running.
        log.warning("revoke broadcast failed: %s", type(error).__name__)
    return record
