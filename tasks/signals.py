"""Celery signal handlers: logging, fresh DB engines per child, and task records kept current."""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

from celery import signals

from core.base.db import prepare_schema, reset_engines
from core.base.logging import (
    configure_process_logging,
    request_id_var,
    task_id_var,
    task_name_var,
)
from core.jobs import leases, task_lifecycle
from core.jobs import records as jobs
from core.jobs.taskdefs import TaskState
from tasks import metrics
from tasks.app import services

log = logging.getLogger(__name__)


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    configure_process_logging(services.settings)


@signals.worker_init.connect
@signals.beat_init.connect
def _prepare(**_: Any) -> None:
    settings = services.settings
    for folder in (settings.data_dir, settings.temp_dir, settings.download_dir):
        folder.mkdir(parents=True, exist_ok=True)
    prepare_schema(services.db.url, settings.migrate_on_start)


@signals.worker_init.connect
def _serve_metrics(**_: Any) -> None:
    settings = services.settings
    metrics.start(settings.data_dir, settings.worker_metrics_port, settings.worker_metrics_address)


@signals.worker_process_shutdown.connect
def _child_exited(pid: int | None = None, **_: Any) -> None:
    metrics.process_exited(pid or os.getpid())


@signals.worker_process_init.connect
def _fresh_engines(**_: Any) -> None:
    # A forked child must not share the parent's database connections.
    reset_engines()


@signals.before_task_publish.connect
def _record_published(
    sender: str | None = None, headers: dict[str, Any] | None = None, body: Any = None, **_: Any
) -> None:
    # Beat and retries publish through Celery itself: give those tasks a record and a request id.
    if headers is None or sender is None:
        return
    if not headers.get("request_id"):
        headers["request_id"] = request_id_var.get() or uuid.uuid4().hex
    kwargs = body[1] if isinstance(body, (list, tuple)) and len(body) > 1 else {}
    jobs.ensure_record(services.db, headers["id"], sender, kwargs or {}, headers["request_id"])


@signals.task_prerun.connect
def _started(task_id: str, task: Any, **_: Any) -> None:
    task_id_var.set(task_id)
    task_name_var.set(task.name)
    request_id_var.set(getattr(task.request, "request_id", None))
    metrics.task_started(task_id)
    # One write, which also says whether the task was canceled while queued (AulaTask skips it),
    # how often its worker died under it (AulaTask gives up past a bound), and takes the owner
    # lease of this delivery (a twin of a live delivery gets Held: AulaTask defers it).
    owner = leases.new_owner()
    lease_s = services.settings.worker_liveness_ttl_s
    deliveries = task_lifecycle.begin_delivery(services.db, task_id, owner, lease_s)
    task.request.aula_deliveries = deliveries
    task.request.aula_owner = owner
    if deliveries is None:  # it ended already (canceled while queued): it will not run
        _ended(task_id, None)


@signals.task_postrun.connect
def _clear_context(task_id: str, task: Any, state: str | None = None, **_: Any) -> None:
    metrics.task_finished(task_id, task.name, state)
    task_id_var.set(None)
    task_name_var.set(None)
    request_id_var.set(None)


def _ended(task_id: str, key: str | None) -> None:
    # The single-instance key is free once the task has really ended: its follow-up starts.
    if key is None:
        with services.db.engine.begin() as connection:
            key = task_lifecycle.release_key(connection, task_id)
    if key is not None:
        jobs.start_follow_up(services.db, services.broker, key)


@signals.task_success.connect
def _succeeded(sender: Any, result: Any = None, **_: Any) -> None:
    task_id = sender.request.id
    key = task_lifecycle.mark_finished(services.db, task_id, TaskState.SUCCESS, result=result)
    if key is not None:
        _ended(task_id, key)


@signals.task_failure.connect
def _failed(task_id: str, exception: BaseException, **_: Any) -> None:
    key = task_lifecycle.mark_finished(services.db, task_id, TaskState.FAILURE, error=exception)
    if key is not None:
        _ended(task_id, key)


@signals.task_retry.connect
def _retrying(request: Any, reason: Any = None, **_: Any) -> None:
    error = reason if isinstance(reason, BaseException) else None
    task_lifecycle.mark_retry(services.db, request.id, error)


@signals.task_revoked.connect
def _revoked(request: Any, terminated: bool = False, **_: Any) -> None:
    log.info("task %s revoked (terminated=%s)", request.id, terminated)
    key = task_lifecycle.mark_finished(services.db, request.id, TaskState.REVOKED)
    if key is not None:
        _ended(request.id, key)
