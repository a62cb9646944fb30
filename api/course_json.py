"""Items as JSON for course pages, fast: a 2,000-lesson course is 2,000 items, and marshmallow
dumps one in about 0.2 ms. Gives exactly what ItemSchema gives (tests/api/test_courses_api.py
compares them): items with a download go through ItemSchema's own methods, the rest (nearly
all) through the same rules written out once for the whole page."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import orjson
from flask import Response
from sqlalchemy import select

from api.access import media_signer
from api.catalog import ItemSchema, MediaSchema, needs_download
from api.extensions import db
from api.tracks import tracks_of
from core import downloads
from core.base.models import Download
from core.base.sources import Source
from core.downloads import catalog_link
from core.downloads.playable import needs_conversion

PLAIN = ("id", "source", "source_id", "title", "mime_type", "size_bytes", "folder_id",
         "course_id", "url", "is_video", "connection_id")  # fmt: skip
HANDLED = frozenset(PLAIN) | {
    "duration_s",
    "modified_at",
    "thumbnail_url",
    "stream_url",
    "download",
    "media",
    "playback_url",
    "subtitles",
    "chapters",
}
_VALUES = attrgetter(*PLAIN)  # one C call for the eleven plain columns of a row
BATCH = 500
_SCHEMA = ItemSchema()
_MEDIA = MediaSchema()


class Shown:
    """A catalog_items row (or a PlayedItem) with its newest download attached, as
    api.catalog.with_downloads attaches it to ORM items."""

    __slots__ = ("_item", "chapter_marks", "latest_download", "subtitle_tracks")

    def __init__(self, item: Any, latest: Any, tracks: Any = ([], [])) -> None:
        self._item = item
        self.latest_download = latest
        self.subtitle_tracks, self.chapter_marks = tracks

    def __getattr__(self, name: str) -> Any:
        return getattr(self._item, name)


def _plain(item: Any, sign: Any) -> dict[str, Any]:
    """An item with no download: ItemSchema's rules for thumbnail and stream URLs, inlined."""
    body = dict(zip(PLAIN, _VALUES(item), strict=True))
    duration, modified = item.duration_s, item.modified_at
    body["duration_s"] = float(duration) if duration is not None else None
    body["modified_at"] = modified.isoformat() if modified is not None else None
    thumbnail = item.source == Source.LOCAL or item.thumbnail_link
    body["thumbnail_url"] = sign(f"/api/catalog/items/{item.id}/thumbnail") if thumbnail else None
    stream = not needs_download(item)
    body["stream_url"] = sign(f"/api/catalog/items/{item.id}/stream") if stream else None
    body["download"] = None
    media = item.media
    body["media"] = _MEDIA.dump(media) if media is not None else None
    converts = body["stream_url"] is not None and needs_conversion(media)
    body["playback_url"] = (
        sign(f"/api/catalog/items/{item.id}/playback") if converts else body["stream_url"]
    )
    return body


def _with_downloads(ids: list[int]) -> list[int]:
    """Which of these items have any download: one narrow query (nearly none on a course
    page), so that the downloads themselves are read for those alone."""
    found: list[int] = []
    column = Download.__table__.c.item_id
    with db().session() as session:
        connection = session.connection()
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            found += connection.scalars(select(column).distinct().where(column.in_(batch)))
    return found


def items_json(items: list[Any]) -> list[dict[str, Any]]:
    """Each item as ItemSchema dumps it, with a query for the lot (which have downloads, unless
    their rows say; then their downloads and played files); by
    ItemSchema itself if it has grown a field this module does not know yet."""
    known = all(hasattr(item, "has_download") for item in items)  # read with the rows
    every = [item.id for item in items]
    ids = [item.id for item in items if item.has_download] if known else _with_downloads(every)
    found = downloads.latest_for_items(db(), ids) if ids else {}
    files = catalog_link.playing(db(), ids) if ids else {}
    complete = set(_SCHEMA.fields) <= HANDLED
    sign = media_signer()
    extras = tracks_of(every, sign)
    shown = []
    for item in items:
        played, latest = files.get(item.id), found.get(item.id)
        subtitles, chapters = extras.get(item.id, ([], []))
        if complete and played is None and latest is None:
            body = _plain(item, sign)
            body["subtitles"], body["chapters"] = subtitles, chapters
            shown.append(body)
            continue
        base = catalog_link.PlayedItem(item, played) if played is not None else item
        shown.append(_SCHEMA.dump(Shown(base, latest, (subtitles, chapters))))
    return shown


def json_response(body: Any) -> Response:
    """`body` as jsonify answers it (same keys and order, a final newline), encoded by orjson:
    a 2,000-lesson page is 1.2 MB of JSON, which the json module takes tens of ms to write.
    Non-ASCII text comes as UTF-8 rather than \\u escapes: the same JSON."""
    return Response(orjson.dumps(body) + b"\n", mimetype="application/json")
