"""Reads behind ADMIN_TOKEN when REQUIRE_AUTH_FOR_READS is on, and the signed media URLs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, current_app, g, request

from api.errors import envelope
from api.extensions import db, services, settings
from api.security import host_is_loopback, is_loopback, presented_token_is_valid, unauthorized
from core.base import signing
from core.base.errors import Busy
from core.base.settings import Settings
from core.catalog import drive_scope
from core.google.drive import DriveClient

READS = frozenset({"GET", "HEAD"})
# Open whatever REQUIRE_AUTH_FOR_READS says: probes, and the API's description (no data).
# The OAuth callback needs no token: its single-use state is the capability (CONTRACT 8.1).
OPEN_PATHS = frozenset(
    {
        "/api/health",
        "/api/health/ready",
        "/api/openapi.json",
        "/api/docs",
        "/api/google/oauth/callback",
    }
)
OPEN_PREFIXES = ("/api/docs/",)
# The only endpoints a signature opens: bytes for <video> and <img>, never JSON.
MEDIA_ENDPOINTS = frozenset(
    {
        "catalog.Stream",
        "playback.Playback",
        "catalog.Thumbnail",
        "drive.DriveStream",
        "drive.DriveThumbnail",
        "downloads.DownloadFile",
        "tracks.SubtitleFile",  # <track> sends no header either
    }
)
_KEY = "aula.media_key"
# Drive endpoints that serve any file the account can read, and the id each one names.
DRIVE_ENDPOINTS = frozenset(
    {"drive.DriveFiles", "drive.DriveFile", "drive.DriveThumbnail", "drive.DriveStream"}
)
MAX_DRIVE_ID = 256
# How long a request waits for one of the DRIVE_LIVE_CONCURRENCY slots before a 429.
LIVE_WAIT_S = 20.0


@contextmanager
def live_drive_slot() -> Iterator[None]:
    """Hold one of this process's DRIVE_LIVE_CONCURRENCY slots for live Drive calls: browsing
    never ties up every request thread (nor the account's quota the workers share)."""
    slots: threading.BoundedSemaphore = current_app.extensions["aula.drive_slots"]
    if not slots.acquire(timeout=LIVE_WAIT_S):
        raise Busy(
            "Too many live Google Drive requests at once on this server; retry in a moment.",
            {"retry_after_s": 2},
        )
    try:
        yield
    finally:
        slots.release()


def media_key(config: Settings) -> bytes | None:
    """The media URL signing key: derived from the first ENCRYPTION_KEY, never from ADMIN_TOKEN
    (a leaked signed URL must not let anyone test token guesses offline)."""
    if config.fernet_keys:
        return signing.derive_key(config.fernet_keys[0])
    return None


def media_url(url_path: str, *, for_admin: bool = False) -> str:
    """`url_path` as the API hands it out: signed and expiring when reads need the token, or
    (`for_admin`) when the admin asked with the token: Drive files outside the indexed folders
    then play in <video> and <img>, which send no header."""
    config = settings()
    key: bytes | None = current_app.extensions.get(_KEY)
    admin = for_admin and config.admin_token is not None and presented_token_is_valid()
    # Once people exist every media URL is signed: <video> and <img> send no bearer token.
    signed = config.require_auth_for_reads or admin or g.get("people")
    if not signed or key is None:
        return url_path
    return signing.sign_url(key, url_path, signing.expiry(time.time(), config.media_url_ttl_s))


def media_signer() -> Callable[[str], str]:
    """media_url for many URLs of one request (a course page has thousands): what it decides
    once per request is decided once."""
    config = settings()
    key: bytes | None = current_app.extensions.get(_KEY)
    if not (config.require_auth_for_reads or g.get("people")) or key is None:
        return lambda url_path: url_path
    return signing.url_signer(key, signing.expiry(time.time(), config.media_url_ttl_s))


def media_window() -> int | None:
    """The expiry media_signer() signs with now, None when it does not sign: a signature depends
    only on the key and this, so URLs made in the same window are the same (api/course_cache)."""
    config = settings()
    key = current_app.extensions.get(_KEY)
    if not (config.require_auth_for_reads or g.get("people")) or key is None:
        return None
    return signing.expiry(time.time(), config.media_url_ttl_s)


def _is_open(path: str) -> bool:
    # Only /api is guarded: the web UI (/ and /ui/...) holds no data, and /metrics stays open
    # for Prometheus (keep it off the public proxy; see README, Security).
    return not path.startswith("/api/") or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def signing_configured() -> bool:
    """Whether this app signs media URLs (it needs ENCRYPTION_KEY)."""
    return current_app.extensions.get(_KEY) is not None


def check_signature() -> Response | None:
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


def require_read_access() -> Response | None:
    """With REQUIRE_AUTH_FOR_READS, a read of /api needs the token or a media URL's signature.

    The pipeline runs it for READS only.
    """
    if not settings().require_auth_for_reads:
        return None
    if _is_open(request.path) or presented_token_is_valid() or g.get("principal") is not None:
        return None  # a signed-in user or API token (api/authz.py checked it) reads too
    signed = "sig" in request.args or "exp" in request.args
    if signed and request.endpoint in MEDIA_ENDPOINTS:
        return check_signature()
    return unauthorized("A valid admin token is required for this request.")


def privileged_read() -> bool:
    """Whether this read may see the whole Google account: it carries the admin token (or a
    valid media signature) when ADMIN_TOKEN is set; it comes from this machine when unset.
    Once people exist, an admin (by session or token) is privileged; loopback alone is not."""
    principal = g.get("principal")
    if principal is not None and principal.role == "admin":
        return True
    if settings().admin_token is None and not g.get("people"):
        return is_loopback(request.remote_addr) and host_is_loopback()
    if presented_token_is_valid():
        return True
    key: bytes | None = current_app.extensions.get(_KEY)
    signed = request.args.get("sig") is not None and request.endpoint in MEDIA_ENDPOINTS
    verdict = signing.verify(
        key, request.path, request.args.get("exp"), request.args.get("sig"), time.time()
    ) if signed and key is not None else None  # fmt: skip
    return verdict is signing.Verdict.VALID


def _drive_id() -> str:
    named = (request.view_args or {}).get("file_id") or request.args.get("folder_id") or "root"
    return str(named)


def require_indexed_drive_content() -> Response | None:
    """Drive content outside the indexed trees only for a privileged read (the pipeline: READS)."""
    # Contract section 7: beyond the indexed trees the account is the admin's alone.
    if request.endpoint not in DRIVE_ENDPOINTS:
        return None
    if privileged_read():
        return None
    file_id = _drive_id()
    client = lambda: DriveClient.from_settings(settings(), db())  # noqa: E731
    if len(file_id) <= MAX_DRIVE_ID:
        with live_drive_slot():
            if drive_scope.is_indexed(services(), client, file_id):
                return None
    if g.get("people"):
        return envelope(403, "forbidden", "Drive files outside the indexed folders are for admins.",
                        {"reason": "outside_indexed_folders"})  # fmt: skip
    if settings().admin_token is not None:
        return unauthorized(
            "Drive files outside the indexed folders need the admin token.",
            {"reason": "outside_indexed_folders"},
        )
    return envelope(
        403, "forbidden",
        "Drive files outside the indexed folders are served to this machine only, until"
        " ADMIN_TOKEN is set.",
        {"reason": "outside_indexed_folders"},
    )  # fmt: skip


_MEDIA_PATH_ENDS = ("/stream", "/thumbnail", "/file", "/playback")
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
    """Keep the signing key (derived once) for media URLs and the live Drive slots; the read
    guards are stages of the request pipeline (api/pipeline.py)."""
    app.extensions[_KEY] = media_key(app.extensions["aula.settings"])
    slots = app.extensions["aula.settings"].drive_live_concurrency
    app.extensions["aula.drive_slots"] = threading.BoundedSemaphore(slots)
