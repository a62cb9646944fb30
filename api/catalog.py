"""The catalog: rebuild and sync it, list and search items, thumbnails and streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.access import media_url
from api.extensions import celery_client, db, require_google, services, settings
from api.schemas import EnqueuedSchema, PageArgsSchema, enqueued, page_schema
from api.streaming import thumbnail_response
from api.tracks import ChapterSchema, SubtitleSchema, attach
from core import downloads
from core.base.errors import Conflict, NotFound
from core.base.models import CatalogItem, Download
from core.base.sources import Source
from core.catalog import accounts, thumbnails
from core.catalog import store as catalog
from core.downloads import catalog_link
from core.downloads.playable import needs_conversion
from core.jobs import records as jobs
from core.jobs.taskdefs import TaskName, single_key
from core.media.facts import Playable

blp = Blueprint("catalog", __name__, url_prefix="/api/catalog", description="The catalog.")


class RebuildSchema(Schema):
    source = fields.String(
        load_default="all", validate=validate.OneOf((Source.LOCAL.value, Source.DRIVE.value, "all"))
    )


class SyncSchema(Schema):
    source = fields.String(
        load_default=Source.DRIVE.value, validate=validate.OneOf((Source.DRIVE.value,))
    )


class MediaSchema(Schema):
    container = fields.String(allow_none=True)
    video_codec = fields.String(allow_none=True)
    audio_codec = fields.String(allow_none=True)
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    bitrate = fields.Integer(allow_none=True)
    playable = fields.String(metadata={"enum": [str(p) for p in Playable]})
    error = fields.String(allow_none=True)


class ItemSchema(Schema):
    id = fields.Integer(required=True)
    source = fields.String(required=True, metadata={"enum": list(catalog.SOURCES)})
    source_id = fields.String(required=True)
    title = fields.String(required=True)
    mime_type = fields.String(allow_none=True)
    size_bytes = fields.Integer(allow_none=True)
    duration_s = fields.Float(allow_none=True)
    modified_at = fields.AwareDateTime(allow_none=True)
    folder_id = fields.String(allow_none=True)
    course_id = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    is_video = fields.Boolean()
    connection_id = fields.Integer(
        allow_none=True,
        metadata={"description": "The Google connection that streams it (Drive, Classroom)."},
    )
    thumbnail_url = fields.Method("_thumbnail_url", allow_none=True)
    stream_url = fields.Method("_stream_url", allow_none=True)
    download = fields.Method("_download", allow_none=True)
    subtitles = fields.List(fields.Nested(SubtitleSchema), attribute="subtitle_tracks")
    chapters = fields.List(fields.Nested(ChapterSchema), attribute="chapter_marks")
    # CONTRACT 8.4: how the file plays, and what the player loads.
    media = fields.Nested(MediaSchema, allow_none=True)
    playback_url = fields.Method("_playback_url", allow_none=True)

    def _playback_url(self, item: CatalogItem) -> str | None:
        stream = self._stream_url(item)
        if stream is None or not needs_conversion(item.media):
            return stream
        return media_url(f"/api/catalog/items/{item.id}/playback")

    def _thumbnail_url(self, item: CatalogItem) -> str | None:
        if item.source == Source.LOCAL or item.thumbnail_link or played(item):
            return media_url(f"/api/catalog/items/{item.id}/thumbnail")
        return None

    def _download(self, item: CatalogItem) -> dict[str, Any] | None:
        found = getattr(item, "latest_download", None)
        if found is None:
            return None
        done = found.state == downloads.DownloadState.SUCCEEDED
        return {
            "id": found.id,
            "state": found.state,
            "percent": (found.progress or {}).get("percent"),
            "file_url": media_url(f"/api/downloads/{found.id}/file") if done else None,
        }

    def _stream_url(self, item: CatalogItem) -> str | None:
        return (
            None
            if needs_download(item) and not played(item)
            else media_url(f"/api/catalog/items/{item.id}/stream")
        )


ItemPageSchema = page_schema(ItemSchema, "CatalogItemPage")


class ItemArgsSchema(PageArgsSchema):
    source = fields.String(validate=validate.OneOf(catalog.SOURCES))
    q = fields.String(validate=validate.Length(max=200))
    folder_id = fields.String(validate=validate.Length(max=1024))
    course_id = fields.String(validate=validate.Length(max=64))


def with_downloads(items: list[CatalogItem]) -> list[Any]:
    """Attach each item's newest download (one query for the page); an item that plays a
    finished download is shown with that file's size, type and duration (one more query)."""
    ids = [item.id for item in items]
    found = downloads.latest_for_items(db(), ids)
    files = catalog_link.playing(db(), ids)
    for item in items:
        item.latest_download = found.get(item.id)  # type: ignore[attr-defined]
    attach(items)  # subtitles and chapters (api/tracks.py)
    return [catalog_link.PlayedItem(i, files[i.id]) if i.id in files else i for i in items]


def played(item: Any) -> Download | None:
    """The finished download an item (as with_downloads gave it) plays, if any."""
    return getattr(item, "played_download", None)


def needs_download(item: CatalogItem) -> bool:
    """Links and YouTube materials cannot be streamed until downloaded."""
    return item.source == Source.CLASSROOM and not (item.extra or {}).get("drive_file_id")


@blp.route("/rebuild")
class Rebuild(MethodView):
    @blp.arguments(RebuildSchema)
    @blp.response(202, EnqueuedSchema)
    def post(self, body: dict[str, str]) -> Any:
        """Rebuild a source in full; while one waits to start, answers with it; while one runs,
        with its one follow-up (CONTRACT 8.6)."""
        if body["source"] == Source.DRIVE:
            require_google()
        record = jobs.enqueue(
            db(),
            celery_client(),
            TaskName.CATALOG_REBUILD,
            body,
            single=single_key(TaskName.CATALOG_REBUILD, body),
        )
        return enqueued(record.id)


@blp.route("/sync")
class Sync(MethodView):
    @blp.arguments(SyncSchema)
    @blp.response(202, EnqueuedSchema)
    def post(self, body: dict[str, str]) -> Any:
        """Apply Drive's changes feed since the last sync."""
        require_google()
        record = jobs.enqueue(
            db(),
            celery_client(),
            TaskName.CATALOG_SYNC,
            body,
            single=single_key(TaskName.CATALOG_SYNC, body),
        )
        return enqueued(record.id)


@blp.route("/items")
class Items(MethodView):
    @blp.arguments(ItemArgsSchema, location="query")
    @blp.response(200, ItemPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Items, newest first; `q` matches every word of the title, accents and case aside."""
        page = catalog.list_items(db(), **args)
        return {"items": with_downloads(page.items), "next_cursor": page.next_cursor}


@blp.route("/items/<int:item_id>")
class Item(MethodView):
    @blp.etag
    @blp.response(200, ItemSchema)
    def get(self, item_id: int) -> Any:
        """One item."""
        return with_downloads([catalog.get_item(db(), item_id)])[0]


@blp.route("/items/<int:item_id>/thumbnail")
class Thumbnail(MethodView):
    @blp.response(200, content_type="image/*")
    def get(self, item_id: int) -> Response:
        """A JPEG thumbnail, made on first request and cached; 404 when none can be made."""
        item = catalog.get_item(db(), item_id)
        path = thumbnails.item_thumbnail(services(), item, downloaded_frame(item))
        return thumbnail_response(path)


def downloaded_frame(item: CatalogItem) -> tuple[str, Path] | None:
    """The cache key and file of the finished download an item without a picture plays."""
    if item.source == Source.LOCAL or item.thumbnail_link:
        return None
    played = catalog_link.playing(db(), [item.id]).get(item.id)
    if played is None:
        return None
    return f"download:{played.id}:{played.sha256}", downloads.file_of(settings(), played)


def stream_item(item: CatalogItem) -> Response:
    """The item's bytes with Range support (local file or Drive proxy)."""
    from api.streaming import drive_proxy_response, local_file_response
    from core.catalog.indexing import resolve_local

    file = catalog_link.playing(db(), [item.id]).get(item.id)
    if file is not None:  # a finished download: its bytes, local, whatever the source
        path = downloads.file_of(settings(), file)
        return local_file_response(path, mime_type=file.mime_type or item.mime_type)
    if needs_download(item):
        raise Conflict(
            "This item is a link: download it first; it plays from the downloaded file.",
            {"reason": "needs_download"},
        )
    if item.source == Source.DOWNLOAD:
        raise NotFound("The downloaded file of this item is gone.")
    if item.source == Source.LOCAL:
        return local_file_response(
            resolve_local(settings(), item.source_id), mime_type=item.mime_type
        )
    file_id = (item.extra or {}).get("drive_file_id") or item.source_id
    # Through the account that catalogued it (or another that reaches it) while it is ok.
    client = accounts.drive_client_for(settings(), db(), item.source, item.source_id)
    return drive_proxy_response(client, file_id)


@blp.route("/items/<int:item_id>/stream")
class Stream(MethodView):
    @blp.response(200, content_type="video/*")
    @blp.alt_response(
        302,
        description="Through deploy/nginx with MEDIA_LINK_SECRET set: Location "
        "is a link nginx checks and serves the ranges from (api/media_links.py).",
    )
    def get(self, item_id: int) -> Response:
        """The bytes, honouring Range, If-Range and If-None-Match (see the contract)."""
        return stream_item(catalog.get_item(db(), item_id))
