"""Maintenance tasks."""

from __future__ import annotations

from core import maintenance
from core.settings import get_settings
from tasks.app import AulaTask, app


@app.task(name="maintenance.cleanup", bind=True)
def cleanup(self: AulaTask) -> dict[str, int]:
    """Remove stale temp files and old task records; idempotent; transient errors retried."""
    return maintenance.cleanup(get_settings(), on_progress=self.progress)
