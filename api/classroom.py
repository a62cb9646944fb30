"""Google Classroom: sync courses and their materials into the catalog, list the courses."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from api.downloads import DownloadSchema
from api.extensions import celery_client, db, require_google, services
from api.schemas import EnqueuedSchema, PageArgsSchema, enqueued, page_schema
from core import downloads
from core.base.errors import PermanentError
from core.catalog.sources import courses
from core.jobs import records as jobs
from core.jobs.taskdefs import TaskName

blp = Blueprint(
    "classroom", __name__, url_prefix="/api/classroom", description="Google Classroom courses."
)


class CourseSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    section = fields.String(allow_none=True)
    state = fields.String(allow_none=True)
    item_count = fields.Integer(required=True)
    connection_id = fields.Integer(
        allow_none=True, metadata={"description": "The Google connection that synced it."}
    )


CoursePageSchema = page_schema(CourseSchema, "CoursePage")


@blp.route("/sync")
class Sync(MethodView):
    @blp.response(202, EnqueuedSchema)
    def post(self) -> Any:
        """Catalog every course's materials; while one sync runs, answers with it."""
        require_google()
        record = jobs.enqueue(
            db(), celery_client(), TaskName.CLASSROOM_SYNC, {}, single="classroom.sync"
        )
        return enqueued(record.id)


@blp.route("/courses")
class Courses(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, CoursePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Courses by name, each with the number of catalog items it owns."""
        return courses.list_courses(db(), **args)


class RefusedSchema(Schema):
    item_id = fields.Integer(required=True)
    title = fields.String(allow_none=True)
    error = fields.String(required=True)


class CourseDownloadsSchema(Schema):
    downloads = fields.List(fields.Nested(DownloadSchema), required=True)
    skipped = fields.Integer(required=True)
    refused = fields.List(fields.Nested(RefusedSchema), required=True)


@blp.route("/courses/<string:course_id>/downloads")
class CourseDownloads(MethodView):
    @blp.response(202, CourseDownloadsSchema)
    def post(self, course_id: str) -> Any:
        """Download every video of the course not downloaded yet; asking again enqueues nothing."""
        courses.get_course(db(), course_id)
        created, skipped, refused = [], 0, []
        for item in courses.course_videos(db(), course_id):
            try:
                download, new = downloads.create(services(), item_id=item.id)
            except PermanentError as error:  # one bad material must not stop the others
                refused.append({"item_id": item.id, "title": item.title, "error": error.message})
                continue
            if new:
                created.append(download)
            else:
                skipped += 1
        return {"downloads": created, "skipped": skipped, "refused": refused}
