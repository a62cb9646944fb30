"""The notifications.deliver task: one webhook delivery, retried with backoff until it lands."""

from __future__ import annotations

from typing import Any

from core.downloads import payloads
from core.jobs import records as jobs
from core.jobs import task_lifecycle
from core.jobs.taskdefs import TaskName, TaskState
from core.notify import notifications
from tasks import metrics
from tasks.app import AulaTask, app, services


@app.task(name=TaskName.NOTIFICATIONS_DELIVER, bind=True, max_retries=None, autoretry_for=())
def deliver(self: AulaTask, delivery_id: int) -> dict[str, Any]:
    """POST one event to one webhook URL.

    Retries 5xx, 429 (waiting at least its Retry-After), 408, timeouts and refused connections
    with doubling backoff up to WEBHOOK_RETRY_MAX_S, WEBHOOK_MAX_ATTEMPTS times in all (counted
    in the database, so a redelivered task does not start over); any other 4xx is final. At
    least once: a repeat carries the same X-Aula-Delivery id. Once it ends, the next delivery
    of the same subject (the same download) goes.
    """
    result = notifications.attempt(services, delivery_id)
    metrics.delivery_ended(result.outcome)
    if result.outcome == "retry":
        raise self.retry(countdown=result.countdown)
    if result.outcome != "gone":
        # Ended, or waiting behind an earlier one that may have ended meanwhile: pass the turn.
        notifications.dispatch(services)
    return {"delivery_id": delivery_id, "outcome": result.outcome, "status": result.status}


class AnnouncedSync(AulaTask):
    """A catalog or Classroom sync whose final failure is announced (catalog.sync.failed)."""

    def on_failure(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        super().on_failure(exc, task_id, args, kwargs, einfo)
        # Record the end first, so the event shows the task as the API will (FAILURE, error).
        task_lifecycle.mark_finished(services.db, task_id, TaskState.FAILURE, error=exc)
        try:
            record = jobs.get_record(services.db, task_id)
        except Exception:  # no record (sent by hand): nothing to announce
            return
        notifications.emit(
            services, "catalog.sync.failed", f"task:{record.name}", payloads.task(record)
        )
