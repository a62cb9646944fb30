"""Request ids, the request log line, and the admin token on every mutating request."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, request

from api.errors import envelope
from api.extensions import settings
from core.logging import request_id_var

log = logging.getLogger("aula.request")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _start_request() -> None:
    g.started = time.perf_counter()
    g.cpu_started = time.thread_time()
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
    g.request_id_token = request_id_var.set(g.request_id)


def _presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-Admin-Token")


def presented_token_is_valid() -> bool:
    """Whether the request carries ADMIN_TOKEN (Bearer or X-Admin-Token); constant-time."""
    token = settings().admin_token
    presented = _presented_token()
    if token is None or not presented:
        return False
    return hmac.compare_digest(presented.encode(), token.get_secret_value().encode())


def unauthorized(message: str, details: Any = None) -> Response:
    """401 in the envelope, with the challenge naming the bearer scheme."""
    response = envelope(401, "unauthorized", message, details)
    response.headers["WWW-Authenticate"] = 'Bearer realm="aula"'
    return response


def is_loopback(address: str | None) -> bool:
    """Whether `address` is a loopback IP address (a name or nothing is not)."""
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _origin_key(origin: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(origin.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower().rstrip("."), port


def foreign_origin() -> bool:
    """Whether the request names an Origin other than the server's own and not in CORS_ORIGINS.

    `null` (sandboxed frames, local files) and anything unparseable are foreign.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    key = _origin_key(origin)
    allowed = [f"{request.scheme}://{request.host}", *settings().cors_origins]
    return key is None or key not in [_origin_key(own) for own in allowed]


def host_is_loopback() -> bool:
    """Whether the Host the client asked for is a loopback name or address (not a DNS name
    that a rebinding attack can point at 127.0.0.1)."""
    try:
        name = (urlsplit(f"//{request.host}").hostname or "").rstrip(".")
    except ValueError:
        return False
    return name == "localhost" or name.endswith(".localhost") or is_loopback(name)


def _require_admin() -> Response | None:
    if request.method not in MUTATING:
        return None
    if foreign_origin():
        return envelope(
            403, "forbidden", "Changes from another site's pages are refused (Origin).",
            {"reason": "foreign_origin"},
        )  # fmt: skip
    if settings().admin_token is None:
        if is_loopback(request.remote_addr) and host_is_loopback():
            return None
        return envelope(
            403, "forbidden",
            "Until ADMIN_TOKEN is set, changes are accepted only from this machine at a loopback"
            " address (http://127.0.0.1:<port> or http://localhost:<port>).",
            {"reason": "loopback_only"},
        )  # fmt: skip
    if presented_token_is_valid():
        return None
    return unauthorized("A valid admin token is required for this request.")


def _refuse_oversized() -> Response | None:
    # Werkzeug refuses a large body only when a view reads it; refuse it whatever the view does.
    limit = settings().max_content_length
    if request.content_length is not None and request.content_length > limit:
        return envelope(
            413, "payload_too_large", "The request body is larger than MAX_CONTENT_LENGTH allows."
        )
    return None


def _refuse_nul_characters() -> Response | None:
    # PostgreSQL cannot store or compare text holding NUL: refuse it here as bad input, in a
    # path or a query, before any view hands it to the database (a 500 before). JSON bodies are
    # left to their schemas, which name the field.
    query = request.query_string.lower()
    if "\x00" in request.path or b"%00" in query or b"\x00" in query:
        return envelope(
            400, "validation_error", "NUL characters are not accepted.", {"reason": "nul"}
        )
    return None


def _require_valid_json() -> Response | None:
    # A JSON body that does not parse is refused on every route, even one that ignores bodies.
    has_json_body = request.method in MUTATING and request.is_json and request.content_length
    if has_json_body and request.get_json(silent=True) is None:
        return envelope(400, "validation_error", "The body is not valid JSON.", None)
    return None


def _finish_request(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    # CPU this request's thread spent before the response starts (contract section 7 bounds it).
    cpu_ms = (time.thread_time() - g.get("cpu_started", time.thread_time())) * 1000
    response.headers["Server-Timing"] = f"cpu;dur={cpu_ms:.1f}"
    duration_ms = round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2)
    log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "method": request.method,
            "path": request.path,
            "status_code": response.status_code,
            "duration_ms": duration_ms,
        },
    )
    return response


def _reset_context(_exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        request_id_var.reset(token)


def register_request_hooks(app: Flask) -> None:
    """Install the hooks; the admin check runs before routing errors, so it is checked first."""
    app.before_request(_start_request)
    app.before_request(_require_admin)
    app.before_request(_refuse_oversized)
    app.before_request(_refuse_nul_characters)
    app.before_request(_require_valid_json)
    app.after_request(_finish_request)
    app.teardown_request(_reset_context)


def run_early(app: Flask, hook: Callable[[], Response | None]) -> None:
    """Run `hook` right after the request id is set (and earlier early hooks), before the rest.

    For what must answer before the admin check: the HTTPS redirect, and the rate limit (which
    so counts the attempts that then fail the token check too).
    """
    hooks = app.before_request_funcs.setdefault(None, [])
    early: list[object] = app.extensions.setdefault("aula.early_hooks", [])
    if hook in hooks:
        hooks.remove(hook)
    hooks.insert(hooks.index(_start_request) + 1 + len(early), hook)
    early.append(hook)
