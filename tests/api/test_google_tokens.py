"""Tokens come from google-auth through a connection; Google's invalid_grant puts that connection
in needs_reconnect at once, and nothing asks Google again until the person reconnects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from api.extensions import SERVICES
from core.base.errors import UpstreamRefused
from core.base.models import CatalogItem, Delivery
from core.base.vault import Vault
from core.catalog.indexing import rebuild_drive
from core.google import connections
from core.google.auth import GoogleReconnectRequired
from core.google.drive import DriveClient
from core.jobs.task_lifecycle import error_dict
from tests.api.metrics_text import value
from tests.api.test_google_connections import _callback, _connect, _consent
from tests.fakes.google import FakeGoogle


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        yield fake
    assert not fake.server_errors, fake.server_errors


@pytest.fixture
def client(make_app: Any, google: FakeGoogle) -> FlaskClient:
    env = {**google.env(), **google.consent_env(), "PUBLIC_URL": "http://localhost:8000"}
    return make_app(**{key.lower(): value for key, value in env.items()}).test_client()


def _listing(client: FlaskClient, connection_id: int | None = None) -> Any:
    query = "" if connection_id is None else f"&connection_id={connection_id}"
    return client.get(f"/api/drive/files?folder_id=root{query}")


def test_drive_goes_through_the_connection_until_google_withdraws_it(client, google):
    google.add_folder("Physics")
    _connect(client, google)
    assert _callback(client, _consent(client)[1]).status_code == 303
    (connection,) = client.get("/api/google/connections").get_json()["items"]
    listed = _listing(client)
    assert listed.status_code == 200, listed.get_json()
    used = client.get(f"/api/google/connections/{connection['id']}").get_json()["last_used_at"]
    # a token was made for it just now
    assert datetime.fromisoformat(used) > datetime.fromisoformat(connection["last_used_at"])
    assert [f["name"] for f in listed.get_json()["files"]] == ["Physics"]
    assert _listing(client, connection["id"]).status_code == 200

    google.kill_refresh_tokens()  # revoked at Google's end, password changed, 7-day expiry
    google.expire_all_tokens()
    before = google.token_requests
    refused = _listing(client)
    error = refused.get_json()["error"]
    assert refused.status_code == 502 and error["details"]["reason"] == "invalid_grant"
    assert google.token_requests == before + 1  # no retries of a refusal
    shown = client.get(f"/api/google/connections/{connection['id']}").get_json()
    assert shown["status"] == "needs_reconnect" and "reconnect" in shown["status_reason"]
    again = _listing(client)
    assert again.status_code == 502 and google.token_requests == before + 1  # not asked again

    # Reconnecting replaces the tokens, keeps the id, and Drive answers again.
    redirect = _consent(client, f"/api/google/connections/{connection['id']}/reconnect")[1]
    assert _callback(client, redirect).status_code == 303
    assert client.get(f"/api/google/connections/{connection['id']}").get_json()["status"] == "ok"
    assert _listing(client).status_code == 200


def test_an_unknown_connection_is_a_404(client, google):
    _connect(client, google)
    _callback(client, _consent(client)[1])
    assert _listing(client, 999).status_code == 404


def test_a_withdrawn_grant_is_a_task_error_of_its_own_type():
    error = GoogleReconnectRequired("Google withdrew access (invalid_grant).", {})
    assert isinstance(error, UpstreamRefused)  # permanent: no task retries it
    assert error_dict(error)["type"] == "google_reconnect_required"
    assert error_dict(UpstreamRefused("x"))["type"] == "UpstreamRefused"


def test_readiness_and_metrics_show_connections_but_never_fail_for_them(app, worker, db, settings):
    vault = Vault(db, settings.fernet_keys)
    for email in ("a@school.example", "b@home.example"):
        connections.save(
            db, vault, kind="oauth", email=email, scopes=[], secret={"refresh_token": "rt"},
            folders=["root"],
        )  # fmt: skip
    first, _ = connections.list_connections(db).items
    assert connections.mark_needs_reconnect(db, first.id, "invalid_grant")
    assert not connections.mark_needs_reconnect(db, first.id, "invalid_grant")  # once
    response = app.test_client().get("/api/health/ready")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "ready", body
    assert body["checks"]["google"] == (
        "1 of 2 Google accounts need reconnecting: a@school.example"
    )
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert value(text, "aula_google_connections", status="ok") == 1
    assert value(text, "aula_google_connections", status="needs_reconnect") == 1
    assert value(text, "aula_google_connections", status="revoked") == 0


def test_the_webhook_hears_a_withdrawn_grant_once(make_app, google, db):
    env = {**google.env(), **google.consent_env(), "PUBLIC_URL": "http://localhost:8000"}
    overrides = {key.lower(): value for key, value in env.items()}
    client = make_app(**overrides, webhook_urls="http://127.0.0.1:9/hook").test_client()
    google.add_folder("Lessons")
    _connect(client, google)
    _callback(client, _consent(client)[1])
    google.kill_refresh_tokens()
    google.expire_all_tokens()
    assert _listing(client).status_code == 502
    assert _listing(client).status_code == 502  # refused again: no second event
    with db.session() as session:
        events = [d for d in session.scalars(select(Delivery)) if d.event.startswith("google.")]
    assert len(events) == 1
    body = json.loads(events[0].body)
    assert body["event"] == "google.connection.needs_reconnect"
    assert body["data"]["email"] == google.account_email and body["data"]["page"] == "/#/settings"
    assert "fake-rt" not in events[0].body


def test_the_next_rebuild_follows_the_connections_folders(make_app, google, base_env):
    env = {**google.env(), **google.consent_env(), "PUBLIC_URL": "http://localhost:8000"}
    overrides = {key.lower(): value for key, value in env.items()}
    app = make_app(**overrides)
    client = app.test_client()
    physics, maths = google.add_folder("Physics"), google.add_folder("Maths")
    google.add_file("waves.mp4", physics, size=1000, seed=1)
    google.add_file("algebra.mp4", maths, size=1000, seed=2)
    _connect(client, google)
    _callback(client, _consent(client)[1])
    (connection,) = client.get("/api/google/connections").get_json()["items"]
    services = app.extensions[SERVICES]

    def rebuild() -> set[str]:
        drive = DriveClient.from_settings(services.settings, services.db)
        rebuild_drive(services, drive)
        with services.db.session() as session:
            return {i.title for i in session.scalars(select(CatalogItem)) if i.source == "drive"}

    assert {"waves.mp4", "algebra.mp4"} <= rebuild()  # DRIVE_FOLDER_IDS's default: root
    path = f"/api/google/connections/{connection['id']}"
    assert client.patch(path, json={"drive_folder_ids": [physics]}).status_code == 200
    assert rebuild() == {"waves.mp4"}
    client.patch(path, json={"drive_folder_ids": [maths]})
    assert rebuild() == {"algebra.mp4"}


def test_one_drive_file_through_a_named_connection(client, google):
    folder = google.add_folder("Chemistry")
    _connect(client, google)
    _callback(client, _consent(client)[1])
    (connection,) = client.get("/api/google/connections").get_json()["items"]
    one = client.get(f"/api/drive/files/{folder}?connection_id={connection['id']}")
    assert one.status_code == 200 and one.get_json()["name"] == "Chemistry"
    assert client.get(f"/api/drive/files/{folder}?connection_id=999").status_code == 404


def test_deleting_the_last_connection_removes_its_items_and_keeps_local_ones(make_app, google):
    env = {**google.env(), **google.consent_env(), "PUBLIC_URL": "http://localhost:8000"}
    app = make_app(**{key.lower(): value for key, value in env.items()})
    client = app.test_client()
    google.add_file("lesson.mp4", google.add_folder("Biology"), size=1000, seed=3)
    _connect(client, google)
    _callback(client, _consent(client)[1])
    google.account_email = "me@personal.example"
    _callback(client, _consent(client)[1])
    first, second = client.get("/api/google/connections").get_json()["items"]
    services = app.extensions[SERVICES]
    rebuild_drive(services, DriveClient.from_settings(services.settings, services.db))
    with services.db.session() as session:
        session.add(CatalogItem(source="local", source_id="a/b.mp4", title="b.mp4"))

    def sources() -> list[str]:
        with services.db.session() as session:
            return sorted({item.source for item in session.scalars(select(CatalogItem))})

    assert sources() == ["drive", "local"]
    assert client.delete(f"/api/google/connections/{second['id']}").status_code == 204
    assert sources() == ["drive", "local"]  # the other account still reaches them
    assert client.delete(f"/api/google/connections/{first['id']}").status_code == 204
    assert sources() == ["local"]
