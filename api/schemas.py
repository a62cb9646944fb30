"""Marshmallow schemas for HTTP shapes shared by several resources."""

from __future__ import annotations

from typing import Any

from flask import current_app
from marshmallow import Schema, fields, validate
from werkzeug.routing import IntegerConverter

from core.base.pagination import DEFAULT_LIMIT, MAX_LIMIT
from core.jobs.records import STATES, TASK_NAMES
from core.jobs.taskdefs import TestTaskName

MAX_ID = 2**63 - 1  # the largest integer a database column holds


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: an id no database can hold does not match (404, never 500)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class ErrorDetailSchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict(allow_none=True)


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema, required=True)
    request_id = fields.String(allow_none=True)


class PageArgsSchema(Schema):
    """`?limit=&cursor=` of every list."""

    limit = fields.Integer(
        load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT)
    )
    cursor = fields.String(load_default=None, validate=validate.Length(max=512))


def page_schema(item: type[Schema], name: str) -> type[Schema]:
    """`{"items": [...], "next_cursor": ...}` around `item`."""
    attrs: dict[str, Any] = {
        "items": fields.List(fields.Nested(item), required=True),
        "next_cursor": fields.String(allow_none=True, required=True),
    }
    return Schema.from_dict(attrs, name=name)


class ProgressSchema(Schema):
    current = fields.Integer(allow_none=True)
    total = fields.Integer(allow_none=True)
    percent = fields.Float(allow_none=True)
    message = fields.String(allow_none=True)


class TaskErrorSchema(Schema):
    type = fields.String()
    message = fields.String()


class TaskSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    state = fields.String(required=True, metadata={"enum": list(STATES)})
    progress = fields.Nested(ProgressSchema, allow_none=True)
    result = fields.Dict(allow_none=True)
    error = fields.Nested(TaskErrorSchema, allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)


class TaskListEntrySchema(TaskSchema):
    """A task as the list shows it: also what it works on, for a person to read."""

    subject = fields.Dict(
        allow_none=True,
        metadata={
            "description": "What the task works on, when known: `{source}` for a catalog"
            " rebuild or sync, `{download_id, title, url}` for a download; null otherwise."
        },
    )


TaskPageSchema = page_schema(TaskListEntrySchema, "TaskPage")


class TaskNameChoice(validate.OneOf):
    """One of the production task names (the OpenAPI enum); with ENABLE_TEST_TASKS set, a test
    task's name (`testing.*`) too, though the schema never lists those."""

    def __init__(self) -> None:
        super().__init__(TASK_NAMES)

    def __call__(self, value: Any) -> Any:
        if value in set(TestTaskName) and current_app.extensions["aula.settings"].enable_test_tasks:
            return value
        return super().__call__(value)


class TaskListArgsSchema(PageArgsSchema):
    state = fields.String(validate=validate.OneOf(STATES))
    name = fields.String(validate=TaskNameChoice())


class EnqueuedSchema(Schema):
    task_id = fields.String(required=True)
    status_url = fields.String(required=True)


def enqueued(task_id: str) -> dict[str, str]:
    """The 202 body for a freshly enqueued task."""
    return {"task_id": task_id, "status_url": f"/api/tasks/{task_id}"}
