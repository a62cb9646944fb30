"""Assertions on the contract's error envelope."""

from __future__ import annotations

from typing import Any

from werkzeug.test import TestResponse


def assert_envelope(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    """The response is the contract's error body with `status` and `code`; return `details`."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["request_id"], "every error names its request"
    assert body["request_id"] == response.headers["X-Request-ID"]
    details: dict[str, Any] = body["error"]["details"] or {}
    return details
