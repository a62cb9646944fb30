"""The admin token guards every mutating route of the live URL map, checked before anything else."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from werkzeug.routing.converters import (
    AnyConverter,
    FloatConverter,
    IntegerConverter,
    UUIDConverter,
)
from werkzeug.test import TestResponse

from tests.api.conftest import MakeApp
from tests.api.envelope import assert_envelope

# Defined here, not imported from api.security: the contract decides what a mutation is.
MUTATING = ("POST", "PUT", "PATCH", "DELETE")
TOKEN = "admin-token-for-tests-0123456789"
OUTSIDER = {"REMOTE_ADDR": "192.0.2.7"}
KNOWN_MUTATIONS = {("POST", "/api/maintenance/cleanup"), ("DELETE", "/api/tasks/<task_id>")}


def sample_value(rule: Rule, argument: str) -> Any:
    """A value for a URL argument, naming nothing that exists where the converter allows it."""
    converter = rule._converters[argument]
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)[0]
    if isinstance(converter, IntegerConverter):
        return 987654321
    if isinstance(converter, FloatConverter):
        return 9876.5
    if isinstance(converter, UUIDConverter):
        return uuid.uuid4()
    return f"no-such-{argument}-{uuid.uuid4().hex[:8]}"


def mutations(app: Flask) -> Iterator[tuple[str, str, str]]:
    """(method, rule, concrete path) for every mutating method of every rule of the app."""
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        for method in MUTATING:
            if method in (rule.methods or ()):
                values = {arg: sample_value(rule, arg) for arg in rule.arguments}
                path = adapter.build(rule.endpoint, values, method=method)
                yield method, str(rule).replace("<string:", "<"), path


def send(client: FlaskClient, method: str, path: str, **kwargs: Any) -> TestResponse:
    if method in ("POST", "PUT", "PATCH"):
        kwargs.setdefault("json", {})
    return client.open(path, method=method, **kwargs)


@pytest.fixture
def guarded(make_app: MakeApp) -> Flask:
    return make_app(admin_token=TOKEN)


@pytest.fixture
def open_app(make_app: MakeApp) -> Flask:
    return make_app()


def test_the_walk_covers_the_known_mutations(guarded: Flask) -> None:
    walked = {(method, rule) for method, rule, _ in mutations(guarded)}

    assert walked >= KNOWN_MUTATIONS


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
        {"X-Admin-Token": "wrong-token"},
        {"X-Admin-Token": ""},
    ],
    ids=[
        "none",
        "wrong",
        "longer",
        "shorter",
        "basic",
        "no-scheme",
        "empty-bearer",
        "wrong-header",
        "empty-header",
    ],
)
def test_every_mutation_needs_the_token(guarded: Flask, headers: dict[str, str]) -> None:
    client = guarded.test_client()

    for method, rule, path in mutations(guarded):
        response = send(client, method, path, headers=headers)
        assert response.status_code == 401, f"{method} {rule} answered {response.status_code}"
        assert_envelope(response, 401, "unauthorized")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {TOKEN}"},
        {"Authorization": f"bearer {TOKEN}"},
        {"X-Admin-Token": TOKEN},
    ],
    ids=["bearer", "lowercase-bearer", "x-admin-token"],
)
def test_every_mutation_passes_with_the_token(guarded: Flask, headers: dict[str, str]) -> None:
    client = guarded.test_client()

    for method, rule, path in mutations(guarded):
        # From anywhere: with a token set, the address does not matter.
        response = send(client, method, path, headers=headers, environ_base=OUTSIDER)
        assert response.status_code not in (401, 403), f"{method} {rule}: {response.status_code}"


def test_the_token_is_checked_before_the_id(guarded: Flask) -> None:
    client = guarded.test_client()
    path = f"/api/tasks/{uuid.uuid4()}"

    assert_envelope(client.delete(path), 401, "unauthorized")
    assert_envelope(client.delete(path, headers={"X-Admin-Token": TOKEN}), 404, "not_found")


def test_the_token_is_checked_before_routing_and_body(guarded: Flask) -> None:
    client = guarded.test_client()

    assert_envelope(client.post("/api/no-such-route"), 401, "unauthorized")
    assert_envelope(client.put("/api/health"), 401, "unauthorized")
    bad_json = client.post(
        "/api/maintenance/cleanup", data="{not json", content_type="application/json"
    )
    assert_envelope(bad_json, 401, "unauthorized")


def test_reads_need_no_token(guarded: Flask) -> None:
    client = guarded.test_client()

    assert client.get("/api/health", environ_base=OUTSIDER).status_code == 200
    assert client.get("/api/tasks", environ_base=OUTSIDER).status_code == 200


def test_without_a_token_mutations_from_elsewhere_are_forbidden(open_app: Flask) -> None:
    client = open_app.test_client()

    for method, rule, path in mutations(open_app):
        response = send(client, method, path, environ_base=OUTSIDER)
        assert response.status_code == 403, f"{method} {rule} answered {response.status_code}"
        assert_envelope(response, 403, "forbidden")
    assert client.get("/api/tasks", environ_base=OUTSIDER).status_code == 200


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1"])
def test_without_a_token_mutations_from_loopback_are_allowed(open_app: Flask, address: str) -> None:
    client = open_app.test_client()

    for method, rule, path in mutations(open_app):
        response = send(client, method, path, environ_base={"REMOTE_ADDR": address})
        assert response.status_code not in (401, 403), f"{method} {rule}: {response.status_code}"
    accepted = client.post("/api/maintenance/cleanup", environ_base={"REMOTE_ADDR": address})
    assert accepted.status_code == 202


def test_a_missing_or_odd_remote_address_is_not_loopback(open_app: Flask) -> None:
    client = open_app.test_client()

    for address in ("", "localhost", "not-an-ip"):
        response = client.post("/api/maintenance/cleanup", environ_base={"REMOTE_ADDR": address})
        assert_envelope(response, 403, "forbidden")
