"""Progress per person (CONTRACT 8.3): saved by the player every ~10 s, one upsert each, never
through the task queue; listed most recent first for "continue watching"."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.authz import current
from api.catalog import ItemSchema, with_downloads
from api.extensions import db
from api.schemas import PageArgsSchema, page_schema
from core.base.models import CatalogItem
from core.catalog.courses import progress
from core.catalog.courses.models import IMPLICIT_USER

blp = Blueprint(
    "progress", __name__, url_prefix="/api/progress",
    description="Where you are in each lesson: resume, watched marks, continue watching.",
)  # fmt: skip
STATES = ("in_progress", "watched")
MAX_SECONDS = 10**7  # about 116 days: no lesson is longer


class LessonProgressSchema(Schema):
    item_id = fields.Integer(required=True)
    position_s = fields.Float(required=True)
    duration_s = fields.Float(allow_none=True, required=True)
    watched = fields.Boolean(required=True)
    updated_at = fields.AwareDateTime(allow_none=True, required=True)


class CourseRefSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)


class ProgressEntrySchema(LessonProgressSchema):
    item = fields.Nested(ItemSchema, required=True)
    course_id = fields.Integer(allow_none=True, required=True)
    course = fields.Nested(
        CourseRefSchema, allow_none=True, required=True,
        metadata={"description": "The course the lesson belongs to (null: none shown)."},
    )  # fmt: skip


ProgressPageSchema = page_schema(ProgressEntrySchema, "ProgressPage")


class SaveProgressSchema(Schema):
    position_s = fields.Float(
        allow_nan=False, validate=validate.Range(min=0, max=MAX_SECONDS),
        metadata={"description": "Seconds from the start; past the end is the end."},
    )  # fmt: skip
    duration_s = fields.Float(
        allow_nan=False, validate=validate.Range(min=0, max=MAX_SECONDS, min_inclusive=False)
    )
    watched = fields.Boolean(
        truthy={True},
        falsy={False},
        metadata={"description": "Mark watched (true) or unwatched (false) by hand."},
    )

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if "position_s" not in data and "watched" not in data:
            raise ValidationError("Send position_s, watched, or both.", "position_s")


class ProgressArgsSchema(PageArgsSchema):
    state = fields.String(validate=validate.OneOf(STATES))


def user_key() -> int:
    """Whose progress this request reads and writes: the signed-in user, else the one
    implicit person (no users yet, or ADMIN_TOKEN)."""
    principal = current()
    return principal.user_id if principal and principal.user_id is not None else IMPLICIT_USER


def progress_body(item: CatalogItem, row: Any) -> dict[str, Any]:
    """A lesson's progress as the API shows it (never started, `row` None: at 0, not watched);
    `row` a LessonProgress or anything with its attributes."""
    if row is None:
        return {"item_id": item.id, "position_s": 0.0, "duration_s": item.duration_s,
                "watched": False, "updated_at": None}  # fmt: skip
    return {"item_id": row.item_id, "position_s": row.position_s,
            "duration_s": row.duration_s, "watched": row.watched,
            "updated_at": row.updated_at}  # fmt: skip


@blp.route("")
class ProgressList(MethodView):
    @blp.arguments(ProgressArgsSchema, location="query")
    @blp.response(200, ProgressPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Your progress, most recent first; `in_progress` (started, not watched) feeds
        "continue watching"."""
        page = progress.listing(
            db(), user_key(), args.get("state"), limit=args["limit"], cursor=args["cursor"]
        )
        shown = with_downloads([item for _, item, _ in page.items])
        entries = [
            {**progress_body(item, row), "item": item_shown,
             "course_id": course.id if course else None,
             "course": {"id": course.id, "title": course.title} if course else None}
            for (row, item, course), item_shown in zip(page.items, shown, strict=True)
        ]  # fmt: skip
        return {"items": entries, "next_cursor": page.next_cursor}


@blp.route("/<int:item_id>")
class ProgressDetail(MethodView):
    # An instance: given the class, webargs would build the schema again on every save.
    @blp.arguments(SaveProgressSchema(), error_status_code=400)
    @blp.response(200, LessonProgressSchema)
    def put(self, body: dict[str, Any], item_id: int) -> Any:
        """Save where you are (`position_s`, optional `duration_s`) or mark by hand
        (`watched`); watched at 90%, under 5% kept as 0, past the end clamped; 404 for an
        unknown item."""
        saved = progress.save(db(), user_key(), item_id, **body)
        return saved
