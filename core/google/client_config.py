"""The OAuth client Aula connects accounts with: Google's client JSON, kept in the vault."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.base.errors import CredentialsMissing, NotFound, ValidationFailed
from core.base.logging import register_secret
from core.base.settings import Settings
from core.base.vault import Vault

VAULT_KIND = "google_client"
CLIENT_TYPES = ("installed", "web")
CALLBACK_PATH = "/api/google/oauth/callback"
GUIDE = "docs/google.md"


@dataclass(frozen=True)
class ClientConfig:
    """An OAuth client: Desktop ("installed") or Web; the secret is never shown."""

    client_id: str
    client_secret: str
    type: str


def redirect_uri(settings: Settings) -> str:
    """Where Google sends the browser back: always {PUBLIC_URL}/api/google/oauth/callback."""
    return settings.public_base + CALLBACK_PATH


def parse_client(body: Any) -> ClientConfig:
    """The client in Google's downloaded JSON (installed or web) or a bare {client_id, secret}."""
    if not isinstance(body, dict):
        raise _invalid("The body must be a JSON object: Google's client file.", ["installed"])
    kinds = [kind for kind in CLIENT_TYPES if kind in body]
    if len(kinds) > 1:
        raise _invalid("A client file holds one of installed or web, not both.", kinds)
    kind = kinds[0] if kinds else "installed"
    inner = body[kind] if kinds else body
    if not isinstance(inner, dict):
        raise _invalid(f'"{kind}" must be an object.', [kind])
    missing = [
        name
        for name in ("client_id", "client_secret")
        if not isinstance(inner.get(name), str) or not inner[name].strip()
    ]
    if missing:
        where = f"{kind}." if kinds else ""
        names = ", ".join(where + name for name in missing)
        raise _invalid(
            f"This is not a Google OAuth client file: {names} missing. Download the client's "
            f"JSON from Google Cloud's Credentials page ({GUIDE}).",
            [where + name for name in missing],
        )
    register_secret(inner["client_secret"])
    return ClientConfig(inner["client_id"].strip(), inner["client_secret"].strip(), kind)


def _invalid(message: str, fields: list[str]) -> ValidationFailed:
    return ValidationFailed(message, {"missing": fields, "guide": GUIDE})


def store_client(vault: Vault, client: ClientConfig) -> None:
    """Keep the client (its secret encrypted)."""
    raw = {"client_id": client.client_id, "client_secret": client.client_secret}
    vault.put(VAULT_KIND, json.dumps({**raw, "type": client.type}, sort_keys=True).encode())


def load_client(vault: Vault, settings: Settings) -> ClientConfig | None:
    """The uploaded client, else GOOGLE_CLIENT_ID/SECRET, else None."""
    try:
        raw = json.loads(vault.get(VAULT_KIND))
    except NotFound:
        secret = settings.google_client_secret
        if settings.google_client_id and secret is not None and secret.get_secret_value():
            return ClientConfig(settings.google_client_id, secret.get_secret_value(), "installed")
        return None
    return ClientConfig(raw["client_id"], raw["client_secret"], raw["type"])


def require_client(vault: Vault, settings: Settings) -> ClientConfig:
    """The client, or a 409 saying where to upload one."""
    client = load_client(vault, settings)
    if client is None:
        raise CredentialsMissing(
            "No Google OAuth client is configured: upload the client file Google's console gives"
            f" you on the Settings page (/#/settings); {GUIDE} shows how to make one.",
            {"reason": "google_client_missing", "page": "/#/settings", "guide": GUIDE},
        )
    return client


def client_info(vault: Vault, settings: Settings) -> dict[str, Any]:
    """What GET /api/google/client shows: never the secret."""
    client = load_client(vault, settings)
    return {
        "client_id": client.client_id if client else None,
        "type": client.type if client else None,
        "redirect_uri": redirect_uri(settings),
        "configured": client is not None,
    }
