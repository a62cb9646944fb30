"""The download schedule: pause, windows, rate limit and concurrency, changed at runtime."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.extensions import db, services, settings
from core.downloads import dispatch, schedule

blp = Blueprint(
    "download_settings",
    __name__,
    url_prefix="/api/settings/downloads",
    description="When downloads run: pause, time windows, a rate cap and cluster-wide concurrency.",
)


class DownloadSettingsSchema(Schema):
    paused = fields.Boolean(required=True)
    windows = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "HH:MM-HH:MM in the server's local time (TZ); empty: any time."},
    )
    rate_limit_bps = fields.Integer(
        allow_none=True, metadata={"description": "Bytes per second per download; null: none."}
    )
    concurrency = fields.Integer(required=True)


class PatchDownloadSettingsSchema(Schema):
    paused = fields.Boolean()
    windows = fields.List(
        fields.String(validate=validate.Length(max=32)),
        validate=validate.Length(max=48),
    )
    # Ranges and windows are checked by core.downloads.schedule (400, naming the field).
    rate_limit_bps = fields.Integer(allow_none=True, strict=True)
    concurrency = fields.Integer(strict=True)


@blp.route("")
class DownloadSettings(MethodView):
    @blp.response(200, DownloadSettingsSchema)
    def get(self) -> Any:
        """The schedule now (the settings' defaults until someone changes it)."""
        return schedule.current(db(), settings()).as_dict()

    @blp.arguments(PatchDownloadSettingsSchema)
    @blp.response(200, DownloadSettingsSchema)
    def patch(self, body: dict[str, Any]) -> Any:
        """Change some of it; every worker follows at once. Pausing stops running downloads
        (back to queued, partial files kept); resuming, or a window opening, sends them again."""
        _before, after = schedule.update(db(), settings(), body)
        dispatch.dispatch(services())
        return after.as_dict()
