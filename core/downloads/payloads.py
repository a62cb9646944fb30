"""Downloads and tasks as the API shows them, for webhook bodies; a finished download's event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.base.models import Download, TaskRecord
from core.base.settings import Settings
from core.downloads.state import DownloadState
from core.notify import notifications

# tests/api/test_webhook_payloads.py holds these shapes to the API's marshmallow schemas.


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def download(download: Download) -> dict[str, Any]:
    """A download as GET /api/downloads/{id} shows it (without the signed file link)."""
    empty = {"downloaded_bytes": 0, "total_bytes": None, "percent": None,
             "speed_bps": None, "eta_s": None}  # fmt: skip
    done = download.state == DownloadState.SUCCEEDED and download.file_path
    file = (
        {"path": download.file_path, "size_bytes": download.file_size, "sha256": download.sha256}
        if done
        else None
    )
    return {
        "id": download.id, "url": download.url, "item_id": download.item_id,
        "format": download.format, "title": download.title, "state": download.state,
        "progress": {**empty, **(download.progress or {})}, "file": file,
        "error": download.error, "task_id": download.task_id, "attempts": download.attempts,
        "waiting_reason": download.waiting_reason, "protected": bool(download.protected),
        "created_at": _iso(download.created_at), "started_at": _iso(download.started_at),
        "finished_at": _iso(download.finished_at),
    }  # fmt: skip


# The keys the API's task schema shows of a record's progress and error (a record may hold more).
TASK_PROGRESS_KEYS = ("current", "total", "percent", "message")
TASK_ERROR_KEYS = ("type", "message")


def _shown(value: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    return None if value is None else {key: value[key] for key in keys if key in value}


def task(record: TaskRecord) -> dict[str, Any]:
    """A task as GET /api/tasks/{id} shows it."""
    return {
        "id": record.id, "name": record.name, "state": record.state,
        "progress": _shown(record.progress, TASK_PROGRESS_KEYS), "result": record.result,
        "error": _shown(record.error, TASK_ERROR_KEYS),
        "created_at": _iso(record.created_at), "started_at": _iso(record.started_at),
        "finished_at": _iso(record.finished_at),
    }  # fmt: skip


def record_download(session: Session, settings: Settings, row: Download) -> None:
    """download.succeeded or download.failed for a download that just ended, in `session`."""
    if row.state in (DownloadState.SUCCEEDED, DownloadState.FAILED):
        session.flush()
        event = f"download.{row.state}"
        notifications.record(session, settings, event, f"download:{row.id}", download(row))
