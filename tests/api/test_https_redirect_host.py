"""FORCE_HTTPS redirects to the same host only when the Host is a host name, nothing else."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.api.conftest import MakeApp
from tests.api.envelope import assert_envelope


@pytest.fixture
def https_app(make_app: MakeApp) -> Flask:
    return make_app(force_https=True)


@pytest.mark.parametrize(
    ("host", "location"),
    [
        ("aula.example.org", "https://aula.example.org/api/tasks?limit=2"),
        ("aula.example.org:8443", "https://aula.example.org:8443/api/tasks?limit=2"),
        ("127.0.0.1:8000", "https://127.0.0.1:8000/api/tasks?limit=2"),
        ("[::1]:8000", "https://[::1]:8000/api/tasks?limit=2"),
    ],
)
def test_a_plain_host_is_redirected_to_itself(https_app: Flask, host: str, location: str) -> None:
    response = https_app.test_client().get("/api/tasks?limit=2", headers={"Host": host})

    assert response.status_code == 308
    assert response.headers["Location"] == location


@pytest.mark.parametrize(
    "host",
    [
        "evil.example/phish?x=",
        "evil.example\\@aula.example.org",
        "user@evil.example",
        "evil.example#",
        "a" * 70 + ".example",
        "evil .example",
        "x" * 300,
        "a-" * 2000 + "!",
    ],
)
def test_anything_else_is_refused(https_app: Flask, host: str) -> None:
    response = https_app.test_client().get("/api/tasks", headers={"Host": host})

    assert_envelope(response, 400, "validation_error")
    assert "Location" not in response.headers
