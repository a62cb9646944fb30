"""Reads behind ADMIN_TOKEN when REQUIRE_AUTH_FOR_READS is on, and the signed media URLs."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, current_app, request

from api.errors import envelope
from api.extensions import settings
from api.security import presented_token_is_valid, unauthorized
from core import signing
from core.settings import Settings

READS = frozenset({"GET", "HEAD"})
# Open whatever REQUIRE_AUTH_FOR_READS says: probes, and the API's description (no data).
OPEN_PATHS = frozenset({"/api/health", "/api/health/ready", "/api/openapi.json", "/api/docs"})
OPEN_PREFIXES = ("/api/docs/",)
# The only endpoints a signature opens: bytes for <video> and <img>, never JSON.
MEDIA_ENDPOINTS = frozenset(
    {
        "catalog.Stream",
        "catalog.Thumbnail",
        "drive.DriveStream",
        "drive.DriveThumbnail",
        "downloads.DownloadFile",
    }
)
_KEY = "aula.media_key"


def media_key(config: Settings) -> bytes | None:
    """The media URL signing key, derived from ADMIN_TOKEN, else the first ENCRYPTION_KEY."""
    if config.admin_token is not None:
        return signing.derive_key(config.admin_token.get_secret_value())
    if config.fernet_keys:
        return signing.derive_key(config.fernet_keys[0])
    return None


def media_url(url_path: str) -> str:
    """`url_path` as the API hands it out: signed and expiring when reads need the token."""
    config = settings()
    key: bytes | None = current_app.extensions.get(_KEY)
    if not config.require_auth_for_reads or key is None:
        return url_path
    return signing.sign_url(key, url_path, signing.expiry(time.time(), config.media_url_ttl_s))


def _is_open(path: str) -> bool:
    # Only /api is guarded: the web UI (/ and /ui/...) holds no data, and /metrics stays open
    # for Prometheus (keep it off the public proxy; see README, Security).
    return not path.startswith("/api/") or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _check_signature() -> Response | None:
    key: bytes = current_app.extensions[_KEY]
    verdict = signing.verify(
        key, request.path, request.args.get("exp"), request.args.get("sig"), time.time()
    )
    if verdict is signing.Verdict.VALID:
        return None
    if verdict is signing.Verdict.EXPIRED:
        return unauthorized(
            "This media URL has expired; fetch the item again for a fresh one.",
            {"reason": "expired"},
        )
    return envelope(
        403, "forbidden", "This media URL's signature is not valid.", {"reason": "bad_signature"}
    )


def _require_read_access() -> Response | None:
    if not settings().require_auth_for_reads or request.method not in READS:
        return None
    if _is_open(request.path) or presented_token_is_valid():
        return None
    signed = "sig" in request.args or "exp" in request.args
    if signed and request.endpoint in MEDIA_ENDPOINTS:
        return _check_signature()
    return unauthorized("A valid admin token is required for this request.")


_MEDIA_PATH_ENDS = ("/stream", "/thumbnail", "/file")
_SIGNATURE_PARAMETERS = [
    {"name": "exp", "in": "query", "required": False, "schema": {"type": "integer"},
     "description": "Expiry (unix seconds) of a signed media URL, as the API hands it out."},
    {"name": "sig", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "Signature of a signed media URL (REQUIRE_AUTH_FOR_READS)."},
]  # fmt: skip


def document_read_access(spec: dict[str, Any]) -> None:
    """Say in the OpenAPI document which reads REQUIRE_AUTH_FOR_READS guards, and how media
    URLs carry their signature instead of a header."""
    spec.setdefault("components", {}).setdefault("securitySchemes", {})["mediaSignature"] = {
        "type": "apiKey", "in": "query", "name": "sig",
        "description": "The exp and sig of a media URL as the API returns it (no header needed).",
    }  # fmt: skip
    for path, operations in spec.get("paths", {}).items():
        if path in OPEN_PATHS or not path.startswith("/api/"):
            continue
        for method in ("get", "head"):
            operation = operations.get(method)
            if operation is None:
                continue
            options: list[dict[str, list[str]]] = [{"adminToken": []}]
            if path.endswith(_MEDIA_PATH_ENDS):
                options.append({"mediaSignature": []})
                operation.setdefault("parameters", []).extend(_SIGNATURE_PARAMETERS)
            operation.setdefault("security", [*options, {}])  # {}: open unless configured


def register_access(app: Flask) -> None:
    """Guard reads when configured; keep the signing key (derived once) for media URLs."""
    app.extensions[_KEY] = media_key(app.extensions["aula.settings"])
    app.before_request(_require_read_access)
