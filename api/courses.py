"""Courses (CONTRACT 8.3): every Classroom course and course folder, with the caller's progress."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api import course_cache, course_hits
from api.access import media_url, media_window
from api.catalog import ItemSchema, needs_download
from api.course_json import items_json, json_response
from api.extensions import db, settings
from api.progress import LessonProgressSchema, progress_body, user_key
from api.schemas import PageArgsSchema, page_schema
from core.base.models import CatalogItem
from core.base.sources import Source
from core.catalog.courses import build, discovery, progress, service
from core.catalog.courses.build import CourseView, Lesson, duration, summarise
from core.catalog.courses.fingerprint import fingerprint

blp = Blueprint(
    "courses", __name__, url_prefix="/api/courses",
    description="Courses: sections, ordered lessons, attachments and your progress.",
)  # fmt: skip
SOURCES = (Source.LOCAL.value, Source.DRIVE.value, Source.CLASSROOM.value)


class CourseProgressSchema(Schema):
    watched = fields.Integer(required=True)
    total = fields.Integer(required=True)
    percent = fields.Float(required=True)
    next_item_id = fields.Integer(allow_none=True, required=True)


class CourseSummarySchema(Schema):
    id = fields.Integer(required=True)
    source = fields.String(required=True, metadata={"enum": list(SOURCES)})
    title = fields.String(required=True)
    connection_id = fields.Integer(allow_none=True, required=True)
    lesson_count = fields.Integer(required=True)
    duration_s = fields.Float(allow_none=True, required=True)
    thumbnail_url = fields.String(allow_none=True, required=True)
    progress = fields.Nested(CourseProgressSchema, required=True)


class AttachmentSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    mime_type = fields.String(allow_none=True, required=True)
    url = fields.String(allow_none=True, required=True)


class LessonSchema(ItemSchema):
    position = fields.Integer(required=True, metadata={"description": "1-based, in its section"})
    progress = fields.Nested(LessonProgressSchema, required=True)
    attachments = fields.List(fields.Nested(AttachmentSchema), required=True)


class SectionSchema(Schema):
    id = fields.String(required=True)
    title = fields.String(allow_none=True, required=True)
    position = fields.Integer(required=True, metadata={"description": "0 for the untitled one"})
    lessons = fields.List(fields.Nested(LessonSchema), required=True)
    attachments = fields.List(fields.Nested(AttachmentSchema), required=True)


class CourseDetailSchema(CourseSummarySchema):
    sections = fields.List(fields.Nested(SectionSchema), required=True)


CoursePageSchema = page_schema(CourseSummarySchema, "CoursesPage")


class AddCourseSchema(Schema):
    source = fields.String(
        required=True, validate=validate.OneOf((Source.LOCAL.value, Source.DRIVE.value))
    )
    path = fields.String(validate=validate.Length(min=1, max=4096))
    folder_id = fields.String(validate=validate.Length(min=1, max=256))

    @validates_schema
    def _one_key(self, data: dict[str, Any], **_: Any) -> None:
        wanted = "path" if data.get("source") == Source.LOCAL else "folder_id"
        if wanted not in data:
            raise ValidationError(f"A {data.get('source')} course needs {wanted}.", wanted)


_ITEM = ItemSchema()  # its thumbnail rule, without a schema made per course


def attachment(item: CatalogItem) -> dict[str, Any]:
    """An attachment: opened or downloaded from its stream (a link: its own address)."""
    url = item.url if needs_download(item) else media_url(f"/api/catalog/items/{item.id}/stream")
    return {"id": item.id, "title": item.title, "mime_type": item.mime_type, "url": url}


def summary(view: CourseView) -> dict[str, Any]:
    """A course as the list shows it."""
    entry, lessons = view.entry, view.lessons
    figures = summarise(view)
    first = lessons[0].item if lessons else None
    return {
        "id": entry.id, "source": entry.source, "title": entry.title,
        "connection_id": view.connection_id, "lesson_count": len(lessons),
        "duration_s": duration(view),
        "thumbnail_url": _ITEM._thumbnail_url(first) if first else None,
        "progress": {"watched": figures.watched, "total": figures.total,
                     "percent": figures.percent, "next_item_id": figures.next_item_id},
    }  # fmt: skip


def lesson_progress(item: Any, row: Any) -> dict[str, Any]:
    """A lesson's progress on its page (`item` is read only when `row` is None)."""
    progress = progress_body(item, row)
    if progress["updated_at"] is not None:  # ISO 8601, as LessonProgressSchema writes it
        progress["updated_at"] = progress["updated_at"].isoformat()
    return progress


def _lesson(lesson: Lesson, shown: dict[str, Any]) -> dict[str, Any]:
    shown["position"] = lesson.position
    shown["progress"] = lesson_progress(lesson.item, lesson.progress)
    shown["attachments"] = [attachment(item) for item in lesson.attachments]
    return shown


def detail(view: CourseView) -> dict[str, Any]:
    """A course with its sections, lessons (items with position and progress), attachments."""
    shown = iter(items_json([lesson.item for lesson in view.lessons]))
    sections = [
        {
            "id": section.key or "untitled", "title": section.title, "position": section.position,
            "lessons": [_lesson(lesson, next(shown)) for lesson in section.lessons],
            "attachments": [attachment(item) for item in section.attachments],
        }
        for section in view.sections
    ]  # fmt: skip
    return {**summary(view), "sections": sections}


@blp.route("")
class CourseList(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, CoursePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Every course not hidden, by title, with the caller's progress."""
        size = settings().course_cache_size
        if size:
            return _cached_list(args, user_key(), size)
        page = service.list_courses(db(), user_key(), **args)
        # As CoursePageSchema dumps it (it documents the answer), written out: see detail().
        body = {"items": [summary(view) for view in page.items], "next_cursor": page.next_cursor}
        return json_response(body)

    @blp.arguments(AddCourseSchema, error_status_code=400)
    @blp.response(201, CourseSummarySchema)
    @blp.alt_response(200, schema=CourseSummarySchema, description="Already a course: that course.")
    def post(self, body: dict[str, Any]) -> Any:
        """Add a folder as a course: `path` (absolute, inside a media root) or a Drive
        `folder_id` (inside an indexed folder); outside them 400."""
        ref = body.get("path") if body["source"] == Source.LOCAL else body.get("folder_id")
        entry, created = discovery.add_course(db(), settings(), body["source"], str(ref))
        view = service.get_course(db(), entry.id, user_key())
        return summary(view), 201 if created else 200


@blp.route("/<int:course_id>")
class CourseDetail(MethodView):
    @blp.response(200, CourseDetailSchema)
    def get(self, course_id: int) -> Any:
        """A course's sections in order, their lessons and attachments, the caller's progress."""
        # Built as JSON here rather than dumped by CourseDetailSchema (which documents it):
        # marshmallow takes most of a second over 2,000 lessons.
        size = settings().course_cache_size
        if not size:
            return json_response(detail(service.get_course(db(), course_id, user_key())))
        return _cached_page(course_id, user_key(), size)

    @blp.response(204)
    def delete(self, course_id: int) -> None:
        """Hide a course (adding its folder again shows it); progress stays."""
        discovery.hide_course(db(), course_id)


def _figures(lessons: list[int], rows: dict[int, Any]) -> build.Summary:
    return build.figures(zip(lessons, map(rows.get, lessons), strict=True))


def _cached_page(course_id: int, user_id: int, size: int) -> Response:
    """The page from this process's copy (api/course_cache.py) if the course's fingerprint and
    the media URL window are still those it was built with (read in one round trip:
    api/course_hits.py); else built, and kept. The fingerprint is read before the build: a
    write in between makes the next request miss."""
    window = media_window()
    hit = course_hits.page(course_id, user_id, window)
    if hit is not None:
        return _answer(*hit)
    with db().session() as session:
        entry = service.shown_entry(session, course_id)
        mark, window = fingerprint(session, entry), media_window()
        found = course_cache.lookup(course_cache.PAGES, course_id, mark, window)
        if found is not None:
            return _answer(found, progress.of_lessons(session, user_id, found.lessons))
        view = service.built(session, entry, user_id)
    shown = detail(view)
    if media_window() == window:  # not across a window's end: its URLs would be the next's
        lessons = view.lessons
        defaults = [orjson.dumps(lesson_progress(lesson.item, None)) for lesson in lessons]
        ids = [lesson.item.id for lesson in lessons]
        kept = course_cache.split(shown, ids, defaults, mark, window)
        course_cache.remember(course_cache.PAGES, course_id, kept, size)
    return json_response(shown)


def _answer(found: course_cache.Cached, rows: dict[int, Any]) -> Response:
    figures = _figures(found.lessons, rows)
    body = course_cache.answer(found, rows, figures, lambda row: lesson_progress(None, row))
    return Response(body, mimetype="application/json")


def _cached_list(args: dict[str, Any], user_id: int, size: int) -> Response:
    """The list with each course from this process's copy of its summary (or of its page), as
    _cached_page; the fingerprints and the caller's progress on every kept course in one round
    trip (api/course_hits.py: a round trip per course cost more than the rest of a hit on
    PostgreSQL under load)."""
    shown: list[bytes] = []
    limit = size * course_cache.LISTED_PER_PAGE
    with db().session() as session:
        page = service.shown_entries(session, **args)
        window = media_window()
        marks, kept, rows = course_hits.listing(session, page.items, user_id, window, limit)
        for entry, mark, found in zip(page.items, marks, kept, strict=True):
            if found is not None:
                shown.append(course_cache.listed_answer(found, _figures(found.lessons, rows)))
                continue
            view = service.built(session, entry, user_id)
            body = summary(view)
            shown.append(orjson.dumps(body))
            if media_window() == window:
                lessons = [lesson.item.id for lesson in view.lessons]
                made = course_cache.listed(body, lessons, mark, window)
                course_cache.remember(course_cache.LISTED, entry.id, made, limit)
    cursor = orjson.dumps(page.next_cursor)
    answer = b'{"items":[' + b",".join(shown) + b'],"next_cursor":' + cursor + b"}\n"
    return Response(answer, mimetype="application/json")
