"""Maintenance: sweep stale temp files and task records past their retention."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete

from core.base.db import Database
from core.base.models import TaskRecord, utcnow
from core.base.services import Services
from core.catalog.thumbnails import enforce_cap
from core.jobs.records import FINISHED
from core.subscriptions import retention as retention_rules

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None, str], object]


def _noop(_current: int, _total: int | None, _message: str) -> None:
    return None


def sweep_temp_files(root: Path, max_age_s: float, now: float | None = None) -> tuple[int, int]:
    """Remove regular files under `root` untouched for `max_age_s`; return (files, bytes)."""
    now = time.time() if now is None else now
    removed = freed = 0
    if not root.is_dir():
        return 0, 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            path = Path(dirpath, filename)
            try:
                stat = path.lstat()
                if now - stat.st_mtime < max_age_s:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue
            removed += 1
            freed += stat.st_size
    return removed, freed


def purge_task_records(db: Database, retention: timedelta) -> int:
    """Delete records of tasks that finished longer than `retention` ago; return how many."""
    cutoff = utcnow() - retention
    with db.session() as session:
        result = session.execute(
            delete(TaskRecord).where(
                TaskRecord.state.in_(FINISHED), TaskRecord.finished_at < cutoff
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def cleanup(services: Services, on_progress: Progress = _noop) -> dict[str, int]:
    """One maintenance run; idempotent, returns the counts of what it removed."""
    settings = services.settings
    on_progress(0, 3, "sweeping temporary files")
    files, freed = sweep_temp_files(settings.temp_dir, settings.temp_max_age_s)
    on_progress(1, 3, "purging old task records")
    retention = timedelta(days=settings.task_retention_days)
    records = purge_task_records(services.db, retention)
    on_progress(2, 3, "trimming the thumbnail cache")
    thumbnails, thumbnail_bytes = enforce_cap(settings)
    on_progress(3, 3, "done")
    result = {
        "temp_files_removed": files,
        "bytes_freed": freed + thumbnail_bytes,
        "task_records_removed": records,
        "thumbnails_removed": thumbnails,
        "downloads_pruned": retention_rules.apply(services),  # subscriptions' retention
    }
    log.info("cleanup finished", extra=result)
    return result
