"""Liveness and readiness."""

from __future__ import annotations

import time
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from api.extensions import celery_client, settings
from core import __version__, health

blp = Blueprint("health", __name__, url_prefix="/api/health", description="Health checks.")
_started = time.monotonic()


class HealthSchema(Schema):
    status = fields.String(required=True)
    version = fields.String(required=True)
    uptime_s = fields.Float(required=True)
    settings = fields.Dict(required=True)


class ReadySchema(Schema):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


@blp.route("")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self) -> Any:
        """The process answers; non-secret settings."""
        return {
            "status": "ok",
            "version": __version__,
            "uptime_s": round(time.monotonic() - _started, 3),
            "settings": settings().public(),
        }


@blp.route("/ready")
class Ready(MethodView):
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, schema=ReadySchema, description="Not ready: the failing checks.")
    def get(self) -> Any:
        """Database, broker, workers and disk; 503 with the failing checks when not ready."""
        client = celery_client()
        checks = health.readiness(
            settings(), lambda: client.control.ping(timeout=1.0, limit=1) or []
        )
        ready = all(value == health.OK for value in checks.values())
        return {"status": "ready" if ready else "not_ready", "checks": checks}, (
            200 if ready else 503
        )
