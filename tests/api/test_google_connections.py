"""Connecting Google for real (CONTRACT 8.1): the client file, the code flow with PKCE, the
callback and the pasted address, against the fake Google's consent, token and userinfo endpoints."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import select, update

from core.base.models import GoogleConnection, GoogleOAuthState, utcnow
from core.base.vault import Vault
from core.google.connections import SCOPES
from tests.fakes.google import FakeGoogle

CALLBACK = "http://localhost:8000/api/google/oauth/callback"


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    """A fake Google of this test's own (accounts, codes and refresh tokens start empty)."""
    with FakeGoogle() as fake:
        yield fake
    assert not fake.server_errors, fake.server_errors


@pytest.fixture
def client(make_app: Any, google: FakeGoogle) -> FlaskClient:
    env = {**google.env(), **google.consent_env(), "PUBLIC_URL": "http://localhost:8000"}
    return make_app(**{key.lower(): value for key, value in env.items()}).test_client()


def _consent(client: FlaskClient, path: str = "/api/google/connections") -> tuple[dict, str]:
    """Start a connection and consent at the fake like a person would: (started, redirect)."""
    started = client.post(path, json={})
    assert started.status_code == 201, started.get_json()
    body = started.get_json()
    answer = requests.get(body["authorization_url"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    return body, answer.headers["Location"]


def _callback(client: FlaskClient, redirect: str) -> Any:
    parts = urlsplit(redirect)
    return client.get(f"{parts.path}?{parts.query}")


def _connect(client: FlaskClient, google: FakeGoogle) -> None:
    assert client.put("/api/google/client", json=google.client_file()).status_code == 200


def test_client_file_is_stored_and_never_shown(client, google, caplog):
    caplog.set_level(logging.DEBUG)
    assert client.get("/api/google/client").get_json() == {
        "client_id": None, "type": None, "redirect_uri": CALLBACK, "configured": False,
    }  # fmt: skip
    for kind in ("web", "installed"):
        response = client.put("/api/google/client", json=google.client_file(kind))
        assert response.status_code == 200
        expected = {"client_id": google.client_id, "type": kind, "redirect_uri": CALLBACK,
                    "configured": True}  # fmt: skip
        assert response.get_json() == expected
        assert client.get("/api/google/client").get_json() == expected
    bare = {"client_id": google.client_id, "client_secret": google.client_secret}
    assert client.put("/api/google/client", json=bare).get_json()["type"] == "installed"
    for raw in (response.get_data(as_text=True), caplog.text):
        assert google.client_secret not in raw


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({"installed": {"client_id": "x"}}, ["installed.client_secret"]),
        ({"web": {"client_secret": "s", "client_id": ""}}, ["web.client_id"]),
        ({"type": "service_account"}, ["client_id", "client_secret"]),
        ([1, 2], ["installed"]),
    ],
)
def test_a_file_that_is_not_a_client_is_refused_naming_what_is_missing(client, body, missing):
    response = client.put("/api/google/client", json=body)
    error = response.get_json()["error"]
    assert response.status_code == 400 and error["code"] == "validation_error"
    assert error["details"]["missing"] == missing
    assert client.get("/api/google/client").get_json()["configured"] is False


def test_connecting_without_a_client_says_where_to_upload_one(client):
    response = client.post("/api/google/connections", json={})
    error = response.get_json()["error"]
    assert response.status_code == 409 and error["details"]["reason"] == "google_client_missing"


def test_the_authorization_url_asks_offline_consent_with_pkce(client, google):
    _connect(client, google)
    before = utcnow()
    body = client.post("/api/google/connections", json={}).get_json()
    after = utcnow()
    url = urlsplit(body["authorization_url"])
    q = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == google.auth_url
    assert body["redirect_uri"] == CALLBACK and q["redirect_uri"] == CALLBACK
    assert q["response_type"] == "code" and q["client_id"] == google.client_id
    assert q["access_type"] == "offline" and q["prompt"] == "consent"
    assert q["include_granted_scopes"] == "true" and q["state"] == body["state"]
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert q["scope"].split() == list(SCOPES)
    expires = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(minutes=10) <= expires <= after + timedelta(minutes=10)


def test_the_callback_connects_the_account_and_its_state_is_single_use(client, google, caplog):
    caplog.set_level(logging.DEBUG)
    _connect(client, google)
    _, redirect = _consent(client)
    answer = _callback(client, redirect)
    assert answer.status_code == 303
    listed = client.get("/api/google/connections").get_json()
    (connection,) = listed["items"]
    assert answer.headers["Location"] == f"/#/settings?connected={connection['id']}"
    assert connection["email"] == google.account_email and connection["kind"] == "oauth"
    assert connection["status"] == "ok" and connection["missing_scopes"] == []
    assert connection["drive_folder_ids"] == ["root"]  # DRIVE_FOLDER_IDS's default
    (refresh,) = google.live_refresh_tokens()
    again = _callback(client, redirect)
    assert again.status_code == 400 and "already used" in again.get_data(as_text=True)
    assert len(client.get("/api/google/connections").get_json()["items"]) == 1
    shown = str(listed) + caplog.text + answer.get_data(as_text=True)
    code = parse_qs(urlsplit(redirect).query)["code"][0]
    for secret in (refresh, code, google.client_secret):
        assert secret not in shown


def test_a_refusal_an_unknown_or_expired_state_stores_nothing(client, google, db):
    _connect(client, google)
    google.deny_consent = True
    _, redirect = _consent(client)
    denied = _callback(client, redirect)
    assert denied.status_code == 400 and "did not allow" in denied.get_data(as_text=True)
    google.deny_consent = False
    unknown = client.get("/api/google/oauth/callback?code=x&state=forged")
    assert unknown.status_code == 400 and "unknown" in unknown.get_data(as_text=True)
    _, redirect = _consent(client)
    with db.session() as session:
        session.execute(update(GoogleOAuthState).values(expires_at=utcnow() - timedelta(1)))
    expired = _callback(client, redirect)
    assert expired.status_code == 400 and "expired" in expired.get_data(as_text=True)
    assert client.get("/api/google/connections").get_json()["items"] == []


def test_a_wrong_code_verifier_is_refused_by_google_and_nothing_is_stored(
    client, google, db, settings
):
    _connect(client, google)
    _, redirect = _consent(client)
    vault = Vault(db, settings.fernet_keys)
    with db.session() as session:
        forged = vault.seal(b"x" * 64)  # not the verifier the challenge was made from
        session.execute(update(GoogleOAuthState).values(verifier=forged))
    refused = _callback(client, redirect)
    assert refused.status_code == 400 and "invalid_grant" in refused.get_data(as_text=True)
    assert client.get("/api/google/connections").get_json()["items"] == []


def test_the_pasted_address_finishes_like_the_callback_and_one_account_is_one_connection(
    client, google, db
):
    _connect(client, google)
    google.granted_scopes = ["openid", "https://www.googleapis.com/auth/userinfo.email",
                             "https://www.googleapis.com/auth/drive.readonly"]  # fmt: skip
    _, redirect = _consent(client)
    other_host = redirect.replace("localhost:8000", "evil.example")
    wrong = client.post("/api/google/connections/complete", json={"redirect_url": other_host})
    assert wrong.status_code == 400
    assert wrong.get_json()["error"]["details"]["reason"] == "wrong_redirect_url"
    done = client.post("/api/google/connections/complete", json={"redirect_url": redirect})
    assert done.status_code == 201, done.get_json()
    first = done.get_json()
    assert first["email"] == google.account_email
    assert "https://www.googleapis.com/auth/classroom.courses.readonly" in first["missing_scopes"]
    assert "email" not in first["missing_scopes"]
    google.granted_scopes = None
    _, redirect = _consent(client)
    second = client.post("/api/google/connections/complete", json={"redirect_url": redirect})
    assert second.get_json()["id"] == first["id"] and second.get_json()["missing_scopes"] == []
    with db.session() as session:
        assert len(list(session.scalars(select(GoogleConnection)))) == 1


def test_two_accounts_folders_reconnect_and_delete(client, google):
    _connect(client, google)
    _callback(client, _consent(client)[1])
    google.account_email = "me@personal.example"
    _callback(client, _consent(client)[1])
    first, second = client.get("/api/google/connections").get_json()["items"]
    assert (first["email"], second["email"]) == ("student@example.com", "me@personal.example")
    patched = client.patch(
        f"/api/google/connections/{second['id']}", json={"drive_folder_ids": ["F1", "F2", "F1"]}
    )
    assert patched.status_code == 200 and patched.get_json()["drive_folder_ids"] == ["F1", "F2"]
    bad = client.patch(f"/api/google/connections/{second['id']}", json={"drive_folder_ids": 3})
    assert bad.status_code == 422
    started, redirect = _consent(client, f"/api/google/connections/{second['id']}/reconnect")
    assert parse_qs(urlsplit(started["authorization_url"]).query)["login_hint"] == [
        "me@personal.example"
    ]
    reconnected = client.post("/api/google/connections/complete", json={"redirect_url": redirect})
    assert reconnected.get_json()["id"] == second["id"]
    assert reconnected.get_json()["drive_folder_ids"] == ["F1", "F2"]
    live = set(google.live_refresh_tokens())
    assert client.delete(f"/api/google/connections/{first['id']}").status_code == 204
    assert len(google.revoked_tokens) == 1 and google.revoked_tokens[0] in live
    assert client.get(f"/api/google/connections/{first['id']}").status_code == 404
    assert [c["id"] for c in client.get("/api/google/connections").get_json()["items"]] == [
        second["id"]
    ]


def test_the_callback_needs_no_token_where_everything_else_does(make_app, google):
    token = "t" * 32
    env = {**google.env(), **google.consent_env(), "PUBLIC_URL": "http://localhost:8000"}
    app = make_app(
        **{key.lower(): value for key, value in env.items()},
        admin_token=token, require_auth_for_reads=True,
    )  # fmt: skip
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert (
        client.put("/api/google/client", json=google.client_file(), headers=auth).status_code == 200
    )
    assert client.get("/api/google/connections").status_code == 401
    started = client.post("/api/google/connections", json={}, headers=auth).get_json()
    redirect = requests.get(started["authorization_url"], allow_redirects=False, timeout=10)
    assert _callback(client, redirect.headers["Location"]).status_code == 303  # no token sent
    listed = client.get("/api/google/connections", headers=auth).get_json()["items"]
    assert [c["email"] for c in listed] == [google.account_email]


def test_reconnecting_as_another_account_is_refused_and_changes_nothing(client, google):
    _connect(client, google)
    _callback(client, _consent(client)[1])
    (connection,) = client.get("/api/google/connections").get_json()["items"]
    google.account_email = "someone.else@example.com"
    redirect = _consent(client, f"/api/google/connections/{connection['id']}/reconnect")[1]
    refused = _callback(client, redirect)
    assert refused.status_code == 400 and "someone.else@example.com" in refused.get_data(
        as_text=True
    )
    (still,) = client.get("/api/google/connections").get_json()["items"]
    assert still["email"] == "student@example.com" and still["id"] == connection["id"]
