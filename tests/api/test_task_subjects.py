"""The task list says what each task works on, so a UI can name it for a person."""

from __future__ import annotations

import uuid

from flask import Flask

from api.extensions import SERVICES
from core.base.db import Database
from core.base.models import Download, TaskRecord


def _task(db: Database, name: str, args: dict[str, object]) -> str:
    task_id = str(uuid.uuid4())
    with db.session() as session:
        session.add(TaskRecord(id=task_id, name=name, state="SUCCESS", args=args))
    return task_id


def test_the_list_names_the_source_and_the_download(quiet_app: Flask) -> None:
    db: Database = quiet_app.extensions[SERVICES].db
    with db.session() as session:
        titled = Download(url="https://example.org/a.mp4", kind="ytdlp", title="Aula 1")
        untitled = Download(url="https://example.org/b.mp4", kind="ytdlp")
        session.add_all([titled, untitled])
        session.flush()
        ids = titled.id, untitled.id
    tasks = {
        "rebuild": _task(db, "catalog.rebuild", {"source": "local"}),
        "sync": _task(db, "catalog.sync", {"source": "drive"}),
        "titled": _task(db, "downloads.fetch", {"download_id": ids[0]}),
        "untitled": _task(db, "downloads.fetch", {"download_id": ids[1]}),
        "gone": _task(db, "downloads.fetch", {"download_id": 987654}),
        "cleanup": _task(db, "maintenance.cleanup", {"secret_looking": "not shown"}),
    }
    body = quiet_app.test_client().get("/api/tasks?limit=10").get_json()
    shown = {item["id"]: item["subject"] for item in body["items"]}
    assert shown == {
        tasks["rebuild"]: {"source": "local"},
        tasks["sync"]: {"source": "drive"},
        tasks["titled"]: {
            "download_id": ids[0],
            "title": "Aula 1",
            "url": "https://example.org/a.mp4",
        },
        tasks["untitled"]: {
            "download_id": ids[1],
            "title": None,
            "url": "https://example.org/b.mp4",
        },
        tasks["gone"]: {"download_id": 987654, "title": None, "url": None},
        tasks["cleanup"]: None,
    }
    # The poll of one task keeps its shape (the contract's fields only): it is the hot path.
    one = quiet_app.test_client().get(f"/api/tasks/{tasks['rebuild']}").get_json()
    assert "subject" not in one
