"""Service accounts (Workspace domain-wide delegation): a key JSON checked by getting a token."""

from __future__ import annotations

from typing import Any

import requests
from google.auth import exceptions as google_errors
from google.oauth2 import service_account

from core.base.db import Database
from core.base.errors import TransientError, ValidationFailed
from core.base.logging import register_secret
from core.base.settings import Settings
from core.base.vault import Vault
from core.google import connections
from core.google.auth import SERVICE_SCOPES as SCOPES
from core.google.auth import Transport

REQUIRED = ("type", "client_email", "private_key")


def credentials(key: dict[str, Any], subject: str | None, token_url: str) -> Any:
    """google-auth's credentials for `key`, acting as `subject` when given; ValidationFailed when
    the key is not a service account's or its private key cannot sign."""
    missing = [name for name in REQUIRED if not isinstance(key.get(name), str) or not key[name]]
    if missing or key.get("type") != "service_account":
        raise ValidationFailed(
            "This is not a service account key: download one from IAM & Admin → Service"
            " accounts → Keys (docs/google.md).",
            {"missing": missing or ["type"]},
        )
    register_secret(key["private_key"])
    try:
        creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            {**key, "token_uri": token_url}, scopes=list(SCOPES)
        )
    except (ValueError, TypeError) as error:
        raise ValidationFailed(
            f"The key's private key cannot sign: {type(error).__name__}.",
            {"reason": "bad_private_key"},
        ) from None
    if subject:
        creds = creds.with_subject(subject)
    return creds


def connect(
    db: Database,
    vault: Vault,
    settings: Settings,
    session: requests.Session,
    key: dict[str, Any],
    subject: str | None,
) -> tuple[connections.ConnectionView, bool]:
    """Store a service-account connection once Google gave it a token; (view, created)."""
    creds = credentials(key, subject, settings.google_token_url)
    try:
        creds.refresh(Transport(session=session))
    except google_errors.RefreshError as error:
        data = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], dict) else {}
        raise ValidationFailed(
            f"Google refused the service account: {str(error)[:300]}",
            {"reason": "google_refused", "google_error": data.get("error"),
             "google_error_description": data.get("error_description")},
        ) from None  # fmt: skip
    except google_errors.TransportError as error:
        cause = type(error.__cause__ or error).__name__
        raise TransientError(f"Google's token endpoint failed: {cause}.") from None
    register_secret(creds.token)
    return connections.save(
        db, vault, kind="service_account", email=(subject or key["client_email"]).lower(),
        scopes=list(SCOPES), secret={"service_account": key, "subject": subject},
        folders=settings.drive_folder_ids,
    )  # fmt: skip
