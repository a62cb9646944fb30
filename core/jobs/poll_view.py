"""What a task poll reads: the record's tag alone (for a 304), or its shown fields and tag.

The tag comes from the record's `updated_at`, which every write to a task record sets (the
column's `onupdate`, for Core and ORM writes alike), with its state and id: a poll holding the
current tag is answered from a two-column read, before any shown field is loaded or serialised.
`updated_at` is read as the database's own text (no datetime parsing): only its equality matters.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import String, bindparam, select, type_coerce

from core.base.db import Database
from core.base.errors import NotFound
from core.base.models import TaskRecord
from core.base.prepared import PreparedRead

_STAMP = (TaskRecord.state, type_coerce(TaskRecord.updated_at, String).label("stamp"))
# Both run as prepared reads (core/base/prepared.py): no ORM session, no Connection.
TAG_QUERY = select(*_STAMP).where(TaskRecord.id == bindparam("task_id"))
_TAG = PreparedRead(TAG_QUERY)
# What GET /api/tasks/{id} shows, then the tag's stamp.
VIEW_QUERY = select(
    TaskRecord.id,
    TaskRecord.name,
    TaskRecord.state,
    TaskRecord.progress,
    TaskRecord.result,
    TaskRecord.error,
    TaskRecord.created_at,
    TaskRecord.started_at,
    TaskRecord.finished_at,
    _STAMP[1],
).where(TaskRecord.id == bindparam("task_id"))
_VIEW = PreparedRead(VIEW_QUERY)


def tag_of(task_id: str, state: str, stamp: object) -> str:
    """The ETag of a record in `state` last written at `stamp`."""
    text = f"{task_id}|{state}|{stamp}".encode()
    return hashlib.sha1(text, usedforsecurity=False).hexdigest()


def read_tag(db: Database, task_id: str) -> str | None:
    """The current tag of `task_id`'s record, None if there is no such record."""
    row = _TAG.first(db.engine, task_id=task_id)
    return None if row is None else tag_of(task_id, *row)


def read_view_or_none(db: Database, task_id: str) -> tuple[dict[str, Any], str] | None:
    """The shown fields of `task_id`'s record as read now, and their tag; None if no record."""
    view = _VIEW.first_dict(db.engine, task_id=task_id)
    if view is None:
        return None
    return view, tag_of(task_id, view["state"], view.pop("stamp"))


def read_view(db: Database, task_id: str) -> tuple[dict[str, Any], str]:
    """The shown fields of `task_id`'s record as read now, and their tag; or NotFound."""
    found = read_view_or_none(db, task_id)
    if found is None:
        raise NotFound(f"No task with id {task_id!r}.")
    return found
