"""Request ids, the request log line, and the admin token on every mutating request.

The hooks here are stages of the request pipeline (api/pipeline.py), which decides their order
and which requests they run for.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Response, g, request
from pydantic import SecretStr

from api.errors import envelope
from api.extensions import settings
from core.base.logging import request_id_var

log = logging.getLogger("aula.request")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def start_request() -> None:
    """Start the clocks (the request log line and the metrics read them) and set the request id."""
    g.started = time.perf_counter()
    g.cpu_started = time.thread_time()
    g.request_id = request_id_from(request.headers.get("X-Request-ID", ""))
    g.request_id_token = request_id_var.set(g.request_id)


def request_id_from(incoming: str) -> str:
    """The id a request goes by: the client's X-Request-ID if it is sane, else a new one."""
    return incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex


def server_timing(cpu_started: float, cpu_now: float) -> str:
    """Server-Timing's value: the CPU a request's thread spent until its response starts."""
    return f"cpu;dur={(cpu_now - cpu_started) * 1000:.1f}"  # contract section 7 bounds it


def log_line(method: str, path: str, status: int, started: float, now: float) -> None:
    """The request log line, for a request timed from `started` to `now` (perf_counter)."""
    duration_ms = round((now - started) * 1000, 2)
    log.info(
        "%s %s %s",
        method,
        path,
        status,
        extra={"method": method, "path": path, "status_code": status, "duration_ms": duration_ms},
    )


def presented_token() -> str | None:
    """The bearer token (or X-Admin-Token) the request carries, if any."""
    return presented_in(
        request.headers.get("Authorization", ""), request.headers.get("X-Admin-Token")
    )


def presented_in(authorization: str, admin_header: str | None) -> str | None:
    """The token an Authorization header's bearer credentials name, else X-Admin-Token's."""
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return admin_header


def presented_token_is_valid() -> bool:
    """Whether the request carries ADMIN_TOKEN (Bearer or X-Admin-Token); constant-time."""
    return is_admin_token(presented_token(), settings().admin_token)


def is_admin_token(presented: str | None, token: SecretStr | None) -> bool:
    """Whether `presented` is ADMIN_TOKEN (`token`, None when unset); constant-time."""
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
    return is_foreign(
        request.headers.get("Origin"), request.scheme, request.host, settings().cors_origins
    )


def is_foreign(origin: str | None, scheme: str, host: str, allowed: Iterable[str]) -> bool:
    """`foreign_origin` for an Origin header (None: absent), the request's scheme and host, and
    the CORS_ORIGINS `allowed`."""
    if origin is None:
        return False
    key = _origin_key(origin)
    own = [f"{scheme}://{host}", *allowed]
    return key is None or key not in [_origin_key(one) for one in own]


def host_is_loopback() -> bool:
    """Whether the Host the client asked for is a loopback name or address (not a DNS name
    that a rebinding attack can point at 127.0.0.1)."""
    return is_loopback_host(request.host)


def is_loopback_host(host: str) -> bool:
    """`host_is_loopback` for a Host as werkzeug reads it (`request.host`)."""
    try:
        name = (urlsplit(f"//{host}").hostname or "").rstrip(".")
    except ValueError:
        return False
    return name == "localhost" or name.endswith(".localhost") or is_loopback(name)


def require_admin() -> Response | None:
    """A mutation needs ADMIN_TOKEN, or loopback while it is unset; never from a foreign Origin.

    The pipeline runs it for MUTATING methods only.
    """
    if foreign_origin():
        return envelope(
            403, "forbidden", "Changes from another site's pages are refused (Origin).",
            {"reason": "foreign_origin"},
        )  # fmt: skip
    if g.get("people"):
        return None  # people exist: api.authz decides, by session, token or ADMIN_TOKEN
    if settings().admin_token is None:
        if is_loopback(request.remote_addr) and host_is_loopback():
            return None
        return envelope(
            403, "forbidden",
            "Until ADMIN_TOKEN is set, changes are accepted only from this machine at a loopback"
            " address (http://127.0.0.1:<port> or http://localhost:<port>).",
            {"reason": "loopback_only", "setting": "ADMIN_TOKEN"},
        )  # fmt: skip
    if presented_token_is_valid():
        return None
    return unauthorized("A valid admin token is required for this request.")


def refuse_oversized() -> Response | None:
    """413 for a declared body larger than MAX_CONTENT_LENGTH, on any route."""
    # Werkzeug refuses a large body only when a view reads it; refuse it whatever the view does.
    limit = settings().max_content_length
    if request.content_length is not None and request.content_length > limit:
        return envelope(
            413,
            "payload_too_large",
            "The request body is larger than MAX_CONTENT_LENGTH allows.",
            {"setting": "MAX_CONTENT_LENGTH"},
        )
    return None


def refuse_nul_characters() -> Response | None:
    """400 for a NUL in the path or the query string."""
    # PostgreSQL cannot store or compare text holding NUL: refuse it here as bad input, in a
    # path or a query, before any view hands it to the database (a 500 before). JSON bodies are
    # left to their schemas, which name the field.
    query = request.query_string.lower()
    if "\x00" in request.path or b"%00" in query or b"\x00" in query:
        return envelope(
            400, "validation_error", "NUL characters are not accepted.", {"reason": "nul"}
        )
    return None


def require_valid_json() -> Response | None:
    """400 for a mutation's JSON body that does not parse (the pipeline: MUTATING methods only)."""
    # Refused on every route, even one that ignores bodies.
    has_json_body = request.is_json and request.content_length
    if has_json_body and request.get_json(silent=True) is None:
        return envelope(400, "validation_error", "The body is not valid JSON.", None)
    return None


def finish_request(response: Response) -> Response:
    """X-Request-ID, Server-Timing and the request log line (the last after-stage)."""
    cpu_now, now = time.thread_time(), time.perf_counter()  # each read once: a syscall, not free
    response.headers["X-Request-ID"] = g.get("request_id", "")
    response.headers["Server-Timing"] = server_timing(g.get("cpu_started", cpu_now), cpu_now)
    log_line(request.method, request.path, response.status_code, g.get("started", now), now)
    return response


def reset_context(_exc: BaseException | None) -> None:
    """Drop this request's id from the logging context (a teardown: runs whatever happened)."""
    token = g.pop("request_id_token", None)
    if token is not None:
        request_id_var.reset(token)
