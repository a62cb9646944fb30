"""Helpers for tests of people: an app with an admin, signed-in clients, a viewer."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient

ADMIN = ("alice", "alice's long password")
VIEWER = ("bob", "bob's long password")


@dataclass
class SignedIn:
    """A test client holding a session cookie, and that session's CSRF token."""

    client: FlaskClient
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}


def form(pair: tuple[str, str]) -> dict[str, str]:
    """A sign-in body for (username, password)."""
    return {"username": pair[0], "password": pair[1]}


def set_up_admin(app: Flask) -> None:
    """The first admin, made from loopback (the test client's address)."""
    answer = app.test_client().post("/api/setup", json=form(ADMIN))
    assert answer.status_code == 201, answer.get_json()


def sign_in(app: Flask, username: str, password: str) -> SignedIn:
    client = app.test_client()
    answer = client.post("/api/session", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.get_json()
    return SignedIn(client, answer.get_json()["csrf_token"])


def with_viewer(app: Flask) -> tuple[SignedIn, SignedIn]:
    """An admin and a viewer, both signed in."""
    set_up_admin(app)
    admin = sign_in(app, *ADMIN)
    made = admin.client.post(
        "/api/users",
        json={"username": VIEWER[0], "password": VIEWER[1], "role": "viewer"},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.get_json()
    return admin, sign_in(app, *VIEWER)
