"""Webhook bodies (core/downloads/payloads.py) match the API schemas' downloads and tasks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from marshmallow import Schema

from api.downloads import DownloadSchema
from api.extensions import SERVICES
from api.schemas import TaskSchema
from core.base.db import Database
from core.base.models import CatalogItem, Download, TaskRecord
from core.downloads import payloads

# The signed file link is left out of webhook bodies on purpose: it is a credential for the file
# that a receiver would keep, and it expires (MEDIA_URL_TTL_S) long before a retry may arrive.
LINK_ONLY_IN_THE_API = "file_url"

T0 = datetime(2026, 12, 4, 9, 30, 15, 123456, tzinfo=UTC)
DOWNLOADS: dict[str, dict[str, Any]] = {
    "queued": {"url": "https://videos.example/a", "kind": "ytdlp", "state": "queued",
               "waiting_reason": "outside_window"},
    "running": {
        "url": "https://videos.example/b", "kind": "ytdlp", "state": "running", "title": "B",
        "format": "bv*+ba/b", "task_id": "t-b", "attempts": 1, "started_at": T0,
        "progress": {"downloaded_bytes": 10, "total_bytes": 100, "percent": 10.0,
                     "speed_bps": 5, "eta_s": 18},
    },
    "succeeded": {
        "url": "https://drive.example/c", "kind": "drive", "state": "succeeded", "title": "C",
        "item_id": "a catalog item", "protected": True,
        "file_path": "c/data.mp4", "file_size": 1234, "sha256": "ab" * 32, "attempts": 2,
        "created_at": T0 - timedelta(minutes=1), "started_at": T0,
        "finished_at": T0 + timedelta(seconds=3),
        "progress": {"downloaded_bytes": 1234, "total_bytes": 1234, "percent": 100.0},
    },
    "succeeded, file gone": {
        "url": "https://videos.example/d", "kind": "ytdlp", "state": "succeeded",
        "finished_at": T0,
    },
    "failed": {
        "url": "https://videos.example/e", "kind": "ytdlp", "state": "failed", "attempts": 3,
        "error": "Video unavailable", "finished_at": T0,
    },
}  # fmt: skip
TASKS: dict[str, dict[str, Any]] = {
    "pending": {"name": "maintenance.cleanup", "state": "PENDING"},
    "running, progress with more than it shows": {
        "name": "catalog.rebuild", "state": "PROGRESS", "started_at": T0,
        "progress": {"current": 2, "total": 7, "percent": 28.6, "message": "h\u00e9",
                     "written_at": 1733300000.0},
    },
    "succeeded": {
        "name": "catalog.sync", "state": "SUCCESS", "started_at": T0, "finished_at": T0,
        "result": {"added": 3, "removed": 0}, "progress": {"current": 1, "total": 1},
    },
    "failed, error with more than it shows": {
        "name": "classroom.sync", "state": "FAILURE", "finished_at": T0,
        "error": {"type": "OSError", "message": "disk full", "traceback": "Traceback ..."},
    },
}  # fmt: skip


def db_of(app: Flask) -> Database:
    db: Database = app.extensions[SERVICES].db
    return db


def as_sent(body: dict[str, Any]) -> Any:
    """The body as core.notify.notifications serialises it into a delivery."""
    return json.loads(json.dumps(body, default=str))


def as_answered(app: Flask, schema: Schema, row: Any) -> Any:
    """The JSON the API answers for `row` (the admin reads, so links are plain paths)."""
    with app.test_request_context():
        return json.loads(app.json.response(schema.dump(row)).get_data())


def stored(app: Flask, model: type[Any], **values: Any) -> Any:
    with db_of(app).session() as session:
        row = model(**values)
        session.add(row)
        session.flush()
        key = row.id
    with db_of(app).session() as session:  # read back, as a sender or a view reads it
        return session.get(model, key)


@pytest.mark.parametrize("case", list(DOWNLOADS))
def test_a_download_webhook_body_is_the_api_download(quiet_app: Flask, case: str) -> None:
    values = dict(DOWNLOADS[case])
    if "item_id" in values:  # a real catalog row for the foreign key
        values["item_id"] = stored(
            quiet_app, CatalogItem, source="drive", source_id=f"f-{case}", title="C", is_video=True
        ).id
    row = stored(quiet_app, Download, **values)
    answered = as_answered(quiet_app, DownloadSchema(), row)
    answered.pop(LINK_ONLY_IN_THE_API)
    if answered["file"] is not None:
        answered["file"].pop("url")

    assert as_sent(payloads.download(row)) == answered


@pytest.mark.parametrize("case", list(TASKS))
def test_a_task_webhook_body_is_the_api_task(quiet_app: Flask, case: str) -> None:
    row = stored(
        quiet_app, TaskRecord, id=f"task-{abs(hash(case))}", queue="default", args={},
        created_at=T0, updated_at=T0, **TASKS[case],
    )  # fmt: skip

    assert as_sent(payloads.task(row)) == as_answered(quiet_app, TaskSchema(), row)


def test_the_cases_cover_every_field_with_a_value() -> None:
    # A field the cases never fill would compare None with None and prove nothing about it.
    shown = {"downloads": DownloadSchema().fields, "tasks": TaskSchema().fields}
    filled = {
        "downloads": {key for case in DOWNLOADS.values() for key in case} | {"id", "file"},
        "tasks": {key for case in TASKS.values() for key in case} | {"id", "created_at"},
    }
    filled["downloads"].add(LINK_ONLY_IN_THE_API)  # checked to be absent instead
    for kind, fields in shown.items():
        assert set(fields) - filled[kind] == set(), kind
