"""Graceful worker shutdown: running tasks get a grace period, then hand their messages back.

SIGTERM is Celery's warm shutdown (stop consuming, wait for the running tasks). Celery's wait has
no bound, so the main process starts a timer when the warm shutdown begins; when
WORKER_SHUTDOWN_GRACE_S has passed it raises a stop flag that every pool child can read (shared
memory made before the pool forks). Tasks poll it where they report progress and answer by
rejecting their message with requeue: the message goes back to the head of its queue, the task
record returns to PENDING, and a download keeps its partial file for the next delivery to resume.
A task that never polls is cut by Celery's own cold shutdown (SIGQUIT) a little later; its unacked
message is restored by kombu when the worker's connection closes.

Only the main process should get SIGTERM (docker, systemd's KillMode=mixed): a pool child that gets
it directly dies at once, and its message is redelivered as after a crash.
"""

from __future__ import annotations

import logging
import mmap
import os
import signal
import threading
from typing import Any, NoReturn

from celery import signals
from celery.exceptions import Reject

from core.base.db import Database
from core.base.services import Services
from core.jobs import task_lifecycle
from core.jobs.taskdefs import TaskName

log = logging.getLogger(__name__)
# Not Celery's worker_soft_shutdown_timeout: measured on 5.7.0 with 3 s, SIGTERM still waited 18.8 s
# for a 20 s task; only SIGQUIT starts it, and then the task is killed (no hand-back, record stale).
# How long a task may ignore the raised stop flag before Celery's cold shutdown cuts it.
FORCE_AFTER_S = 10.0

_flag: mmap.mmap | None = None
# The worker's services, kept at worker_init (this module is imported before tasks.app exists).
_services: list[Services] = []
_started = threading.Event()


class WorkerStopping(Exception):
    """The worker is shutting down and the grace period is over: the task must hand itself back."""


def stop_requested() -> bool:
    """True once the worker's grace period is over (always False outside a worker)."""
    return _flag is not None and _flag[0] == 1


def release(db: Database, task_id: str | None) -> NoReturn:
    """Record the task as queued again and reject its message with requeue (it runs again)."""
    if task_id:
        task_lifecycle.mark_released(db, task_id)
    log.warning("task handed back to the queue: the worker is shutting down")
    raise Reject("worker shutting down", requeue=True) from None


@signals.worker_init.connect
def _share_flag(sender: Any = None, **_: Any) -> None:
    global _flag
    _services[:] = [sender.app.services]
    # Anonymous MAP_SHARED memory, made in the main process before the pool forks: every child
    # (also those forked later, after max_tasks_per_child) sees the main process's write.
    _flag = mmap.mmap(-1, 1)


@signals.worker_shutting_down.connect
def _start_grace(how: str = "", **_: Any) -> None:
    if how != "Warm" or _started.is_set():
        return  # a cold shutdown cuts tasks anyway; a second SIGTERM changes nothing
    _started.set()
    grace = _services[0].settings.worker_shutdown_grace_s
    log.warning(
        "worker shutting down: running tasks have %s s to finish", grace, extra={"grace_s": grace}
    )
    _daemon_timer(grace, _grace_over)


def _grace_over() -> None:
    if _flag is not None:
        _flag[0] = 1
    log.warning("shutdown grace period over: running tasks hand their messages back")
    _daemon_timer(FORCE_AFTER_S, _force)


def _force() -> None:
    from celery.worker import state

    log.warning("tasks still running %s s after the grace period: cold shutdown", FORCE_AFTER_S)
    db = _services[0].db
    for request in list(state.active_requests):
        try:  # their messages go back to the queue: their records say so, not "running"
            task_lifecycle.mark_released(db, request.id)
            _release_download(request)
        except Exception as error:
            log.warning("could not mark a cut task as queued: %s", type(error).__name__)
    os.kill(os.getpid(), signal.SIGQUIT)


def _release_download(request: Any) -> None:
    # A download cut here is handed back, not a worker that died: not a crash delivery.
    download_id = (getattr(request, "kwargs", None) or {}).get("download_id")
    if getattr(request, "name", None) == TaskName.DOWNLOADS_FETCH and download_id is not None:
        from core.downloads import run

        run.release(_services[0].db, int(download_id))


def _daemon_timer(seconds: float, action: Any) -> None:
    timer = threading.Timer(seconds, action)
    timer.daemon = True  # the worker exits as soon as its tasks are done, timer or not
    timer.start()
