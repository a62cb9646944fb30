"""Credentials: stored encrypted, never shown back."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.extensions import db, settings
from api.people import note
from core.base.errors import PayloadTooLarge
from core.base.logging import register_secret
from core.base.vault import KINDS, Vault
from core.downloads import cookies

blp = Blueprint(
    "credentials", __name__, url_prefix="/api/credentials", description="Encrypted credentials."
)


class CredentialInfoSchema(Schema):
    kind = fields.String(required=True)
    configured = fields.Boolean(required=True)
    updated_at = fields.AwareDateTime(allow_none=True)
    fingerprint = fields.String(allow_none=True)


class GoogleCredentialSchema(Schema):
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=512))
    client_secret = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=512)
    )
    refresh_token = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=4096)
    )


def vault() -> Vault:
    """The vault of the current app."""
    return Vault(db(), settings().fernet_keys)


@blp.route("")
class CredentialList(MethodView):
    @blp.response(200, CredentialInfoSchema(many=True))
    def get(self) -> Any:
        """Which credentials are configured, with a fingerprint; never a secret."""
        return vault().list()


@blp.route("/google")
class GoogleCredential(MethodView):
    @blp.arguments(GoogleCredentialSchema)
    @blp.response(200, CredentialInfoSchema)
    def put(self, body: dict[str, str]) -> Any:
        """Store an OAuth client and a refresh token got elsewhere: Aula gets a token with them,
        reads the account's email, and makes (or replaces) that account's connection."""
        from core.google import manual

        manual.connect(
            db(), vault(), settings(), body["client_id"], body["client_secret"],
            body["refresh_token"],
        )  # fmt: skip
        return vault().put("google", json.dumps(body, sort_keys=True).encode())


@blp.route("/cookies")
class CookiesCredential(MethodView):
    @blp.response(200, CredentialInfoSchema)
    def put(self) -> Any:
        """Store a Netscape cookies.txt (the request body, at most 1 MB) for yt-dlp."""
        if (request.content_length or 0) > cookies.MAX_BYTES:
            raise PayloadTooLarge("The cookies file is larger than 1 MB.")
        raw = request.get_data(cache=False)
        cookies.validate_netscape(raw)
        for value in cookies.values(raw):
            register_secret(value)  # a bare value in a later log line is redacted too
        return vault().put("cookies", raw)


@blp.route("/<any(google, cookies):kind>")
class CredentialByKind(MethodView):
    @blp.response(204)
    def delete(self, kind: str) -> None:
        """Forget a credential. For google, the connections PUT made go as
        `DELETE /api/google/connections/{id}` would take them: token revoked at Google, secrets
        erased, their Drive and Classroom items removed unless another connection reaches them
        (downloaded files stay)."""
        if kind == "google":
            from core.catalog import disconnect

            for connection_id in disconnect.delete_credential(db(), vault(), settings()):
                # The audit trail names each connection, as DELETE on it would; the
                # credential's own deletion is recorded after the view (api/people.AUDITED).
                note("connection.deleted", f"/api/google/connections/{connection_id}")
            return
        vault().delete(kind)


__all__ = ["KINDS", "blp"]
