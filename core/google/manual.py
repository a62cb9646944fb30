"""PUT /api/credentials/google: a client and a refresh token got elsewhere become one oauth
connection, the account named by Google's userinfo (CONTRACT 8.1)."""

from __future__ import annotations

from sqlalchemy import select

from core.base.db import Database
from core.base.errors import UpstreamRefused, ValidationFailed
from core.base.http import make_session
from core.base.logging import register_secret
from core.base.models import GoogleConnection
from core.base.settings import Settings
from core.base.vault import Vault
from core.google import connections, oauth
from core.google.auth import GoogleAuth, GoogleCredentials
from core.google.connections import ConnectionView


def connect(
    db: Database, vault: Vault, settings: Settings, client_id: str, client_secret: str,
    refresh_token: str,
) -> ConnectionView:  # fmt: skip
    """Get a token with the credentials, read the account's email, and store (or replace, for
    the same account) its connection; a refusal is a 400 carrying Google's error."""
    register_secret(client_secret)
    register_secret(refresh_token)
    creds = GoogleCredentials(client_id, client_secret, refresh_token)
    with make_session(settings, methods=("GET",)) as session:
        auth = GoogleAuth(settings.google_token_url, creds, session)
        try:
            token = auth.token()
        except UpstreamRefused as error:
            reason = str((error.details or {}).get("reason") or "refused")
            raise ValidationFailed(
                f"Google refused these credentials ({reason}): check the client ID, the client"
                " secret and the refresh token, or connect the account on the Settings page"
                " (/#/settings).",
                {"reason": reason},
            ) from None
    email = oauth.email_of(settings, token)
    secret = {
        "refresh_token": refresh_token, "client_id": client_id, "client_secret": client_secret,
    }  # fmt: skip
    view, _created = connections.save(
        db, vault, kind="oauth", email=email, scopes=auth.granted_scopes, secret=secret,
        folders=settings.drive_folder_ids,
    )  # fmt: skip
    return view


def connection_ids(db: Database, vault: Vault) -> list[int]:
    """The connections whose tokens PUT /api/credentials/google gave (they hold a client of
    their own): what DELETE /api/credentials/google disconnects."""
    with db.session() as session:
        ids = list(session.scalars(select(GoogleConnection.id).order_by(GoogleConnection.id)))
    return [cid for cid in ids if connections.secret_of(db, vault, cid).get("client_id")]
