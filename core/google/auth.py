"""Access tokens from google-auth (the one way Aula makes or refreshes a Google token)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from google.auth import exceptions as google_errors
from google.auth.transport.requests import Request
from google.oauth2.credentials import Credentials

from core.base.errors import (
    SETTINGS_PAGE,
    NotFound,
    TransientError,
    UpstreamRefused,
    UpstreamTimeout,
    google_not_connected,
)
from core.base.logging import register_secret
from core.base.vault import Vault

SERVICE_SCOPES = (
    "https://www.googleapis.com/auth/drive.readonly",
    "https://www.googleapis.com/auth/classroom.courses.readonly",
    "https://www.googleapis.com/auth/classroom.coursework.me.readonly",
    "https://www.googleapis.com/auth/classroom.coursework.students.readonly",
    "https://www.googleapis.com/auth/classroom.courseworkmaterials.readonly",
    "https://www.googleapis.com/auth/classroom.topics.readonly",
)


class GoogleReconnectRequired(UpstreamRefused):
    """Google withdrew a connection's grant (invalid_grant): only the person can fix it."""

    error_type = "google_reconnect_required"


@dataclass(frozen=True)
class GoogleCredentials:
    client_id: str
    client_secret: str
    refresh_token: str
    connection_id: int | None = None  # None: the single credential of PUT /api/credentials/google
    # A service account's key JSON and the user it acts as (client_id etc. are then empty).
    service_account: dict[str, Any] | None = None
    subject: str | None = None

    @classmethod
    def from_vault(cls, vault: Vault) -> GoogleCredentials:
        """Read and decrypt the stored credentials; CredentialsMissing when none are stored."""
        try:
            raw = json.loads(vault.get("google"))
        except NotFound:
            raise google_not_connected() from None
        creds = cls(raw["client_id"], raw["client_secret"], raw["refresh_token"])
        register_secret(creds.client_secret)
        register_secret(creds.refresh_token)
        return creds


class Transport(Request):
    """google-auth's transport on our session, with our timeouts (google-auth's own is 120 s).

    It also notes the scopes Google's token endpoint says a refreshed token carries: google-auth
    keeps them only for credentials that asked for scopes, and a refresh token pasted by hand
    asks for none (asking would make Google refuse a token that lacks one)."""

    token_url: str | None = None
    scopes: list[str] | None = None  # from the last 200 of the token endpoint that named them

    def __call__(self, url: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = getattr(self.session, "timeout", None) or kwargs.get("timeout")
        response = super().__call__(url, method, *args, **kwargs)  # type: ignore[no-untyped-call]
        if url == self.token_url and response.status == 200:
            self._note_scopes(response.data)
        return response

    def _note_scopes(self, data: bytes) -> None:
        try:
            scope = json.loads(data).get("scope")
        except (ValueError, AttributeError):
            return
        if isinstance(scope, str):
            self.scopes = scope.split()


class GoogleAuth:
    """Access tokens from google-auth's refresh-token grant, cached until shortly before expiry.

    The token session must not retry POSTs itself: google-auth already retries a token endpoint
    that fails with 5xx (three tries), and both together made nine calls where three do.
    """

    def __init__(
        self,
        token_url: str,
        creds: GoogleCredentials,
        session: requests.Session,
        *,
        on_invalid_grant: Callable[[str], None] | None = None,
        on_refreshed: Callable[[], None] | None = None,
    ) -> None:
        self.creds = creds
        self._credentials = _google_credentials(token_url, creds)
        self._transport = Transport(session=session)
        self._transport.token_url = token_url
        self._on_invalid_grant = on_invalid_grant
        self._on_refreshed = on_refreshed
        self._lock = threading.Lock()

    def token(self) -> str:
        """A valid access token, refreshed when missing or about to expire."""
        with self._lock:
            if not self._credentials.valid:
                self._refresh()
            token = str(self._credentials.token)
            return token

    @property
    def granted_scopes(self) -> list[str]:
        """The scopes Google said the last token carries (empty before one)."""
        scopes = getattr(self._credentials, "granted_scopes", None) or self._transport.scopes or []
        return [str(scope) for scope in scopes]

    def invalidate(self) -> None:
        """Forget the cached token (after a 401)."""
        with self._lock:
            self._credentials.token = None

    def _refresh(self) -> None:
        try:
            self._credentials.refresh(self._transport)
        except google_errors.RefreshError as error:
            raise self._refused(error) from None
        except google_errors.TransportError as error:
            if isinstance(error.__cause__, requests.Timeout):
                raise UpstreamTimeout("Google's token endpoint did not answer in time.") from None
            cause = type(error.__cause__ or error).__name__
            raise TransientError(f"Google's token endpoint failed: {cause}.") from None
        register_secret(self._credentials.token)
        if self._on_refreshed is not None:
            self._on_refreshed()

    def _refused(self, error: google_errors.RefreshError) -> Exception:
        data = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], dict) else {}
        reason = str(data.get("error") or "")
        if error.retryable or not reason:
            return TransientError(f"Google's token endpoint failed: {str(error)[:200]}")
        details = {"reason": reason, "page": SETTINGS_PAGE}
        if reason == "invalid_grant":
            message = (
                "Google withdrew Aula's access to this account (invalid_grant: revoked, password"
                " changed, or a Testing app's 7-day limit): reconnect it on the Settings page"
                " (/#/settings)."
            )
            if self._on_invalid_grant is not None:
                self._on_invalid_grant(message)
            if self.creds.connection_id is not None:
                details["connection_id"] = str(self.creds.connection_id)
            return GoogleReconnectRequired(message, details)
        return UpstreamRefused(
            f"Google refused the stored credentials ({reason}): connect Google again on the"
            " Settings page (/#/settings).",
            details,
        )


def _google_credentials(token_url: str, creds: GoogleCredentials) -> Any:
    if creds.service_account is not None:
        from google.oauth2 import service_account

        made = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            {**creds.service_account, "token_uri": token_url}, scopes=list(SERVICE_SCOPES)
        )
        return made.with_subject(creds.subject) if creds.subject else made
    return Credentials(  # type: ignore[no-untyped-call]
        token=None, refresh_token=creds.refresh_token, token_uri=token_url,
        client_id=creds.client_id, client_secret=creds.client_secret,
    )  # fmt: skip


def json_object(response: requests.Response) -> dict[str, Any]:
    """The JSON object of a response body, or {} when it is not one.

    A `\\udXXX` escape left unpaired (a hostile or broken file name) decodes to a lone
    surrogate, which no UTF-8 text holds: PostgreSQL, SQLite's driver and HTTP headers refuse
    it. Each becomes U+FFFD here, the one place Google's JSON is read."""
    try:
        body = response.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    return _without_lone_surrogates(body) if _SURROGATE_ESCAPE.search(response.content) else body


# A JSON escape of a UTF-16 surrogate (paired ones decode to one character; unpaired stay lone).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    return value
