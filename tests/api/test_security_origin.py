"""CSRF and DNS rebinding: a foreign Origin never mutates, and without ADMIN_TOKEN a mutation
needs a loopback peer that asked for a loopback Host."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.api.conftest import MakeApp
from tests.api.envelope import assert_envelope
from tests.api.test_auth import TOKEN, mutations, send

AUTH = {"X-Admin-Token": TOKEN}
LISTED = "https://ui.example.org"
FOREIGN = ("https://evil.example.net", "http://localhost.evil.example", "null", "http://[::1")


@pytest.fixture
def guarded(make_app: MakeApp) -> Flask:
    return make_app(admin_token=TOKEN, cors_origins=LISTED)


@pytest.fixture
def open_app(make_app: MakeApp) -> Flask:
    return make_app()


@pytest.mark.parametrize("origin", FOREIGN)
def test_a_foreign_origin_is_refused_with_or_without_the_token(
    guarded: Flask, open_app: Flask, origin: str
) -> None:
    for app, headers in ((guarded, AUTH), (guarded, {}), (open_app, {})):
        client = app.test_client()
        for method, rule, path in mutations(app):
            response = send(client, method, path, headers={"Origin": origin, **headers})
            assert response.status_code == 403, f"{method} {rule}: {response.status_code}"
            assert_envelope(response, 403, "forbidden")


def test_a_text_plain_form_post_from_another_site_is_refused(open_app: Flask) -> None:
    # What a page elsewhere can send without a preflight: a simple request with its Origin.
    response = open_app.test_client().post(
        "/api/maintenance/cleanup",
        data="x=1",
        headers={"Origin": "https://evil.example.net", "Content-Type": "text/plain"},
    )
    details = assert_envelope(response, 403, "forbidden")
    assert details == {"reason": "foreign_origin"}


@pytest.mark.parametrize(
    "origin", ["http://localhost", "HTTP://LOCALHOST:80", LISTED, "https://ui.example.org:443"]
)
def test_the_own_origin_and_listed_ones_mutate(guarded: Flask, origin: str) -> None:
    response = guarded.test_client().post(
        "/api/maintenance/cleanup", headers={"Origin": origin, **AUTH}
    )
    assert response.status_code == 202, response.get_json()


def test_reads_with_a_foreign_origin_are_answered(guarded: Flask) -> None:
    response = guarded.test_client().get("/api/tasks", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "app.localhost:1"]
)
def test_without_a_token_loopback_hosts_mutate(open_app: Flask, host: str) -> None:
    client = open_app.test_client()
    own = {"Origin": f"http://{host}"}

    for headers in ({}, own):
        response = client.post("/api/maintenance/cleanup", headers={"Host": host, **headers})
        assert response.status_code == 202, (host, headers, response.get_json())


@pytest.mark.parametrize(
    "host", ["rebind.evil.example", "rebind.evil.example:8000", "127.0.0.1.nip.io", "10.0.0.5"]
)
def test_without_a_token_a_rebound_host_is_refused(open_app: Flask, host: str) -> None:
    # DNS rebinding: the attacker's name now resolves to 127.0.0.1, so the peer is loopback and
    # the page's own Origin matches its Host; only the Host gives it away.
    client = open_app.test_client()

    for method, rule, path in mutations(open_app):
        response = send(client, method, path, headers={"Host": host, "Origin": f"http://{host}"})
        details = assert_envelope(response, 403, "forbidden")
        assert details == {"reason": "loopback_only", "setting": "ADMIN_TOKEN"}, f"{method} {rule}"
    assert client.get("/api/tasks", headers={"Host": host}).status_code == 200


def test_with_a_token_any_host_mutates(guarded: Flask) -> None:
    response = guarded.test_client().post(
        "/api/maintenance/cleanup",
        headers={"Host": "aula.example.org", **AUTH},
        environ_base={"REMOTE_ADDR": "192.0.2.9"},
    )
    assert response.status_code == 202
