"""Service accounts (CONTRACT 8.1): a key JSON becomes a connection once Google (the fake's JWT
bearer grant, checking the RS256 signature) gives it a token; a refusal is a 400 with Google's
error and stores nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient

from tests.fakes.google import FakeGoogle


def service_key(email: str = "aula@school-project.iam.gserviceaccount.com") -> dict[str, Any]:
    """A service account key JSON as Google's console downloads it, with a fresh RSA key."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account", "project_id": "school-project", "private_key_id": "k1",
        "private_key": pem, "client_email": email, "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }  # fmt: skip


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        yield fake
    assert not fake.server_errors, fake.server_errors


@pytest.fixture
def client(make_app: Any, google: FakeGoogle) -> FlaskClient:
    env = {**google.env(), **google.consent_env()}
    return make_app(**{key.lower(): value for key, value in env.items()}).test_client()


def test_a_delegated_service_account_connects_and_lists_drive(client, google, caplog):
    caplog.set_level(logging.DEBUG)
    key = service_key()
    google.add_service_account(key, subjects=("teacher@school.example",))
    google.add_folder("Year 9 physics")
    body = {"service_account": key, "subject": "teacher@school.example"}
    made = client.post("/api/google/connections", json=body)
    assert made.status_code == 201, made.get_json()
    connection = made.get_json()
    assert connection["kind"] == "service_account"
    assert connection["email"] == "teacher@school.example" and connection["status"] == "ok"
    listed = client.get(f"/api/drive/files?folder_id=root&connection_id={connection['id']}")
    assert listed.status_code == 200, listed.get_json()
    assert "Year 9 physics" in [f["name"] for f in listed.get_json()["files"]]
    secret_line = key["private_key"].splitlines()[1]
    for raw in (made.get_data(as_text=True), caplog.text, str(client.get(
        "/api/google/connections").get_json())):  # fmt: skip
        assert secret_line not in raw


def test_refusals_are_400s_carrying_googles_error_and_store_nothing(client, google):
    key = service_key()
    google.add_service_account(key, subjects=())
    undelegated = client.post(
        "/api/google/connections", json={"service_account": key, "subject": "x@school.example"}
    )
    error = undelegated.get_json()["error"]
    assert undelegated.status_code == 400 and error["code"] == "validation_error"
    assert error["details"]["google_error"] == "unauthorized_client"
    stranger = service_key("other@p.iam.gserviceaccount.com")  # Google does not know its key
    unknown = client.post("/api/google/connections", json={"service_account": stranger})
    assert unknown.get_json()["error"]["details"]["google_error"] == "invalid_grant"
    broken = {**key, "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n"}
    bad = client.post("/api/google/connections", json={"service_account": broken})
    assert bad.status_code == 400
    assert bad.get_json()["error"]["details"]["reason"] == "bad_private_key"
    wrong = client.post("/api/google/connections", json={"service_account": {"installed": {}}})
    assert (
        wrong.status_code == 400 and "not a service account" in wrong.get_json()["error"]["message"]
    )
    assert client.get("/api/google/connections").get_json()["items"] == []


def test_the_service_account_itself_without_a_subject(client, google):
    key = service_key()
    google.add_service_account(key)
    made = client.post("/api/google/connections", json={"service_account": key, "subject": None})
    assert made.status_code == 201 and made.get_json()["email"] == key["client_email"]
    assert client.delete(f"/api/google/connections/{made.get_json()['id']}").status_code == 204
    assert google.revoked_tokens == []  # a key has no refresh token to revoke
