"""Liveness with non-secret settings, readiness against real and missing workers, metrics."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient

from tests.api.conftest import MakeApp
from tests.core.brokers import closed_redis_url

CHECKS = {"database", "broker", "workers", "disk"}


def test_health_answers_with_version_uptime_and_settings(client: FlaskClient) -> None:
    response = client.get("/api/health")

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"status", "version", "uptime_s", "settings"}
    assert body["status"] == "ok"
    assert isinstance(body["version"], str) and body["version"]
    assert isinstance(body["uptime_s"], int | float) and body["uptime_s"] >= 0
    assert body["settings"]["log_format"] == "json"
    assert body["settings"]["max_content_length"] == 16777216


def test_health_shows_no_secret(make_app: MakeApp) -> None:
    secrets = {
        "admin_token": "health-admin-token-31337",
        "encryption_key": Fernet.generate_key().decode(),
        "flower_basic_auth": "flower:health-flower-pass",
    }
    app = make_app(
        **secrets,
        database_url="postgresql://aula:health-db-pass@127.0.0.1:1/aula",
        redis_url="redis://:health-redis-pass@127.0.0.1:1/0",
    )

    response = app.test_client().get("/api/health")

    assert response.status_code == 200
    raw = response.get_data(as_text=True)
    for secret in (*secrets.values(), "health-flower-pass", "health-db-pass", "health-redis-pass"):
        assert secret not in raw
    shown = response.get_json()["settings"]
    assert shown["admin_token"] == "set"
    assert shown["encryption_key"] == "set"


def ready(app: Flask) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get("/api/health/ready")
    return response.status_code, response.get_json()


def test_not_ready_without_a_worker(quiet_app: Flask) -> None:
    status, body = ready(quiet_app)

    assert status == 503
    assert body["status"] == "not_ready"
    assert set(body["checks"]) >= CHECKS
    assert body["checks"]["workers"] != "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] == "ok"
    assert body["checks"]["disk"] == "ok"


def test_ready_with_a_worker(app: Flask, worker: dict[str, Any]) -> None:
    status, body = ready(app)

    assert (status, body["status"]) == (200, "ready"), body
    assert {name: body["checks"][name] for name in CHECKS} == dict.fromkeys(CHECKS, "ok")


def test_not_ready_with_the_broker_down(make_app: MakeApp) -> None:
    status, body = ready(make_app(redis_url=closed_redis_url()))

    assert status == 503
    assert body["status"] == "not_ready"
    assert body["checks"]["broker"].startswith("unreachable")
    assert body["checks"]["workers"] != "ok"
    assert body["checks"]["database"] == "ok"


def test_not_ready_below_the_disk_floor(make_app: MakeApp) -> None:
    status, body = ready(make_app(disk_free_floor_mb=10**9))

    assert status == 503
    assert "below" in body["checks"]["disk"]


def test_metrics_count_requests(client: FlaskClient) -> None:
    client.get("/api/health")

    response = client.get("/metrics")

    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "flask_http_request_duration_seconds" in text
    assert "flask_http_request_total" in text
