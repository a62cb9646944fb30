"""Liveness and readiness."""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from api.access import privileged_read
from api.extensions import celery_client, services, settings
from core import __version__
from core.ops import health

blp = Blueprint("health", __name__, url_prefix="/api/health", description="Health checks.")
_started = time.monotonic()
# A probe anyone may send: its answer (a worker ping through Redis) is reused this long.
READY_CACHE_S = 5.0
# Settings that name places on this machine: shown only to the admin (token, or loopback).
PATH_SETTINGS = ("data_dir", "download_dir", "media_roots")
HIDDEN = "[hidden]"


def _shown_settings() -> dict[str, Any]:
    shown = settings().public()
    if privileged_read():
        return shown
    for name in PATH_SETTINGS:
        value = shown.get(name)
        shown[name] = [HIDDEN for _ in value] if isinstance(value, list) else HIDDEN
    if str(shown.get("database_url", "")).startswith("sqlite"):
        shown["database_url"] = "sqlite:///" + HIDDEN
    return shown


def _readiness() -> tuple[dict[str, str], bool]:
    cache: dict[str, Any] = current_app.extensions.setdefault(
        "aula.ready_cache", {"lock": threading.Lock(), "at": None, "checks": None}
    )
    with cache["lock"]:  # one probe at a time per process; the others reuse its answer
        if cache["at"] is None or time.monotonic() - cache["at"] > READY_CACHE_S:
            client = celery_client()
            cache["checks"] = health.readiness(
                services(), lambda: client.control.ping(timeout=1.0, limit=1) or []
            )
            cache["at"] = time.monotonic()
        checks: dict[str, str] = dict(cache["checks"])
    return checks, health.ready(checks)


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
            "settings": _shown_settings(),
        }


@blp.route("/ready")
class Ready(MethodView):
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, schema=ReadySchema, description="Not ready: the failing checks.")
    def get(self) -> Any:
        """Database, broker, workers and disk; 503 with the failing checks when not ready.

        Checked at most once every READY_CACHE_S seconds per web process."""
        checks, ready = _readiness()
        return {"status": "ready" if ready else "not_ready", "checks": checks}, (
            200 if ready else 503
        )
