"""Notifications: recent webhook deliveries and their state."""

from __future__ import annotations

import json
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.extensions import db
from api.schemas import PageArgsSchema, page_schema
from core.base.models import Delivery
from core.notify import notifications

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/api/notifications",
    description="Webhook deliveries of events (WEBHOOK_URLS).",
)


class DeliverySchema(Schema):
    id = fields.Integer(required=True)
    event = fields.String(required=True, metadata={"enum": list(notifications.EVENTS)})
    event_id = fields.String(
        required=True, metadata={"description": "The X-Aula-Delivery header it carries."}
    )
    subject = fields.String(required=True)
    host = fields.String(required=True, metadata={"description": "The receiver's host."})
    state = fields.String(required=True, metadata={"enum": list(notifications.STATES)})
    attempts = fields.Integer(required=True)
    last_status = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    delivered_at = fields.AwareDateTime(allow_none=True)
    data = fields.Method("_data", metadata={"description": "The event's data, as sent."})

    def _data(self, row: Delivery) -> Any:
        return json.loads(row.body).get("data")


DeliveryPageSchema = page_schema(DeliverySchema, "DeliveryPage")


class DeliveryListArgsSchema(PageArgsSchema):
    state = fields.String(validate=validate.OneOf(notifications.STATES))


@blp.route("")
class DeliveryList(MethodView):
    @blp.arguments(DeliveryListArgsSchema, location="query")
    @blp.response(200, DeliveryPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Recent deliveries, newest first, with their state (pending, delivered, failed)."""
        return notifications.list_deliveries(db(), **args)


@blp.route("/<int:delivery_id>")
class DeliveryDetail(MethodView):
    @blp.response(200, DeliverySchema)
    def get(self, delivery_id: int) -> Any:
        """One delivery."""
        return notifications.get_delivery(db(), delivery_id)
