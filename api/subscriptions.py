"""Subscriptions: a course or folder whose new videos download on their own."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.downloads import CreateDownloadSchema
from api.extensions import db, services
from api.schemas import PageArgsSchema, page_schema
from core.base.sources import Source
from core.subscriptions import library as sub_library
from core.subscriptions import service as subscriptions

blp = Blueprint(
    "subscriptions",
    __name__,
    url_prefix="/api/subscriptions",
    description="Courses and Drive folders whose new videos download on their own.",
)
_ID = validate.And(validate.Length(min=1, max=256), validate.Regexp(r"^[\x21-\x7e]+$"))


_TEMPLATE = "Where its downloads land under DOWNLOAD_DIR; null: DOWNLOAD_TEMPLATE."


class RetentionSchema(Schema):
    keep_latest = fields.Integer(allow_none=True, strict=True, load_default=None)
    delete_watched_after_days = fields.Integer(allow_none=True, strict=True, load_default=None)


class SubscriptionSchema(Schema):
    id = fields.Integer(required=True)
    source = fields.String(required=True, metadata={"enum": list(subscriptions.SOURCES)})
    course_id = fields.String(allow_none=True)
    folder_id = fields.String(allow_none=True)
    format = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    last_checked_at = fields.AwareDateTime(allow_none=True)
    downloads = fields.Integer(
        required=True, metadata={"description": "Downloads this subscription enqueued."}
    )
    template = fields.String(allow_none=True, metadata={"description": _TEMPLATE})
    retention = fields.Nested(RetentionSchema, allow_none=True)


SubscriptionPageSchema = page_schema(SubscriptionSchema, "SubscriptionPage")


class CreateSubscriptionSchema(Schema):
    source = fields.String(required=True, validate=validate.OneOf(subscriptions.SOURCES))
    course_id = fields.String(validate=_ID)
    folder_id = fields.String(validate=_ID)
    format = CreateDownloadSchema().fields["format"]
    # Checked by core.subscriptions.library: a bad template or retention is a 400 naming it.
    template = fields.String(allow_none=True, validate=validate.Length(min=1, max=1024))
    retention = fields.Nested(RetentionSchema, allow_none=True)

    @validates_schema
    def _one_key(self, data: dict[str, Any], **_: Any) -> None:
        wanted = "course_id" if data.get("source") == Source.CLASSROOM else "folder_id"
        other = "folder_id" if wanted == "course_id" else "course_id"
        if wanted not in data:
            raise ValidationError(f"A {data.get('source')} subscription needs {wanted}.", wanted)
        if other in data:
            raise ValidationError(f"Not used by a {data.get('source')} subscription.", other)


class PatchSubscriptionSchema(Schema):
    template = CreateSubscriptionSchema().fields["template"]
    retention = fields.Nested(RetentionSchema, allow_none=True)


@blp.route("")
class SubscriptionList(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, SubscriptionPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Subscriptions, newest first, each with what it brought and when it last looked."""
        return subscriptions.list_subscriptions(db(), **args)

    @blp.arguments(CreateSubscriptionSchema)
    @blp.response(201, SubscriptionSchema)
    @blp.alt_response(200, schema=SubscriptionSchema, description="Already subscribed.")
    def post(self, body: dict[str, Any]) -> Any:
        """Subscribe a course or an indexed Drive folder tree; its videos not downloaded yet are
        enqueued now, and new ones after every sync."""
        key = body.get("course_id") or body["folder_id"]
        view, created = subscriptions.subscribe(
            services(), source=body["source"], key=key, fmt=body.get("format"),
            template=body.get("template"), retention=body.get("retention"),
        )  # fmt: skip
        return view, 201 if created else 200


@blp.route("/<int:subscription_id>")
class SubscriptionDetail(MethodView):
    @blp.response(200, SubscriptionSchema)
    def get(self, subscription_id: int) -> Any:
        """One subscription."""
        return subscriptions.get(db(), subscription_id)

    @blp.arguments(PatchSubscriptionSchema)
    @blp.response(200, SubscriptionSchema)
    def patch(self, body: dict[str, Any], subscription_id: int) -> Any:
        """Change its template or retention (null clears one); downloaded files keep their names."""
        sub_library.change(db(), subscription_id, body)
        return subscriptions.get(db(), subscription_id)

    @blp.response(204)
    def delete(self, subscription_id: int) -> None:
        """Unsubscribe; what it downloaded stays, files included."""
        subscriptions.unsubscribe(db(), subscription_id)
