"""Reconciliation: tasks whose message is gone are sent again (or failed), downloads too."""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from typing import Any

import redis
from sqlalchemy import select

from core.base.db import Database
from core.base.models import Download, TaskRecord, utcnow
from core.base.services import Services
from core.base.transitions import transition
from core.downloads import state
from core.downloads.service import send
from core.downloads.state import ACTIVE
from core.jobs import records as jobs
from core.jobs import task_lifecycle, unacked
from core.jobs.taskdefs import TaskState

log = logging.getLogger(__name__)
# Task id -> when a reconciliation first found its message nowhere (Redis server time).
MISSING_KEY = "aula:reconcile:missing"
LOST_LIMIT = 500


def lost_tasks(
    db: Database, client: Any, present: set[str], now: float, grace_s: float
) -> list[TaskRecord]:
    """Unfinished single-instance task records (they block requests of their kind) whose message
    no queue, unacked set or live worker has held for `grace_s`: seen missing in rounds that far
    apart, so a message between a worker's pop and its unacked write, or a worker's first
    liveness write after a flush, is not mistaken for lost."""
    cutoff = utcnow() - timedelta(seconds=grace_s)
    with db.session() as session:
        records = list(
            session.scalars(
                select(TaskRecord)
                .where(
                    TaskRecord.active_key.is_not(None),
                    # A task canceled while running keeps its key until it ends: if it is
                    # gone, nothing else will free the key.
                    TaskRecord.state.not_in(jobs.FINISHED - {TaskState.REVOKED}),
                    TaskRecord.updated_at < cutoff,
                )
                .limit(LOST_LIMIT)
            )
        )
    missing = {r.id for r in records if r.id not in present}
    seen = {_text(k): float(v) for k, v in client.hgetall(MISSING_KEY).items()}
    pipe = client.pipeline()
    if set(seen) - missing:
        pipe.hdel(MISSING_KEY, *(set(seen) - missing))
    for task_id in missing - set(seen):
        pipe.hset(MISSING_KEY, task_id, now)
    pipe.execute()
    return [r for r in records if r.id in missing and now - seen.get(r.id, now) >= grace_s]


def resend_lost(services: Services, client: Any, lost: list[TaskRecord]) -> int:
    """Send a lost single-instance task again under its own id, so later requests of its kind
    find it queued rather than dead; returns how many were sent."""
    sent = 0
    for record in lost:
        client.hdel(MISSING_KEY, record.id)
        if record.state == TaskState.REVOKED:
            _free_key(services, record.id)
            continue
        holder = jobs.waits_for(record.active_key)
        if holder is not None:  # never sent: it starts once its key is free (if it is not yet)
            sent += jobs.start_follow_up(services.db, services.broker, holder) is not None
            continue
        values = {"state": TaskState.PENDING, "deliveries": 0, "updated_at": utcnow()}
        with services.db.engine.begin() as connection:
            claimed = transition(  # one sender only (the reaper and cleanup may race)
                connection, TaskRecord, record.id, task_lifecycle.SOURCES["resend"], values,
                where=[TaskRecord.updated_at == record.updated_at],
            )  # fmt: skip
        if claimed is None:
            continue
        services.broker.send_task(
            record.name,
            kwargs=record.args,
            task_id=record.id,
            queue=record.queue,
            headers={"request_id": record.request_id},
        )
        sent += 1
        log.warning("single task %s (%s) lost its message; sent again", record.id, record.name)
    return sent


def _free_key(services: Services, task_id: str) -> None:
    with services.db.engine.begin() as connection:
        key = task_lifecycle.release_key(connection, task_id)
    if key is not None:
        log.warning("canceled task %s is gone; its key %s is free", task_id, key)
        jobs.start_follow_up(services.db, services.broker, key)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def queued_task_ids(client: redis.Redis) -> set[str]:
    """Ids of task messages waiting in the broker or delivered but not yet acknowledged."""
    return unacked.waiting_task_ids(client, jobs.QUEUES)


def reconcile_downloads(services: Services, live: set[str], grace_s: float = 120) -> dict[str, int]:
    """Send again downloads stuck queued/running whose task no worker or queue holds."""
    cutoff = utcnow() - timedelta(seconds=grace_s)
    with services.db.session() as session:
        stuck = list(
            session.scalars(
                select(Download).where(
                    Download.state.in_(ACTIVE),
                    Download.updated_at < cutoff,
                    Download.waiting_reason.is_(None),  # waiting: the dispatcher sends it
                )
            )
        )
    requeued = 0
    for download in stuck:
        if download.task_id in live:
            continue
        with services.db.session() as session:  # one guarded claim: of two cleanups one sends
            claimed = state.resend(session, download.id, download.updated_at)
        if claimed is None:
            continue  # it ended, or another cleanup sent it, meanwhile
        if download.task_id:
            lost = RuntimeError("The task was lost (broker flushed or worker gone); sent again.")
            task_lifecycle.mark_finished(
                services.db, download.task_id, TaskState.FAILURE, error=lost
            )
        send(services, download)
        requeued += 1
        log.warning("download %d had no live task; sent again", download.id)
    return {"downloads_requeued": requeued, "partials_removed": remove_dead_partials(services)}


def remove_dead_partials(services: Services) -> int:
    """Remove work-in-progress folders of downloads that are no longer queued or running."""
    root = services.settings.download_dir / ".partial"
    if not root.is_dir():
        return 0
    with services.db.session() as session:
        active = {
            str(i) for i in session.scalars(select(Download.id).where(Download.state.in_(ACTIVE)))
        }
    removed = 0
    for folder in root.iterdir():
        if folder.name not in active:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def live_ids(inspect_replies: list[dict[str, Any] | None]) -> set[str]:
    """Task ids from Celery inspect replies (active, reserved, scheduled)."""
    ids: set[str] = set()
    for reply in inspect_replies:
        for tasks in (reply or {}).values():
            for task in tasks:
                ids.add(str(task.get("id") or (task.get("request") or {}).get("id")))
    return ids
