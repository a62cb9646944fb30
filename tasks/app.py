"""The Celery app and the base class every Aula task shares."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from billiard.exceptions import WorkerLostError
from celery import Celery, Task
from celery.exceptions import Ignore
from celery.worker.request import Request

from core.base.children import kill_children
from core.base.errors import TransientError
from core.base.logging import configure_logging
from core.base.services import Services
from core.base.settings import settings_or_exit
from core.jobs import leases, task_lifecycle
from core.jobs.leases import Held
from core.jobs.records import queue_for
from core.notify import notifications
from tasks.shutdown import WorkerStopping, release, stop_requested

# `celery -A tasks` imports this module first: configure logging now rather than at Celery's
# setup_logging signal, so warnings Celery raises before that (running as root) are JSON too.
_settings = settings_or_exit()
configure_logging(_settings.log_format, _settings.log_level)
log = logging.getLogger(__name__)


class AulaRequest(Request):
    """A delivery in the worker's main process. When its pool process dies under it (the OOM
    killer's usual pick), its owner lease is freed before the message goes back to the queue
    (task_reject_on_worker_lost), so the next delivery runs at once rather than a TTL later."""

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        pid = getattr(self, "worker_pid", None)
        error = getattr(exc_info, "exception", None)
        error = getattr(error, "exc", error)  # billiard's ExceptionWithTraceback wraps it
        if isinstance(error, WorkerLostError) and pid:
            try:
                leases.free(services.db, str(self.id), leases.process_prefix(int(pid)))
            except Exception as failure:  # then the lease runs out by itself
                log.warning("could not free the lease of %s: %s", self.id, type(failure).__name__)
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)


class AulaTask(Task[Any, Any]):
    """Retries transient errors with jittered backoff; skips tasks canceled while queued.

    A task that reports progress also hands itself back to the queue when its worker shuts down
    and the grace period is over (see tasks/shutdown.py).
    """

    Request = "tasks.app:AulaRequest"  # Celery resolves it by name
    autoretry_for = (TransientError,)
    # Fail after task_lifecycle.MAX_CRASH_DELIVERIES deliveries whose worker died; False for a
    # task that bounds its own redeliveries (downloads.fetch counts per download, across task ids).
    count_crashes = True
    retry_backoff = 2
    retry_backoff_max = 600
    retry_jitter = True
    max_retries = 5

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Set at task_prerun by the one write that starts the delivery (tasks/signals.py).
        deliveries = getattr(self.request, "aula_deliveries", 0)
        if deliveries is None:  # canceled while queued
            raise Ignore()
        if isinstance(deliveries, Held):  # a twin of a delivery that still runs elsewhere
            self._defer(deliveries)
            raise Ignore()
        if self.count_crashes:
            task_lifecycle.check_crashes(deliveries)
        try:
            return super().__call__(*args, **kwargs)
        except WorkerStopping:
            release(services.db, self.request.id)
        except SystemExit:
            # revoke(terminate=True) sends SIGTERM, which billiard turns into SystemExit in the
            # pool child: what the task started (ffmpeg under yt-dlp) must not outlive it.
            kill_children(grace_s=2.0)
            raise

    def _defer(self, held: Held) -> None:
        """Send this delivery again once the owner's lease would have run out, changing nothing
        else: if the owner ends meanwhile the copy finds the record ended and skips; if it
        died, the copy takes the lease over and runs."""
        settings = services.settings
        countdown = min(held.seconds_left, settings.worker_liveness_ttl_s)
        countdown += settings.worker_liveness_interval_s
        request = self.request
        queue = (request.delivery_info or {}).get("routing_key") or queue_for(self.name)
        request_id = getattr(request, "request_id", None)
        headers = {"request_id": str(request_id)} if request_id else {}
        log.warning(
            "task %s runs on a live worker (%s); this delivery waits %.0f s",
            request.id, held.owner, countdown,
        )  # fmt: skip
        self.apply_async(
            args=tuple(request.args or ()), kwargs=dict(request.kwargs or {}), task_id=request.id,
            countdown=countdown, queue=queue, headers=headers,
        )  # fmt: skip

    @cached_property
    def _reporters(self) -> dict[str, task_lifecycle.ProgressReporter]:
        return {}

    def progress(self, current: int, total: int | None, message: str = "") -> bool:
        """Report throttled progress; raises WorkerStopping once the shutdown grace is over."""
        if stop_requested():
            raise WorkerStopping()
        task_id = self.request.id
        if task_id is None:
            return False
        reporter = self._reporters.get(task_id)
        if reporter is None:
            self._reporters.clear()
            settings = services.settings
            reporter = task_lifecycle.ProgressReporter(
                services.db, task_id, settings.progress_interval_s,
                owner=getattr(self.request, "aula_owner", None),
                lease_s=settings.worker_liveness_ttl_s,
            )  # fmt: skip
            self._reporters[task_id] = reporter
        return reporter(current, total, message)


class AulaCelery(Celery[AulaTask]):
    """Celery with a worker and beat that keep every line structured in JSON mode, and the
    process's services (its composition root), built once from the settings read at start."""

    @cached_property
    def services(self) -> Services:
        """Settings, database, this app as the broker client, and the Redis pool."""
        services = Services.build(_settings, broker=self)
        notifications.announce_needs_reconnect(services)
        return services

    @cached_property
    def Worker(self) -> Any:  # noqa: N802  (Celery's attribute name)
        from tasks.processes import QuietWorker

        return self.subclass_with_self(QuietWorker)

    @cached_property
    def Beat(self) -> Any:  # noqa: N802
        from tasks.processes import QuietBeat

        return self.subclass_with_self(QuietBeat)


app = AulaCelery("aula", task_cls=AulaTask)
app.config_from_object("celeryconfig")
services = app.services
