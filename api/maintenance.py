"""Maintenance endpoints."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.extensions import celery_client, db
from api.schemas import EnqueuedSchema, enqueued
from core.jobs import records as jobs
from core.jobs.taskdefs import TaskName, single_key

blp = Blueprint(
    "maintenance", __name__, url_prefix="/api/maintenance", description="Maintenance runs."
)


@blp.route("/cleanup")
class Cleanup(MethodView):
    @blp.response(202, EnqueuedSchema)
    def post(self) -> Any:
        """Enqueue `maintenance.cleanup` (single-instance: shared while one waits to start)."""
        name = TaskName.MAINTENANCE_CLEANUP
        record = jobs.enqueue(db(), celery_client(), name, single=single_key(name))
        return enqueued(record.id)
