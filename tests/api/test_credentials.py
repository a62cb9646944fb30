"""Credentials over HTTP: stored encrypted, never shown back, never logged."""

from __future__ import annotations

import logging

from cryptography.fernet import Fernet

from api import create_app

BODY = {"client_id": "cid.apps", "client_secret": "cs-very-secret", "refresh_token": "1//rt-xyz987"}


def _client(base_env):
    overrides = {key.lower(): value for key, value in base_env.items()}
    overrides["encryption_key"] = Fernet.generate_key().decode()
    return create_app(overrides).test_client()


def test_google_credentials_round_trip_without_showing_secrets(
    base_env, settings, caplog, fake_google
):
    fake_google.accept_refresh_token(
        BODY["refresh_token"], "me@example.com", (BODY["client_id"], BODY["client_secret"])
    )
    client = _client(base_env)
    caplog.set_level(logging.DEBUG)
    response = client.put("/api/credentials/google", json=BODY)
    assert response.status_code == 200
    listed = client.get("/api/credentials").get_json()
    google = next(item for item in listed if item["kind"] == "google")
    assert google["configured"] is True and google["fingerprint"].startswith("sha256:")
    for raw in (response.get_data(as_text=True), str(listed), caplog.text):
        assert "cs-very-secret" not in raw and "rt-xyz987" not in raw
    assert client.delete("/api/credentials/google").status_code == 204
    assert client.delete("/api/credentials/google").get_json()["error"]["code"] == "not_found"


def test_incomplete_google_credentials_are_refused(base_env, settings):
    client = _client(base_env)
    response = client.put("/api/credentials/google", json={"client_id": "x", "refresh_token": 5})
    body = response.get_json()
    assert response.status_code == 422 and body["error"]["code"] == "validation_error"
    assert set(body["error"]["details"]["json"]) == {"client_secret", "refresh_token"}
    assert client.delete("/api/credentials/unknown").status_code == 404


def test_google_credentials_make_one_connection_for_the_account(base_env, settings, fake_google):
    fake_google.accept_refresh_token(
        BODY["refresh_token"], "me@example.com", (BODY["client_id"], BODY["client_secret"])
    )
    client = _client(base_env)
    assert client.put("/api/credentials/google", json=BODY).status_code == 200
    assert client.put("/api/credentials/google", json=BODY).status_code == 200  # replaces it
    (made,) = client.get("/api/google/connections").get_json()["items"]
    assert made["email"] == "me@example.com" and made["kind"] == "oauth"
    assert made["status"] == "ok"
    listed = client.get(f"/api/drive/files?connection_id={made['id']}")
    assert listed.status_code == 200, listed.get_json()


def test_google_credentials_google_refuses_are_a_400_storing_nothing(base_env, settings):
    client = _client(base_env)
    refused = client.put("/api/credentials/google", json={**BODY, "refresh_token": "1//unknown"})
    error = refused.get_json()["error"]
    assert refused.status_code == 400 and error["code"] == "validation_error", error
    assert error["details"]["reason"] in ("invalid_grant", "invalid_client")
    assert client.get("/api/google/connections").get_json()["items"] == []
    listed = client.get("/api/credentials").get_json()
    assert not any(item["kind"] == "google" and item["configured"] for item in listed)


def test_deleting_the_google_credential_disconnects_the_account_it_connected(
    app, client, settings, drive
):
    """DELETE /api/credentials/google undoes what PUT made (CONTRACT 8.1): that connection is
    deleted as DELETE /api/google/connections/{id} would (token revoked at Google, secrets
    erased, its Drive items gone); a connection made another way stays."""
    from sqlalchemy import select

    from api.extensions import SERVICES
    from core.base.models import GoogleConnection
    from core.base.vault import Vault
    from core.catalog.indexing import rebuild_drive
    from core.google import connections
    from core.google.drive import DriveClient

    drive.accept_refresh_token(
        BODY["refresh_token"], "me@example.com", (BODY["client_id"], BODY["client_secret"])
    )
    assert client.put("/api/credentials/google", json=BODY).status_code == 200
    (made,) = client.get("/api/google/connections").get_json()["items"]
    services = app.extensions[SERVICES]
    other, _ = connections.save(
        services.db, Vault(services.db, settings.fernet_keys), kind="oauth",
        email="other@example.com", scopes=["openid"], secret={"refresh_token": "other-rt"},
        folders=["root"],
    )  # fmt: skip
    drive.add_file("lesson.mp4", size=100)
    rebuild_drive(services, DriveClient.from_settings(settings, services.db, made["id"]))
    (item,) = client.get("/api/catalog/items?source=drive").get_json()["items"]
    assert item["connection_id"] == made["id"]

    assert client.delete("/api/credentials/google").status_code == 204
    assert BODY["refresh_token"] in drive.revoked_tokens
    trail = [(e["action"], e["target"]) for e in client.get("/api/audit").get_json()["items"]]
    assert trail[:2] == [
        ("credential.deleted", "/api/credentials/google"),
        ("connection.deleted", f"/api/google/connections/{made['id']}"),
    ]
    assert [c["id"] for c in client.get("/api/google/connections").get_json()["items"]] == [
        other.id
    ]
    with services.db.session() as session:
        emails = [row.email for row in session.scalars(select(GoogleConnection))]
    assert emails == ["other@example.com"]
    assert client.get("/api/catalog/items?source=drive").get_json()["items"] == []
    listed = client.get("/api/credentials").get_json()
    assert not any(info["kind"] == "google" and info["configured"] for info in listed)
    assert client.delete("/api/credentials/google").status_code == 404


def test_deleting_the_connection_the_google_credential_made_forgets_the_credential(
    client, settings, drive
):
    """The credential and the connection PUT made are one: deleting the connection revokes the
    credential's token, so Settings no longer shows a credential Google refuses."""
    drive.accept_refresh_token(
        BODY["refresh_token"], "me@example.com", (BODY["client_id"], BODY["client_secret"])
    )
    assert client.put("/api/credentials/google", json=BODY).status_code == 200
    (made,) = client.get("/api/google/connections").get_json()["items"]
    assert client.delete(f"/api/google/connections/{made['id']}").status_code == 204
    assert BODY["refresh_token"] in drive.revoked_tokens
    listed = client.get("/api/credentials").get_json()
    assert not any(info["kind"] == "google" and info["configured"] for info in listed)


def test_a_pasted_refresh_token_shows_the_scopes_google_granted_it(base_env, settings, fake_google):
    from core.google import connections

    drive_only = [s for s in connections.SCOPES if "classroom" not in s]
    fake_google.accept_refresh_token(
        BODY["refresh_token"], "me@example.com", (BODY["client_id"], BODY["client_secret"]),
        scopes=drive_only,
    )  # fmt: skip
    client = _client(base_env)
    assert client.put("/api/credentials/google", json=BODY).status_code == 200
    (made,) = client.get("/api/google/connections").get_json()["items"]
    assert made["scopes"] == drive_only  # as Google's token endpoint named them
    assert made["missing_scopes"] == [s for s in connections.SCOPES if "classroom" in s]
