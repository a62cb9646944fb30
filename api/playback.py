"""What the player loads (CONTRACT 8.4): an item's playable bytes, and asking for a conversion."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from api.extensions import db, services
from api.schemas import EnqueuedSchema, enqueued
from core.catalog import store as catalog
from core.downloads import playable

blp = Blueprint(
    "playback", __name__, url_prefix="/api/catalog", description="Playback and conversion."
)


@blp.route("/items/<int:item_id>/playback")
class Playback(MethodView):
    @blp.response(200, content_type="video/mp4")
    def get(self, item_id: int) -> Response:
        """What the player loads: the converted MP4 (the original for a direct item), with the
        same Range and validator guarantees as /stream; 409 `needs_conversion` until the
        conversion exists (`needs_download` for a file that must be downloaded first)."""
        from api.streaming import local_file_response

        item = catalog.get_item(db(), item_id)
        path = playable.playback_file(services(), item)
        mime = "video/mp4" if path.suffix == ".mp4" else item.mime_type
        return local_file_response(path, mime_type=mime)


@blp.route("/items/<int:item_id>/convert")
class Convert(MethodView):
    @blp.response(202, EnqueuedSchema)
    def post(self, item_id: int) -> Any:
        """Convert the item for browsers (task `media.convert`, queue `media`, progress in
        percent, cancelable with DELETE /api/tasks/{id}); asked again while it waits or runs,
        the same task. 409 `plays_directly` for a direct item, `needs_download` for a file that
        is not local yet."""
        record = playable.request(services(), catalog.get_item(db(), item_id))
        return enqueued(record.id)
