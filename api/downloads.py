"""Downloads: create, list, cancel, retry, and stream the finished file."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.access import media_url
from api.extensions import db, services, settings
from api.schemas import MAX_ID, PageArgsSchema, page_schema
from api.streaming import local_file_response
from core import downloads
from core.base.models import Download

blp = Blueprint("downloads", __name__, url_prefix="/api/downloads", description="Downloads.")


class DownloadProgressSchema(Schema):
    downloaded_bytes = fields.Integer(allow_none=True)
    total_bytes = fields.Integer(allow_none=True)
    percent = fields.Float(allow_none=True)
    speed_bps = fields.Integer(allow_none=True)
    eta_s = fields.Integer(allow_none=True)


class DownloadFileSchema(Schema):
    path = fields.String(required=True)
    size_bytes = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    url = fields.String(required=True)


class DownloadSchema(Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True)
    item_id = fields.Integer(allow_none=True)
    format = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    state = fields.String(required=True, metadata={"enum": list(downloads.STATES)})
    progress = fields.Method("_progress")
    file = fields.Method("_file", allow_none=True)
    file_url = fields.Method("_file_url", allow_none=True)
    error = fields.String(allow_none=True)
    task_id = fields.String(allow_none=True)
    waiting_reason = fields.String(
        allow_none=True, metadata={"enum": ["paused", "outside_window", "concurrency"]}
    )
    attempts = fields.Integer(required=True)
    protected = fields.Boolean(required=True, metadata={"description": "Exempt from retention."})
    created_at = fields.AwareDateTime(required=True)
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)

    def _progress(self, download: Download) -> dict[str, Any]:
        empty = {"downloaded_bytes": 0, "total_bytes": None, "percent": None,
                 "speed_bps": None, "eta_s": None}  # fmt: skip
        return {**empty, **(download.progress or {})}

    def _file(self, download: Download) -> dict[str, Any] | None:
        if download.state != downloads.DownloadState.SUCCEEDED or not download.file_path:
            return None
        return {"path": download.file_path, "size_bytes": download.file_size,
                "sha256": download.sha256, "url": self._file_url(download)}  # fmt: skip

    def _file_url(self, download: Download) -> str | None:
        # Signed when reads need the token, so a <video src> plays it without headers.
        done = download.state == downloads.DownloadState.SUCCEEDED and download.file_path
        return media_url(f"/api/downloads/{download.id}/file") if done else None


DownloadPageSchema = page_schema(DownloadSchema, "DownloadPage")


class CreateDownloadSchema(Schema):
    url = fields.String(validate=validate.Length(min=1, max=2048))
    item_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    format = fields.String(
        load_default=None,
        validate=[
            validate.Length(min=1, max=256),
            validate.Regexp(
                r"^[\x20-\x7e]+$", error="A yt-dlp format selector is printable ASCII: bv*+ba/b."
            ),
        ],
    )
    force = fields.Boolean(load_default=False)

    @validates_schema
    def _one_source(self, data: dict[str, Any], **_: Any) -> None:
        if ("url" in data) == ("item_id" in data):
            raise ValidationError("Give exactly one of url and item_id.", "_schema")


class PatchDownloadSchema(Schema):
    protected = fields.Boolean(required=True)


class CreatedSchema(Schema):
    download = fields.Nested(DownloadSchema, required=True)
    task_id = fields.String(allow_none=True)


class DownloadListArgsSchema(PageArgsSchema):
    state = fields.String(validate=validate.OneOf(downloads.STATES))


@blp.route("")
class DownloadList(MethodView):
    @blp.arguments(DownloadListArgsSchema, location="query")
    @blp.response(200, DownloadPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Downloads, newest first, optionally of one state."""
        return downloads.list_downloads(db(), **args)

    @blp.arguments(CreateDownloadSchema)
    @blp.response(202, CreatedSchema)
    @blp.alt_response(200, schema=CreatedSchema, description="Already queued, running or done.")
    def post(self, body: dict[str, Any]) -> Any:
        """Download a URL (yt-dlp, or the Drive API for Drive links) or a catalog item."""
        download, created = downloads.create(
            services(), url=body.get("url"), item_id=body.get("item_id"),
            fmt=body["format"], force=body["force"],
        )  # fmt: skip
        return {"download": download, "task_id": download.task_id}, 202 if created else 200


@blp.route("/<int:download_id>")
class DownloadDetail(MethodView):
    @blp.etag
    @blp.response(200, DownloadSchema)
    def get(self, download_id: int) -> Any:
        """One download, with its progress; honours If-None-Match."""
        return downloads.get(db(), download_id)

    @blp.response(200, DownloadSchema)
    def delete(self, download_id: int) -> Any:
        """Cancel within seconds and remove partial files."""
        return downloads.cancel(services(), download_id)

    @blp.arguments(PatchDownloadSchema)
    @blp.response(200, DownloadSchema)
    def patch(self, body: dict[str, Any], download_id: int) -> Any:
        """Protect a download from its subscription's retention (or stop protecting it)."""
        return downloads.protect(db(), download_id, body["protected"])


@blp.route("/<int:download_id>/retry")
class DownloadRetry(MethodView):
    @blp.response(202, CreatedSchema)
    def post(self, download_id: int) -> Any:
        """Queue a failed or canceled download again."""
        download = downloads.retry(services(), download_id)
        return {"download": download, "task_id": download.task_id}


@blp.route("/<int:download_id>/file")
class DownloadFile(MethodView):
    @blp.response(200, content_type="application/octet-stream")
    def get(self, download_id: int) -> Response:
        """The finished file, with Range support."""
        download = downloads.get(db(), download_id)
        path = downloads.file_of(settings(), download)
        return local_file_response(path, download_name=path.name)
