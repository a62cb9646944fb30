"""Personal API tokens (shown once, kept as hashes) and the audit trail, over HTTP."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api import authz
from api.errors import envelope
from api.extensions import db
from api.people import NO_NUL, note, signed_in_user
from api.schemas import PageArgsSchema, page_schema
from core.people import audit, credentials

blp = Blueprint(
    "tokens", __name__, url_prefix="/api", description="API tokens and the audit trail."
)


class TokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    user_id = fields.Integer(required=True)
    username = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
    expires_at = fields.AwareDateTime(allow_none=True)
    last_used_at = fields.AwareDateTime(allow_none=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(
        required=True, metadata={"description": "The token itself: shown this once, never again."}
    )


class CreateTokenSchema(Schema):
    name = fields.String(
        required=True, validate=validate.And(validate.Length(min=1, max=100), NO_NUL)
    )
    expires_in_days = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=3650)
    )


class TokenArgsSchema(PageArgsSchema):
    all = fields.Boolean(load_default=False, metadata={"description": "Everyone's (admins)."})


class AuditEntrySchema(Schema):
    id = fields.Integer(required=True)
    at = fields.AwareDateTime(required=True)
    actor = fields.String(allow_none=True)
    action = fields.String(required=True)
    target = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)


TokenPageSchema = page_schema(TokenSchema, "TokenPage")
AuditPageSchema = page_schema(AuditEntrySchema, "AuditPage")


def _is_admin() -> bool:
    principal = authz.current()
    return principal is None or principal.role == "admin"  # None: no people yet


@blp.route("/tokens")
class TokenList(MethodView):
    @blp.arguments(TokenArgsSchema, location="query")
    @blp.response(200, TokenPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Your API tokens, newest first (never the token itself); `all=true`: everyone's
        (admins)."""
        everyone = args.pop("all")
        if everyone and not _is_admin():
            return envelope(403, "forbidden", "Only an admin may list everyone's tokens.",
                            {"reason": "role"})  # fmt: skip
        owner = None if everyone else signed_in_user(authz.current())
        return credentials.list_tokens(db(), owner, **args)

    @blp.arguments(CreateTokenSchema)
    @blp.response(201, NewTokenSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """A new API token for you, used as `Authorization: Bearer`; shown this once."""
        user_id = signed_in_user(authz.current())
        view, secret = credentials.create_token(
            db(), user_id, body["name"], body["expires_in_days"]
        )
        note("token.created", f"token:{view.id} {view.name}")
        return {**view.__dict__, "token": secret}


@blp.route("/tokens/<int:token_id>")
class TokenDetail(MethodView):
    @blp.response(204)
    def delete(self, token_id: int) -> Any:
        """Revoke one of your tokens (admins: anyone's) at once."""
        owner = None if _is_admin() else signed_in_user(authz.current())
        name = credentials.delete_token(db(), token_id, owner)
        note("token.deleted", f"token:{token_id} {name}")
        return Response(status=204)


@blp.route("/audit")
class Audit(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, AuditPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Sign-ins (both outcomes) and changes to users, tokens and credentials, newest first
        (admins)."""
        return audit.entries(db(), **args)
