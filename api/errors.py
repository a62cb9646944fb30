"""One error envelope for every error, whatever raised it; no stack trace leaves the server."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from core.base.errors import AulaError

log = logging.getLogger(__name__)

CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    416: "range_not_satisfiable",
    422: "validation_error",
    429: "rate_limited",
    502: "upstream_error",
    503: "broker_unavailable",
    504: "upstream_timeout",
    507: "insufficient_storage",
}


def envelope(status: int, code: str, message: str, details: Any = None) -> Response:
    """The contract's error body with `status`."""
    body = {
        "error": {"code": code, "message": message, "details": details},
        "request_id": getattr(g, "request_id", None),
    }
    response = jsonify(body)
    response.status_code = status
    return response


def _message(error: HTTPException) -> str:
    status = error.code or 500
    if status == 404:
        return f"Nothing is at {request.path}."
    if status == 405:
        return f"Method {request.method} is not allowed on {request.path}."
    if status == 413:
        return "The request body is larger than MAX_CONTENT_LENGTH allows."
    if status in (400, 422):
        return "The request is not valid; see details."
    return error.description or error.name


def http_error_response(error: HTTPException) -> Response:
    """Envelope for Werkzeug's and flask-smorest's HTTP errors (routing, 405, 413, validation)."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    details = data.get("messages") if isinstance(data, dict) else None
    if status == 400 and details and "json" in details and not isinstance(details["json"], dict):
        message = "The body is not valid JSON."  # field errors (a dict) say what is wrong
    else:
        found = data.get("message") if isinstance(data, dict) else None
        message = found or _message(error)
    response = envelope(status, CODES.get(status, "internal_error"), message, details)
    if status == 405 and error.get_response().headers.get("Allow"):
        response.headers["Allow"] = error.get_response().headers["Allow"]
    return response


def aula_error_response(error: AulaError) -> Response:
    """Envelope for errors `core` raises on purpose (429 with its Retry-After)."""
    response = envelope(error.status, error.code, error.message, error.details)
    if error.status == 429:
        response.headers["Retry-After"] = str((error.details or {}).get("retry_after_s", 1))
    return response


def unhandled_error_response(error: Exception) -> Response:
    """500 with a generic sentence; the traceback goes to the log only."""
    if isinstance(error, HTTPException):
        return http_error_response(error)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return envelope(500, "internal_error", "An internal error occurred; it has been logged.")


def register_error_handlers(app: Flask) -> None:
    """Route every error through the envelope."""
    app.register_error_handler(HTTPException, http_error_response)
    app.register_error_handler(AulaError, aula_error_response)
    app.register_error_handler(Exception, unhandled_error_response)
