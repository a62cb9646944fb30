"""Maintenance tasks."""

from __future__ import annotations

from typing import Any

from core.downloads import reconcile
from core.jobs import liveness
from core.jobs.taskdefs import TaskName
from core.notify import notifications
from core.ops import maintenance
from tasks.app import AulaTask, app, services
from tasks.liveness import find_and_resend_lost


@app.task(name=TaskName.MAINTENANCE_CLEANUP, bind=True)
def cleanup(self: AulaTask) -> dict[str, Any]:
    """Remove stale temp files, old task records and deliveries, surplus thumbnails; send again
    downloads and webhook deliveries that lost their task, and single-instance tasks whose
    message is gone. Idempotent; transient errors retried."""
    result: dict[str, Any] = maintenance.cleanup(services, on_progress=self.progress)
    inspect = app.control.inspect(timeout=1.0)
    live = reconcile.live_ids([inspect.active(), inspect.reserved(), inspect.scheduled()])
    live |= reconcile.queued_task_ids(services.redis())
    result.update(reconcile.reconcile_downloads(services, live))
    result["deliveries_sent"] = notifications.dispatch(services)  # any the broker lost
    result["deliveries_removed"] = notifications.prune(services)
    client = services.redis()
    try:  # the liveness reaper does this every round too; here it is one more look
        with app.connection_for_write() as connection:
            claims = liveness.claims(client)
            result["tasks_lost"] = find_and_resend_lost(
                services, client, connection.default_channel, claims
            )
    finally:
        client.close()
    return result
