"""Google Drive: browse folders, file details, thumbnails and streams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.access import live_drive_slot, media_url
from api.extensions import db, settings
from api.schemas import MAX_ID
from api.streaming import thumbnail_response
from core.base.errors import NotFound
from core.base.sources import Source
from core.catalog import accounts, drive_files, thumbnails
from core.catalog.drive_files import DriveEntry
from core.google.drive import DriveClient

GOOGLE_APPS = "application/vnd.google-apps."

blp = Blueprint("drive", __name__, url_prefix="/api/drive", description="Google Drive.")


class DriveFileSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    mime_type = fields.String(allow_none=True)
    size_bytes = fields.Integer(allow_none=True)
    modified_at = fields.AwareDateTime(allow_none=True)
    is_folder = fields.Boolean(required=True)
    thumbnail_url = fields.Method("_thumbnail_url", allow_none=True)
    stream_url = fields.Method("_stream_url", allow_none=True)

    def _thumbnail_url(self, entry: DriveEntry) -> str | None:
        if not entry.has_thumbnail:
            return None
        return media_url(f"/api/drive/files/{quote(entry.id, safe='')}/thumbnail", for_admin=True)

    def _stream_url(self, entry: DriveEntry) -> str | None:
        # Folders and Google Docs have no bytes to stream.
        if entry.is_folder or (entry.mime_type or "").startswith(GOOGLE_APPS):
            return None
        return media_url(f"/api/drive/files/{quote(entry.id, safe='')}/stream", for_admin=True)


class DriveListSchema(Schema):
    files = fields.List(fields.Nested(DriveFileSchema), required=True)
    next_page_token = fields.String(allow_none=True, required=True)


class DriveListArgsSchema(Schema):
    folder_id = fields.String(load_default="root", validate=validate.Length(min=1, max=256))
    page_size = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    page_token = fields.String(load_default=None, validate=validate.Length(max=4096))
    connection_id = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=MAX_ID),  # no database holds more: 422, never 500
        metadata={"description": "The Google connection to list through (default: first ok)."},
    )


def _client(file_id: str, args: dict[str, Any]) -> Callable[[], DriveClient]:
    # The named connection; else the one that catalogued the file, while ok; else the first ok.
    return lambda: accounts.drive_client_for(
        settings(), db(), Source.DRIVE, file_id, args["connection_id"]
    )


@blp.route("/files")
class DriveFiles(MethodView):
    @blp.arguments(DriveListArgsSchema, location="query")
    @blp.response(200, DriveListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Every non-trashed child of a folder, folders first; from the catalog when indexed."""
        connection = args["connection_id"]
        with live_drive_slot():
            files, token = drive_files.list_folder(
                db(),
                lambda: DriveClient.from_settings(settings(), db(), connection),
                args["folder_id"],
                args["page_size"],
                args["page_token"],
            )
        return {"files": files, "next_page_token": token}


class ConnectionArgsSchema(Schema):
    connection_id = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "The Google connection to ask through (default: first ok)."},
    )


@blp.route("/files/<string:file_id>")
class DriveFile(MethodView):
    @blp.arguments(ConnectionArgsSchema, location="query")
    @blp.response(200, DriveFileSchema)
    def get(self, args: dict[str, Any], file_id: str) -> Any:
        """One file or folder."""
        connection = args["connection_id"]
        with live_drive_slot():
            return drive_files.get_entry(
                db(), lambda: DriveClient.from_settings(settings(), db(), connection), file_id
            )[0]


@blp.route("/files/<string:file_id>/thumbnail")
class DriveThumbnail(MethodView):
    @blp.arguments(ConnectionArgsSchema, location="query")
    @blp.response(200, content_type="image/*")
    def get(self, args: dict[str, Any], file_id: str) -> Response:
        """The file's thumbnail image, cached; 404 when Drive has none."""
        with live_drive_slot():
            _entry, link = drive_files.get_entry(db(), _client(file_id, args), file_id)
            if not link:
                raise NotFound("Google Drive has no thumbnail for this file.")
            path = thumbnails.link_thumbnail(settings(), link)
        return thumbnail_response(path)


@blp.route("/files/<string:file_id>/stream")
class DriveStream(MethodView):
    @blp.arguments(ConnectionArgsSchema, location="query")
    @blp.response(200, content_type="video/*")
    def get(self, args: dict[str, Any], file_id: str) -> Response:
        """The file's bytes proxied from Drive with Range; flat memory."""
        from api.streaming import drive_proxy_response

        return drive_proxy_response(_client(file_id, args)(), file_id)
