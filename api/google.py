"""Google: the OAuth client, connected accounts, and the OAuth callback (CONTRACT 8.1)."""

from __future__ import annotations

import html
from typing import Any

from flask import Response, jsonify, redirect, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.credentials import vault
from api.extensions import db, settings
from api.schemas import PageArgsSchema, page_schema
from core.base.errors import AulaError
from core.base.http import make_session
from core.base.paths import ROOT
from core.catalog import disconnect
from core.google import client_config, connections, folder_names, oauth, service_accounts

blp = Blueprint(
    "google", __name__, url_prefix="/api/google", description="Connecting Google accounts."
)
# Needs no token: the state in its query is the capability (api/access.py OPEN_PATHS).
CALLBACK = client_config.CALLBACK_PATH
_FOLDER = validate.And(validate.Length(min=1, max=256), validate.Regexp(r"^[\x21-\x7e]+$"))


class ClientSchema(Schema):
    client_id = fields.String(allow_none=True, required=True)
    type = fields.String(allow_none=True, required=True, metadata={"enum": ["installed", "web"]})
    redirect_uri = fields.String(required=True)
    configured = fields.Boolean(required=True)


class StartedSchema(Schema):
    authorization_url = fields.String(required=True)
    state = fields.String(required=True)
    redirect_uri = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True)


class FolderSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(
        allow_none=True, required=True,
        metadata={"description": "Its name when Drive last answered; null before it was asked."},
    )  # fmt: skip
    readable = fields.Boolean(
        allow_none=True, required=True,
        metadata={"description": "False once the account cannot read it (gone, trashed, not"
                  " shared any more); null before Drive was asked."},
    )  # fmt: skip


class ConnectionSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"enum": list(connections.KINDS)})
    email = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)
    missing_scopes = fields.List(fields.String(), required=True)
    status = fields.String(required=True, metadata={"enum": list(connections.STATUSES)})
    status_reason = fields.String(allow_none=True, required=True)
    drive_folder_ids = fields.List(fields.String(), required=True)
    drive_folders = fields.List(
        fields.Nested(FolderSchema), required=True,
        metadata={"description": "Each of drive_folder_ids with what Drive last said of it."},
    )  # fmt: skip
    created_at = fields.AwareDateTime(required=True)
    last_used_at = fields.AwareDateTime(allow_none=True, required=True)


ConnectionPageSchema = page_schema(ConnectionSchema, "GoogleConnectionPage")
# POST /connections: a started authorization, or (with service_account) the connection made.
CREATED = {
    "description": "The authorization to open in a browser; for a service account, the"
    " connection made.",
    "content": {"application/json": {"schema": {"oneOf": [
        {"$ref": "#/components/schemas/Started"}, {"$ref": "#/components/schemas/Connection"},
    ]}}},
}  # fmt: skip


class StartSchema(Schema):
    service_account = fields.Dict(
        metadata={"description": "A service account's key JSON (omit to connect an account)."}
    )
    subject = fields.Email(
        allow_none=True, load_default=None,
        metadata={"description": "The Workspace user the service account acts as."},
    )  # fmt: skip


class CompleteSchema(Schema):
    redirect_url = fields.String(required=True, validate=validate.Length(min=1, max=8192))


class PatchConnectionSchema(Schema):
    drive_folder_ids = fields.List(
        fields.String(validate=_FOLDER), required=True, validate=validate.Length(max=100)
    )


@blp.route("/client")
class Client(MethodView):
    @blp.response(200, ClientSchema)
    def get(self) -> Any:
        """The OAuth client Aula connects accounts with (never its secret)."""
        return client_config.client_info(vault(), settings())

    @blp.response(200, ClientSchema)
    def put(self) -> Any:
        """Store the client JSON file Google's console downloads (Desktop or Web), or
        `{"client_id", "client_secret"}`; the secret is kept encrypted."""
        client = client_config.parse_client(request.get_json(silent=True))
        client_config.store_client(vault(), client)
        return client_config.client_info(vault(), settings())


@blp.route("/connections")
class ConnectionList(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, ConnectionPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Connected Google accounts, oldest first."""
        return connections.list_connections(db(), **args)

    @blp.arguments(StartSchema)
    @blp.doc(responses={"201": CREATED})
    def post(self, body: dict[str, Any]) -> Any:
        """Start connecting an account: open `authorization_url` in a browser within 10 minutes.

        With `service_account` (and `subject`), connect a service account instead: Aula gets a
        token first, and answers 201 with the connection, or 400 with Google's refusal."""
        if "service_account" not in body:
            return jsonify(StartedSchema().dump(oauth.start(db(), vault(), settings()))), 201
        config = settings()
        with make_session(config, methods=("GET",)) as session:
            view, _created = service_accounts.connect(
                db(), vault(), config, session, body["service_account"], body["subject"]
            )
        return jsonify(ConnectionSchema().dump(view)), 201


@blp.route("/connections/complete")
class CompleteConnection(MethodView):
    @blp.arguments(CompleteSchema)
    @blp.response(201, ConnectionSchema)
    @blp.alt_response(200, schema=ConnectionSchema, description="The account's tokens replaced.")
    def post(self, body: dict[str, str]) -> Any:
        """Finish from the address the browser ended at (a server the browser cannot reach)."""
        view, _created = oauth.finish_pasted(db(), vault(), settings(), body["redirect_url"])
        return view, 201


@blp.route("/connections/<int:connection_id>")
class ConnectionDetail(MethodView):
    @blp.response(200, ConnectionSchema)
    def get(self, connection_id: int) -> Any:
        """One connection."""
        return connections.get(db(), connection_id)

    @blp.arguments(PatchConnectionSchema)
    @blp.response(200, ConnectionSchema)
    def patch(self, body: dict[str, Any], connection_id: int) -> Any:
        """Set the Drive folders this account indexes; the next rebuild follows them. Drive is
        asked for the names of folders new to it (Settings shows them)."""
        connections.set_folders(db(), connection_id, body["drive_folder_ids"])
        return folder_names.name_unknown(settings(), db(), connection_id)

    @blp.response(204)
    def delete(self, connection_id: int) -> None:
        """Revoke the account's token at Google and forget the connection and its secrets; its
        Drive and Classroom items go, except those another connection still reaches (files
        downloaded from them stay)."""
        disconnect.delete_connection(db(), vault(), settings(), connection_id)


@blp.route("/connections/<int:connection_id>/reconnect")
class Reconnect(MethodView):
    @blp.response(201, StartedSchema)
    def post(self, connection_id: int) -> Any:
        """Start again for this account: finishing replaces its tokens and keeps its id."""
        existing = connections.get(db(), connection_id)
        return oauth.start(
            db(), vault(), settings(), connection_id=connection_id, login_hint=existing.email
        )


@blp.route("/guide")
class Guide(MethodView):
    @blp.response(200, content_type="text/markdown")
    def get(self) -> Any:
        """The guide to connecting Google (docs/google.md), as Markdown text."""
        text = (ROOT / "docs" / "google.md").read_text(encoding="utf-8")
        return Response(text, mimetype="text/markdown")


@blp.route("/oauth/callback")
class Callback(MethodView):
    @blp.response(303)
    @blp.alt_response(
        400, description="A page saying what went wrong and how to try again.",
        schema={"type": "string"},
        content_type="text/html",
    )  # fmt: skip
    def get(self) -> Any:
        """Where Google sends the browser back; the state is the capability (no token needed)."""
        try:
            view, _created = oauth.finish(db(), vault(), settings(), dict(request.args.items()))
        except AulaError as error:  # a person's browser lands here: a page, not an envelope
            return _failure_page(error.message, error.status)
        return redirect(f"/#/settings?connected={view.id}", code=303)


def _failure_page(message: str, status: int) -> Response:
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Google was not connected</title>"
        f"<h1>Google was not connected</h1><p>{html.escape(message)}</p>"
        '<p><a href="/#/settings">Back to Settings</a></p></html>'
    )
    return Response(body, status=status, mimetype="text/html")
