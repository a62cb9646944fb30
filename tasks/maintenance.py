"""Maintenance tasks."""

from __future__ import annotations

from typing import Any

from core import maintenance, notifications, reconcile
from core.settings import get_settings
from tasks.app import AulaTask, app


@app.task(name="maintenance.cleanup", bind=True)
def cleanup(self: AulaTask) -> dict[str, Any]:
    """Remove stale temp files, old task records and deliveries, surplus thumbnails; send again
    downloads and webhook deliveries that lost their task. Idempotent; transient errors retried."""
    settings = get_settings()
    result: dict[str, Any] = maintenance.cleanup(settings, on_progress=self.progress)
    inspect = app.control.inspect(timeout=1.0)
    live = reconcile.live_ids([inspect.active(), inspect.reserved(), inspect.scheduled()])
    live |= reconcile.queued_task_ids(settings.redis_url)
    result.update(reconcile.reconcile_downloads(settings, app, live))
    result["deliveries_sent"] = notifications.dispatch(settings, app)  # any the broker lost
    result["deliveries_removed"] = notifications.prune(settings)
    return result
