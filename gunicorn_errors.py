"""gunicorn's own error answers (a request line too long, a malformed header: refused before the
app sees the request) in the contract's JSON envelope instead of gunicorn's HTML page."""

from __future__ import annotations

import json
import socket
import uuid

from gunicorn import util

# Apart from the `api` package on purpose: gunicorn's master imports this, and must not import
# the app (its metrics set-up reads what the master prepares first). Codes as in api.errors.
CODES = {400: "validation_error", 403: "forbidden", 413: "payload_too_large"}
MAX_MESSAGE = 200


def envelope_bytes(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 response carrying the error envelope, connection closed."""
    code = CODES.get(status, "validation_error") if status < 500 else "internal_error"
    text = f"{reason}: {message}" if message else reason
    request_id = uuid.uuid4().hex
    body = json.dumps(
        {
            "error": {"code": code, "message": text[:MAX_MESSAGE], "details": None},
            "request_id": request_id,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def write_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn.util.write_error's signature, writing the envelope."""
    util.write_nonblock(sock, envelope_bytes(status_int, reason, mesg))


def install() -> None:
    """Make gunicorn's workers answer their own errors in the envelope (gunicorn 27 calls
    `util.write_error` for them; tests/e2e/test_security_redos.py fails if that changes)."""
    util.write_error = write_error
