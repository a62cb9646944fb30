"""Task records: what a UI polls."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.extensions import celery_client, db
from api.schemas import TaskListArgsSchema, TaskPageSchema, TaskSchema
from core.downloads import payloads
from core.jobs import poll_view, task_subjects
from core.jobs import records as jobs

blp = Blueprint("tasks", __name__, url_prefix="/api/tasks", description="Task records.")
# The keys TaskSchema's nested schemas show, in their order (webhook bodies show the same).
PROGRESS_KEYS = payloads.TASK_PROGRESS_KEYS
ERROR_KEYS = payloads.TASK_ERROR_KEYS


@blp.route("")
class TaskList(MethodView):
    @blp.arguments(TaskListArgsSchema, location="query")
    @blp.response(200, TaskPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Tasks, newest first, filtered by state and name, each with what it works on."""
        page = jobs.list_records(db(), **args)
        found = task_subjects.subjects(db(), page.items)
        for record in page.items:  # as with_downloads attaches an item's download
            record.subject = found.get(record.id)  # type: ignore[attr-defined]
        return page


def _shown(value: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    return None if value is None else {key: value[key] for key in keys if key in value}


def task_body(view: dict[str, Any]) -> bytes:
    """The JSON TaskSchema would dump for `view`, built without marshmallow (a poll's hot path)."""
    shown = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in view.items()
    }
    shown["progress"] = _shown(view["progress"], PROGRESS_KEYS)
    shown["error"] = _shown(view["error"], ERROR_KEYS)
    return json.dumps(shown, separators=(",", ":")).encode() + b"\n"


def _poll(self: MethodView, task_id: str) -> Response:
    """One task; honours If-None-Match with 304.

    With If-None-Match, the record's tag is read first (two columns, nothing parsed): a match is
    answered 304 before any shown field is loaded. Otherwise, or on a miss, the shown fields and
    their tag are read together and the body is built."""
    if request.headers.get("If-None-Match"):
        etag = poll_view.read_tag(db(), task_id)
        if etag is not None and request.if_none_match.contains_weak(etag):
            response = Response(status=304)
            response.set_etag(etag)
            return response
    view, etag = poll_view.read_view(db(), task_id)
    response = Response(task_body(view), mimetype="application/json")
    response.set_etag(etag)
    return response


@blp.route("/<string:task_id>")
class TaskDetail(MethodView):
    # Documented as flask-smorest's etag and response decorators would (200 Task, 304, ETag,
    # If-None-Match), without their runtime wrappers, which dump the schema even for a 304.
    get = _poll
    get._apidoc = blp.etag(blp.response(200, TaskSchema)(_poll))._apidoc  # type: ignore[attr-defined]

    @blp.response(200, TaskSchema)
    def delete(self, task_id: str) -> Any:
        """Cancel: dropped if queued, terminated if running."""
        return jobs.cancel(db(), celery_client(), task_id)
