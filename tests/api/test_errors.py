"""One error envelope for every error, whatever raised it; request ids on every response."""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.api.conftest import MakeApp
from tests.api.envelope import assert_envelope


def b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_unknown_route_is_not_found(client: FlaskClient) -> None:
    response = client.get("/api/no-such-thing")

    assert_envelope(response, 404, "not_found")
    assert response.get_json()["error"]["details"] is None


def test_wrong_method_is_method_not_allowed_with_allow(client: FlaskClient) -> None:
    response = client.get("/api/maintenance/cleanup")

    assert_envelope(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
    assert "GET" not in response.headers["Allow"]


def test_wrong_mutating_method_is_method_not_allowed(client: FlaskClient) -> None:
    response = client.put("/api/tasks/some-id")

    assert_envelope(response, 405, "method_not_allowed")
    assert {"GET", "DELETE"} <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_malformed_json_body_is_a_validation_error(quiet_client: FlaskClient) -> None:
    response = quiet_client.post(
        "/api/maintenance/cleanup", data='{"oops": ', content_type="application/json"
    )

    assert_envelope(response, 400, "validation_error")


def test_an_oversized_json_body_is_payload_too_large(make_app: MakeApp) -> None:
    client = make_app(max_content_length=2048).test_client()

    response = client.post("/api/maintenance/cleanup", json={"padding": "x" * 4096})

    assert_envelope(response, 413, "payload_too_large")


def test_an_oversized_body_of_any_type_is_payload_too_large(make_app: MakeApp) -> None:
    client = make_app(max_content_length=2048).test_client()

    response = client.post(
        "/api/maintenance/cleanup", data=b"x" * 4096, content_type="application/octet-stream"
    )

    assert_envelope(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=500", "limit"),
        ("limit=-3", "limit"),
        ("state=BOGUS", "state"),
        ("name=not.a.task", "name"),
        ("cursor=" + "a" * 600, "cursor"),
    ],
)
def test_bad_query_arguments_are_validation_errors(
    client: FlaskClient, query: str, field: str
) -> None:
    response = client.get(f"/api/tasks?{query}")

    assert response.status_code in (400, 422)
    details = assert_envelope(response, response.status_code, "validation_error")
    assert field in json.dumps(details)


@pytest.mark.parametrize(
    "cursor",
    ["garbage!!", "bm90IGpzb24", b64({"not": "a list"}), b64(["only-one-value"])],
)
def test_a_malformed_cursor_is_a_validation_error(client: FlaskClient, cursor: str) -> None:
    response = client.get("/api/tasks", query_string={"cursor": cursor})

    details = assert_envelope(response, 400, "validation_error")
    assert "cursor" in details


@pytest.mark.parametrize(
    "cursor",
    [b64([1, 2]), b64([{"dt": "2026-01-01T00:00:00"}, "id"])],
    ids=["numbers", "naive-datetime"],
)
def test_a_well_formed_cursor_with_wrong_types_is_a_validation_error(
    client: FlaskClient, cursor: str
) -> None:
    response = client.get("/api/tasks", query_string={"cursor": cursor})

    assert_envelope(response, 400, "validation_error")


def test_unknown_task_is_not_found(client: FlaskClient) -> None:
    response = client.get(f"/api/tasks/{uuid.uuid4()}")

    assert_envelope(response, 404, "not_found")


def test_an_unhandled_exception_is_a_bare_internal_error(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> str:
        raise RuntimeError("boom secret")

    app.add_url_rule("/api/test-explode", "test_explode", explode)

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/api/test-explode")

    assert_envelope(response, 500, "internal_error")
    body = response.get_data(as_text=True)
    for leak in ("Traceback", "boom", "secret", "RuntimeError", "explode", ".py"):
        assert leak not in body
    logged = [r for r in caplog.records if r.exc_info or r.exc_text]
    assert logged, "the traceback goes to the log"


def test_a_sane_request_id_is_echoed(client: FlaskClient) -> None:
    ok = client.get("/api/health", headers={"X-Request-ID": "ui-1234.abc:DEF_x-9"})
    missing = client.get("/api/nowhere", headers={"X-Request-ID": "ui-5678"})

    assert ok.headers["X-Request-ID"] == "ui-1234.abc:DEF_x-9"
    assert missing.headers["X-Request-ID"] == "ui-5678"
    assert missing.get_json()["request_id"] == "ui-5678"


@pytest.mark.parametrize(
    "incoming", ["a" * 129, "has spaces", "semi;colon", "<script>", "ünïcode", ""]
)
def test_an_insane_request_id_is_replaced(client: FlaskClient, incoming: str) -> None:
    response = client.get("/api/nowhere", headers={"X-Request-ID": incoming})

    generated = response.headers["X-Request-ID"]
    assert generated != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert response.get_json()["request_id"] == generated


def test_every_response_gets_its_own_request_id(client: FlaskClient) -> None:
    ids = {client.get("/api/health").headers["X-Request-ID"] for _ in range(5)}

    assert len(ids) == 5


def test_an_id_no_database_can_hold_is_not_found_on_every_route(app: Flask) -> None:
    client = app.test_client()
    routes = [rule for rule in app.url_map.iter_rules() if "<int:" in rule.rule]
    assert routes, "no route takes an integer id"
    for rule in routes:
        path = re.sub(r"<int:\w+>", str(10**20), rule.rule)
        path = re.sub(r"<(?:\w+:)?\w+>", "x", path)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, json={} if method != "GET" else None)
            assert_envelope(response, 404, "not_found")


def test_an_item_id_no_database_can_hold_is_a_validation_error(client: FlaskClient) -> None:
    response = client.post("/api/downloads", json={"item_id": 10**20})

    assert_envelope(response, 422, "validation_error")
    assert "item_id" in response.get_json()["error"]["details"]["json"]


@pytest.mark.parametrize("fmt", ["bv*+ba/b\n--exec x", "best\x00", "bestvideo\u2028"])
def test_a_format_selector_with_control_characters_is_refused(client: FlaskClient, fmt) -> None:
    body = {"url": "https://example.com/a.mp4", "format": fmt}
    response = client.post("/api/downloads", json=body)

    assert_envelope(response, 422, "validation_error")
    assert "format" in response.get_json()["error"]["details"]["json"]
