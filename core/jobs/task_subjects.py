"""What a listed task works on, for a person to read: a catalog source, a download's title."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from core.base.db import Database
from core.base.models import Download, TaskRecord
from core.jobs.taskdefs import TaskName

# Only these arguments are shown, by name: a task's arguments are never echoed wholesale.
_SOURCE_TASKS = frozenset({TaskName.CATALOG_REBUILD, TaskName.CATALOG_SYNC})


def subjects(db: Database, records: Iterable[TaskRecord]) -> dict[str, dict[str, Any]]:
    """Task id -> `{"source"}` (catalog tasks) or `{"download_id", "title", "url"}` (downloads).

    One query for the downloads of the whole page; a task with no such subject is left out.
    """
    found: dict[str, dict[str, Any]] = {}
    downloads: dict[str, int] = {}
    for record in records:
        args = record.args or {}
        if record.name in _SOURCE_TASKS and isinstance(args.get("source"), str):
            found[record.id] = {"source": args["source"]}
        elif record.name == TaskName.DOWNLOADS_FETCH and isinstance(args.get("download_id"), int):
            downloads[record.id] = args["download_id"]
    if downloads:
        wanted = select(Download.id, Download.title, Download.url).where(
            Download.id.in_(set(downloads.values()))
        )
        with db.session() as session:
            rows = {row.id: row for row in session.execute(wanted)}
        for task_id, download_id in downloads.items():
            row = rows.get(download_id)
            found[task_id] = {
                "download_id": download_id,
                "title": row.title if row else None,
                "url": row.url if row else None,
            }
    return found
