"""Google's OAuth refresh-token grant: stored credentials, tokens cached until near expiry."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

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


@dataclass(frozen=True)
class GoogleCredentials:
    client_id: str
    client_secret: str
    refresh_token: str

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


# Not google-auth 2.62.2's Credentials.refresh: on our session against the fake, a failing token
# endpoint got 9 calls in 6.4 s (its 3 rounds over our retries), not 3 in 1 s; its Request sends
# timeout=120 over ours; its RefreshError drops the status our error mapping needs.
class GoogleAuth:
    """Access tokens from the refresh-token grant, cached until shortly before they expire."""

    def __init__(self, token_url: str, creds: GoogleCredentials, session: requests.Session) -> None:
        self.token_url = token_url
        self.creds = creds
        self.session = session
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        """A valid access token, refreshed when missing or about to expire."""
        with self._lock:
            token = self._token
            if token is None or time.monotonic() >= self._expires:
                token = self._refresh()
            return token

    def invalidate(self) -> None:
        """Forget the cached token (after a 401)."""
        with self._lock:
            self._token = None

    def _refresh(self) -> str:
        data = {
            "grant_type": "refresh_token",
            "client_id": self.creds.client_id,
            "client_secret": self.creds.client_secret,
            "refresh_token": self.creds.refresh_token,
        }
        try:
            response = self.session.post(self.token_url, data=data)
        except requests.Timeout:
            raise UpstreamTimeout("Google's token endpoint did not answer in time.") from None
        except requests.RequestException as error:
            raise TransientError(
                f"Google's token endpoint failed: {type(error).__name__}."
            ) from None
        if response.status_code in (400, 401):
            reason = json_object(response).get("error", "invalid_grant")
            raise UpstreamRefused(
                f"Google refused the stored credentials ({reason}): connect Google again on the"
                " Settings page (/#/settings).",
                {"reason": reason, "page": SETTINGS_PAGE},
            )
        if response.status_code != 200:
            raise TransientError(f"Google's token endpoint answered {response.status_code}.")
        body = json_object(response)
        self._token = str(body["access_token"])
        register_secret(self._token)
        lifetime = float(body.get("expires_in", 3600))
        self._expires = time.monotonic() + max(lifetime - 60, lifetime / 2)
        return self._token


def json_object(response: requests.Response) -> dict[str, Any]:
    """The JSON object of a response body, or {} when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
