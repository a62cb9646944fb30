"""Task records: created before a message is sent by name, updated from signals and progress."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.base.db import Database
from core.base.errors import BrokerUnavailable, Conflict
from core.base.logging import request_id_var
from core.base.models import TaskRecord, utcnow
from core.base.pagination import Page, keyset_page
from core.base.services import TaskBroker
from core.base.transitions import transition
from core.jobs.task_lifecycle import FINISHED as FINISHED
from core.jobs.task_lifecycle import RUNNING as RUNNING
from core.jobs.task_lifecycle import SOURCES, release_key
from core.jobs.taskdefs import QueueName, TaskName, TaskState
from core.jobs.taskdefs import queue_for as _queue_of

log = logging.getLogger(__name__)

STATES = tuple(str(state) for state in TaskState)
TASK_NAMES = tuple(str(name) for name in TaskName)
QUEUES = tuple(str(queue) for queue in QueueName)


def queue_for(name: str) -> str:
    """The queue a task name is routed to (core.jobs.taskdefs' table)."""
    return str(_queue_of(name))


# The key of the one follow-up task that waits while a single-instance task of `key` runs.
FOLLOW_UP = "{key}:next"
_JOIN_ATTEMPTS = 5  # each failed round means the holder ended meanwhile: the next one sees it free


def enqueue(
    db: Database,
    broker: TaskBroker,
    name: str,
    kwargs: dict[str, Any] | None = None,
    *,
    single: str | None = None,
    join_running: bool = False,
) -> TaskRecord:
    """Record a task, then send it by name; if the broker refuses, forget the record and raise.

    With `single`, one task with that key runs at a time, and the answer includes every change
    made before the request (CONTRACT 8.6): a task of that key still waiting to start is shared;
    while one runs, the answer is its one follow-up, sent when the running one ends; with
    `join_running`, the running one itself (a conversion: the same work, already under way).
    """
    record = _new_record(str(name), kwargs or {}, single)  # a TaskName, stored as its value
    if single is None:
        _insert(db, record)
        return _send(db, broker, record)
    for _ in range(_JOIN_ATTEMPTS):
        record.active_key = single
        if _insert(db, record):
            return _send(db, broker, record)
        holder = _active(db, single)
        if holder is None:
            continue  # it ended between our INSERT and our look: try again
        if holder.state == TaskState.PENDING or (join_running and holder.state not in FINISHED):
            # Not started yet: it sees everything done before now. With join_running, a running
            # one too (a canceled one still ending gets a follow-up, as below).
            return holder
        follow_up = _follow_up(db, broker, record, single)
        if follow_up is not None:
            return follow_up
    raise Conflict("Tasks of this kind are starting and ending too fast; try again.")


def _new_record(name: str, kwargs: dict[str, Any], single: str | None) -> TaskRecord:
    now = utcnow()
    return TaskRecord(
        id=str(uuid.uuid4()), name=name, queue=queue_for(name), args=kwargs,
        request_id=request_id_var.get() or uuid.uuid4().hex, active_key=single,
        state=TaskState.PENDING, retries=0, created_at=now, updated_at=now,
    )  # fmt: skip


def _insert(db: Database, record: TaskRecord) -> bool:
    """INSERT the record; False if its active_key is taken."""
    try:
        # One Core INSERT (no ORM session): half the cost of the record's write.
        with db.engine.begin() as connection:
            connection.execute(insert(TaskRecord), _columns(record))
    except IntegrityError:
        if record.active_key is None:
            raise
        return False
    return True


def _follow_up(
    db: Database, broker: TaskBroker, record: TaskRecord, single: str
) -> TaskRecord | None:
    """The one follow-up of the running task of `single`: this record, made so, or the one
    already waiting; None if the running one ended meanwhile (then ask again)."""
    record.active_key = FOLLOW_UP.format(key=single)
    if not _insert(db, record):
        return _active(db, record.active_key)
    start_follow_up(db, broker, single)  # in case the running one ended before our INSERT
    return get_record(db, record.id)


def waits_for(key: str | None) -> str | None:
    """The key whose running task a follow-up of `key` waits for (None: not a follow-up)."""
    suffix = FOLLOW_UP.format(key="")
    return key[: -len(suffix)] if key and key.endswith(suffix) else None


def start_follow_up(db: Database, broker: TaskBroker, key: str) -> str | None:
    """Send the follow-up waiting for `key`, once no task holds `key`; returns its id.

    One guarded UPDATE moves the follow-up onto the key: the unique index refuses it while a
    task still holds the key, and of two callers (the ending task, a new request) one wins."""
    try:
        with db.engine.begin() as connection:
            row = connection.execute(
                update(TaskRecord)
                .where(
                    TaskRecord.active_key == FOLLOW_UP.format(key=key),
                    TaskRecord.state == TaskState.PENDING,
                )
                .values(active_key=key, updated_at=utcnow())
                .returning(TaskRecord.id, TaskRecord.name, TaskRecord.args, TaskRecord.request_id)
            ).first()
    except IntegrityError:
        return None  # the key is held: its holder starts the follow-up when it ends
    if row is None:
        return None
    try:
        broker.send_task(
            row.name, kwargs=row.args, task_id=row.id, queue=queue_for(row.name),
            headers={"request_id": row.request_id},
        )  # fmt: skip
    except Exception as error:  # the reconciler sends a lost single-instance task again
        log.error("could not send follow-up %s: %s", row.name, type(error).__name__)
    return str(row.id)


def _send(db: Database, broker: TaskBroker, record: TaskRecord) -> TaskRecord:
    name, queue = record.name, record.queue
    try:
        broker.send_task(
            name, kwargs=record.args, task_id=record.id, queue=queue,
            headers={"request_id": record.request_id},
        )  # fmt: skip
    except Exception as error:
        log.error("could not send %s to the broker: %s", name, type(error).__name__)
        with db.session() as session:
            session.execute(delete(TaskRecord).where(TaskRecord.id == record.id))
        raise BrokerUnavailable("The task broker is unavailable; try again shortly.") from None
    log.info("enqueued %s", name, extra={"enqueued_task_id": record.id, "queue": queue})
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
    """Revoke a task: dropped if still queued, terminated if running; finished tasks conflict.

    Decided by the state the guarded UPDATE replaced, never by a read before it: a task found
    running is terminated and keeps its single-instance key until it has really ended."""
    values = {
        "state": TaskState.REVOKED,
        "finished_at": utcnow(),
        "error": {"type": "Revoked", "message": "Canceled by request."},
    }
    with db.engine.begin() as connection:
        queued = transition(connection, TaskRecord, task_id, SOURCES["cancel_queued"], values)
        running = None
        if queued is None:
            running = transition(connection, TaskRecord, task_id, SOURCES["cancel_running"], values)
        key = release_key(connection, task_id) if queued is not None else None
    if queued is None and running is None:
        raise Conflict(f"The task already ended in state {get_record(db, task_id).state}.")
    try:
        broker.control.revoke(task_id, terminate=running is not None, signal="SIGTERM")
    except Exception as error:
        # The record already says REVOKED and workers check it before running.
        log.warning("revoke broadcast failed: %s", type(error).__name__)
    if key is not None:
        start_follow_up(db, broker, key)
    return get_record(db, task_id)
