"""Task records: what a UI polls."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.extensions import celery_client, db_url
from api.schemas import TaskListArgsSchema, TaskPageSchema, TaskSchema
from core import jobs

blp = Blueprint("tasks", __name__, url_prefix="/api/tasks", description="Task records.")


@blp.route("")
class TaskList(MethodView):
    @blp.arguments(TaskListArgsSchema, location="query")
    @blp.response(200, TaskPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Tasks, newest first, filtered by state and name."""
        return jobs.list_records(db_url(), **args)


@blp.route("/<string:task_id>")
class TaskDetail(MethodView):
    @blp.etag
    @blp.response(200, TaskSchema)
    def get(self, task_id: str) -> Any:
        """One task; honours If-None-Match with 304."""
        return jobs.get_record(db_url(), task_id)

    @blp.response(200, TaskSchema)
    def delete(self, task_id: str) -> Any:
        """Cancel: dropped if queued, terminated if running."""
        return jobs.cancel(db_url(), celery_client(), task_id)
