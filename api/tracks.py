"""Subtitle tracks as WebVTT, an item's subtitles and chapters, and search over what was said."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.access import media_url
from api.extensions import db
from api.schemas import PageArgsSchema, page_schema
from core.base.errors import NotFound
from core.catalog import search, tracks

blp = Blueprint(
    "tracks", __name__, url_prefix="/api", description="Subtitles, chapters and transcript search."
)


class SubtitleSchema(Schema):
    id = fields.Integer(required=True)
    language = fields.String(required=True, metadata={"description": "BCP 47; `und` if unknown"})
    label = fields.String(required=True)
    source = fields.String(required=True, metadata={"enum": ["sidecar", "embedded", "download"]})
    url = fields.String(required=True, metadata={"description": "text/vtt WebVTT"})


class ChapterSchema(Schema):
    title = fields.String(required=True)
    start_s = fields.Float(required=True)
    end_s = fields.Float(required=True)


Tracks = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def tracks_of(ids: list[int], sign: Callable[[str], str] = media_url) -> dict[int, Tracks]:
    """item id -> (subtitles, chapters) as items show them: two queries for the lot; items
    without either are left out."""
    subs = tracks.subtitles_for(db(), ids)
    marks = tracks.chapters_for(db(), ids)
    found: dict[int, Tracks] = {}
    for item_id in subs.keys() | marks.keys():
        shown = [
            {
                "id": s.id, "language": s.language, "label": s.label, "source": s.source,
                "url": sign(f"/api/catalog/items/{item_id}/subtitles/{s.id}"),
            }
            for s in subs.get(item_id, [])
        ]  # fmt: skip
        chapters = [
            {"title": c.title, "start_s": c.start_s, "end_s": c.end_s}
            for c in marks.get(item_id, [])
        ]
        found[item_id] = (shown, chapters)
    return found


def attach(items: list[Any]) -> None:
    """Give each item (as the catalog lists them) its subtitles and chapters: two queries."""
    found = tracks_of([item.id for item in items])
    for item in items:
        item.subtitle_tracks, item.chapter_marks = found.get(item.id, ([], []))


@blp.route("/catalog/items/<int:item_id>/subtitles/<int:subtitle_id>")
class SubtitleFile(MethodView):
    @blp.response(200, content_type="text/vtt")
    @blp.alt_response(404, description="No such item or track.")
    def get(self, item_id: int, subtitle_id: int) -> Response:
        """The track as WebVTT: timing kept, markup other than <i> <b> <u> removed (its text
        kept, escaped), so a cue cannot inject anything into the page."""
        vtt = tracks.webvtt_of(db(), item_id, subtitle_id)
        if vtt is None:
            raise NotFound(f"Item {item_id} has no subtitle track {subtitle_id}.")
        response = Response(vtt, mimetype="text/vtt")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


class SearchArgsSchema(PageArgsSchema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=200))
    course_id = fields.String(validate=validate.Length(max=64))


class HitSchema(Schema):
    item_id = fields.Integer(required=True)
    title = fields.String(required=True)
    course_id = fields.String(allow_none=True)
    start_s = fields.Float(required=True, metadata={"description": "where the player starts"})
    end_s = fields.Float(allow_none=True)
    text = fields.String(required=True, metadata={"description": "the cue, or the title"})


HitPageSchema = page_schema(HitSchema, "SearchHitPage")


@blp.route("/search")
class Search(MethodView):
    @blp.arguments(SearchArgsSchema, location="query")
    @blp.response(200, HitPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Items whose title holds every word of `q`, then subtitle cues that do, each with the
        second to start playing at. Words only: quotes and operators are plain characters."""
        page = search.search(
            db(), args["q"], args.get("course_id"), limit=args["limit"], cursor=args["cursor"]
        )
        return {"items": page.items, "next_cursor": page.next_cursor}
