"""The authorization-code flow with PKCE: start it, finish it (callback or pasted address)."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from sqlalchemy import delete, select

from core.base.db import Database
from core.base.errors import TransientError, UpstreamTimeout, ValidationFailed
from core.base.http import make_session
from core.base.logging import register_secret
from core.base.models import GoogleOAuthState, utcnow
from core.base.settings import Settings
from core.base.vault import Vault
from core.google import connections
from core.google.client_config import ClientConfig, redirect_uri, require_client

STATE_TTL = timedelta(minutes=10)
TRY_AGAIN = "Start again from Settings (/#/settings): Connect a Google account."


class OAuthFailed(ValidationFailed):
    """The flow cannot finish: the reason is in `details.reason`; nothing was stored."""


@dataclass(frozen=True)
class Started:
    authorization_url: str
    state: str
    redirect_uri: str
    expires_at: datetime


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _flow(client: ClientConfig, settings: Settings, verifier: str | None) -> Flow:
    config = {
        client.type: {
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "auth_uri": settings.google_auth_url,
            "token_uri": settings.google_token_url,
        }
    }
    return Flow.from_client_config(
        config,
        scopes=list(connections.SCOPES),
        redirect_uri=redirect_uri(settings),
        code_verifier=verifier,
        autogenerate_code_verifier=verifier is None,
    )


def start(
    db: Database,
    vault: Vault,
    settings: Settings,
    *,
    connection_id: int | None = None,
    login_hint: str | None = None,
) -> Started:
    """A fresh authorization URL (S256 challenge) and its single-use, 10-minute state."""
    client = require_client(vault, settings)
    flow = _flow(client, settings, None)
    state = secrets.token_urlsafe(32)
    register_secret(state)
    extra = {"login_hint": login_hint} if login_hint else {}
    _allow_transport(settings.google_auth_url)
    url, _ = flow.authorization_url(
        access_type="offline", prompt="consent", include_granted_scopes="true", state=state,
        **extra,
    )  # fmt: skip
    verifier = str(flow.code_verifier)
    register_secret(verifier)
    expires = utcnow() + STATE_TTL
    with db.session() as session:
        session.add(
            GoogleOAuthState(
                state_hash=_digest(state), verifier=vault.seal(verifier.encode()),
                redirect_uri=redirect_uri(settings), connection_id=connection_id,
                expires_at=expires,
            )
        )  # fmt: skip
    return Started(url, state, redirect_uri(settings), expires)


def _consume(db: Database, state: str) -> GoogleOAuthState:
    """Take the state out of the database: whoever deletes the row finishes the flow."""
    with db.session() as session:
        row = session.scalars(
            select(GoogleOAuthState).where(GoogleOAuthState.state_hash == _digest(state))
        ).first()
        if row is not None:
            session.expunge(row)
            gone = session.execute(
                delete(GoogleOAuthState).where(GoogleOAuthState.state_hash == row.state_hash)
            )
            if getattr(gone, "rowcount", 0) != 1:
                row = None  # another request took it first
    if row is None:
        raise OAuthFailed(
            f"This sign-in link is unknown or was already used. {TRY_AGAIN}",
            {"reason": "unknown_state"},
        )
    if row.expires_at <= utcnow():
        raise OAuthFailed(
            f"This sign-in link expired (they last 10 minutes). {TRY_AGAIN}",
            {"reason": "expired_state"},
        )
    return row


def finish(db: Database, vault: Vault, settings: Settings, params: dict[str, str]) -> Any:
    """Finish a flow from the callback's query: exchange the code, read the email, store the
    connection; (view, created). Each refusal raises OAuthFailed and stores nothing."""
    state = params.get("state") or ""
    if not state:
        raise OAuthFailed(f"The address has no state. {TRY_AGAIN}", {"reason": "missing_state"})
    pending = _consume(db, state)
    if params.get("error"):
        reason = params["error"][:64]
        words = "You did not allow Aula access" if reason == "access_denied" else "Google refused"
        raise OAuthFailed(f"{words} ({reason}). {TRY_AGAIN}", {"reason": reason})
    code = params.get("code") or ""
    if not code:
        raise OAuthFailed(f"The address has no code. {TRY_AGAIN}", {"reason": "missing_code"})
    register_secret(code)
    client = require_client(vault, settings)
    verifier = vault.open(pending.verifier, "sign-in state").decode()
    token = _exchange(_flow(client, settings, verifier), code, settings)
    email = _email(settings, str(token["access_token"]))
    granted = token.get("scope") or []
    scopes = granted.split() if isinstance(granted, str) else list(granted)
    secret = {"refresh_token": token.get("refresh_token")}
    if not secret["refresh_token"]:
        raise OAuthFailed(
            f"Google gave no refresh token for {email}. {TRY_AGAIN}", {"reason": "no_refresh_token"}
        )
    try:
        return connections.save(
            db, vault, kind="oauth", email=email, scopes=scopes, secret=secret,
            folders=settings.drive_folder_ids, replace_id=pending.connection_id,
        )  # fmt: skip
    except connections.WrongAccount:
        _revoke_stray(db, settings, email, str(secret["refresh_token"]))
        raise


def _revoke_stray(db: Database, settings: Settings, email: str, token: str) -> None:
    # A refused reconnect got a grant nobody will use: withdraw it at Google, unless that account
    # is connected on its own (revoking withdraws the account's whole grant to this client).
    if connections.has_email(db, email):
        return
    with make_session(settings, methods=("POST",)) as session:
        connections.revoke(settings.google_revoke_url, token, session)


def finish_pasted(db: Database, vault: Vault, settings: Settings, address: str) -> Any:
    """The headless path: finish from the address the browser ended at (the callback's)."""
    parts, ours = urlsplit(address.strip()), urlsplit(redirect_uri(settings))
    if (parts.scheme, parts.netloc.lower(), parts.path) != (
        ours.scheme, ours.netloc.lower(), ours.path,
    ):  # fmt: skip
        raise OAuthFailed(
            f"That is not the address Google sent you back to: it starts {ours.scheme}://"
            f"{ours.netloc}{ours.path}. Paste the whole address from the browser's address bar.",
            {"reason": "wrong_redirect_url", "redirect_uri": redirect_uri(settings)},
        )
    return finish(db, vault, settings, dict(parse_qsl(parts.query)))


def _exchange(flow: Flow, code: str, settings: Settings) -> dict[str, Any]:
    _allow_transport(settings.google_token_url)
    timeout = (settings.http_connect_timeout, settings.http_read_timeout)
    try:
        token: dict[str, Any] = flow.fetch_token(code=code, timeout=timeout)
    except OAuth2Error as error:
        reason = error.error or "invalid_grant"
        raise OAuthFailed(
            f"Google refused the sign-in code ({reason}). {TRY_AGAIN}",
            {"reason": reason, "google_error": error.description},
        ) from None
    except requests.Timeout:
        raise UpstreamTimeout("Google's token endpoint did not answer in time.") from None
    except requests.RequestException as error:
        raise TransientError(f"Google's token endpoint failed: {type(error).__name__}.") from None
    for key in ("access_token", "refresh_token", "id_token"):
        register_secret(token.get(key))
    return token


def _allow_transport(url: str) -> None:
    # oauthlib refuses http:// token endpoints and granted scopes that differ from the asked ones,
    # each unless an environment variable says otherwise. Granular consent makes the second
    # normal; plain http is allowed only for a loopback endpoint (the tests' fake Google).
    os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = "1"  # noqa: S105  # nosec B105  # a switch
    host = urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


def email_of(settings: Settings, access_token: str) -> str:
    """The account's email, from GOOGLE_USERINFO_URL; OAuthFailed when Google does not say."""
    return _email(settings, access_token)


def _email(settings: Settings, access_token: str) -> str:
    timeout = (settings.http_connect_timeout, settings.http_read_timeout)
    try:
        response = requests.get(
            settings.google_userinfo_url,
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=timeout,
        )
    except requests.RequestException as error:
        raise TransientError(
            f"Google's userinfo endpoint failed: {type(error).__name__}."
        ) from None
    try:
        body = response.json() if response.status_code == 200 else {}
    except ValueError:
        body = {}
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str) or not email:
        raise OAuthFailed(
            f"Google did not tell Aula the account's email (userinfo answered"
            f" {response.status_code}): allow the email permission. {TRY_AGAIN}",
            {"reason": "no_email"},
        )
    return email.lower()
