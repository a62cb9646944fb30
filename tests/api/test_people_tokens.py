"""API tokens, ADMIN_TOKEN beside people, sign-in throttling and the audit trail (CONTRACT 8.2)."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

from flask import Flask

from core.base.db import session_scope
from core.base.logging import RedactingFilter
from core.base.models import utcnow
from core.people.models import ApiToken
from tests.api.conftest import MakeApp
from tests.api.envelope import assert_envelope
from tests.api.people_support import ADMIN, form, set_up_admin, sign_in, with_viewer
from tests.api.test_auth import TOKEN
from tests.api.test_security_limits import address


def test_a_token_drives_the_api_from_a_script_and_is_shown_once(quiet_app: Flask) -> None:
    admin, _ = with_viewer(quiet_app)
    made = admin.client.post("/api/tokens", json={"name": "backup script", "expires_in_days": 30},
                             headers=admin.headers)  # fmt: skip
    assert made.status_code == 201
    secret = made.get_json()["token"]
    script = quiet_app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert script.get("/api/users", headers=bearer).status_code == 200
    assert script.post("/api/maintenance/cleanup", headers=bearer).status_code == 202
    listed = admin.client.get("/api/tokens").get_json()["items"]
    assert secret not in str(listed) and listed[0]["last_used_at"] is not None
    with session_scope(quiet_app.extensions["aula.settings"].database_url) as session:
        (row,) = session.query(ApiToken).all()
        assert secret not in row.token_hash
    gone = admin.client.delete(f"/api/tokens/{listed[0]['id']}", headers=admin.headers)
    assert gone.status_code == 204
    assert_envelope(script.get("/api/users", headers=bearer), 401, "unauthorized")


def test_an_expired_or_unknown_token_is_401(quiet_app: Flask) -> None:
    admin, _ = with_viewer(quiet_app)
    made = admin.client.post("/api/tokens", json={"name": "short"}, headers=admin.headers)
    secret = made.get_json()["token"]
    with session_scope(quiet_app.extensions["aula.settings"].database_url) as session:
        session.query(ApiToken).update({"expires_at": utcnow() - timedelta(seconds=1)})
    script = quiet_app.test_client()
    for presented in (secret, "aula_" + "x" * 43, "not-a-token"):
        answer = script.get("/api/catalog/items", headers={"Authorization": f"Bearer {presented}"})
        assert_envelope(answer, 401, "unauthorized")


def test_a_viewer_cannot_revoke_another_users_token(quiet_app: Flask) -> None:
    admin, viewer = with_viewer(quiet_app)
    made = admin.client.post("/api/tokens", json={"name": "admin's"}, headers=admin.headers)
    token_id = made.get_json()["id"]
    refused = viewer.client.delete(f"/api/tokens/{token_id}", headers=viewer.headers)
    assert_envelope(refused, 404, "not_found")
    everyone = admin.client.get("/api/tokens?all=true").get_json()["items"]
    assert [token["username"] for token in everyone] == ["alice"]


def test_admin_token_stays_an_admin_bearer_once_people_exist(make_app: MakeApp) -> None:
    app = make_app(admin_token=TOKEN)
    client = app.test_client()
    made = client.post("/api/setup", json=form(ADMIN), headers={"X-Admin-Token": TOKEN})
    assert made.status_code == 201
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/users", headers=bearer).status_code == 200
    assert client.post("/api/maintenance/cleanup", headers=bearer).status_code == 202
    assert_envelope(client.post("/api/tokens", json={"name": "x"}, headers=bearer), 409, "conflict")


def test_five_failures_per_username_then_429_with_retry_after(quiet_app: Flask) -> None:
    set_up_admin(quiet_app)
    client = quiet_app.test_client()
    for _ in range(5):  # from five addresses: the per-username limit counts them all
        wrong = client.post("/api/session", json={"username": "alice", "password": "guess guess"},
                            environ_base=address())  # fmt: skip
        assert wrong.status_code == 401
    blocked = client.post("/api/session", json=form(ADMIN), environ_base=address())
    assert_envelope(blocked, 429, "rate_limited")
    assert 1 <= int(blocked.headers["Retry-After"]) <= 15 * 60
    other = client.post("/api/session", json={"username": "bob", "password": "guess guess"})
    assert other.status_code == 401  # another username is not blocked


def test_failed_sign_ins_per_address_then_429(make_app: MakeApp) -> None:
    app = make_app(rate_limit_auth_failures="3/minute")
    set_up_admin(app)
    client, me = app.test_client(), address()
    answers = [
        client.post(
            "/api/session",
            json={"username": f"user{n}", "password": "guess guess"},
            environ_base=me,
        ).status_code
        for n in range(4)
    ]
    assert answers == [401, 401, 401, 429]
    assert client.post("/api/session", json=form(ADMIN), environ_base=address()).status_code == 200


def test_the_audit_trail_records_sign_ins_and_changes(quiet_app: Flask) -> None:
    admin, viewer = with_viewer(quiet_app)
    quiet_app.test_client().post("/api/session", json={"username": "bob", "password": "nope nope!"})
    made = admin.client.post("/api/tokens", json={"name": "t"}, headers=admin.headers)
    admin.client.delete(f"/api/tokens/{made.get_json()['id']}", headers=admin.headers)
    viewer.client.delete("/api/session", headers=viewer.headers)
    assert_envelope(viewer.client.get("/api/audit"), 401, "unauthorized")
    entries = admin.client.get("/api/audit?limit=200").get_json()["items"]
    actions = [entry["action"] for entry in reversed(entries)]
    assert actions == ["user.created", "sign_in", "user.created", "sign_in", "sign_in_failed",
                       "token.created", "token.deleted", "sign_out"]  # fmt: skip
    assert {"id", "at", "actor", "action", "target", "ip", "request_id"} == set(entries[0])
    assert entries[0]["actor"] == "bob" and entries[0]["request_id"]
    page = admin.client.get("/api/audit?limit=3").get_json()
    assert len(page["items"]) == 3 and page["next_cursor"]


def test_tokens_and_session_ids_never_reach_the_log(quiet_app: Flask) -> None:
    # The handler the app's logging config installs, with its redacting filter, on a buffer.
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(RedactingFilter())
    logging.getLogger().addHandler(handler)
    try:
        admin = (set_up_admin(quiet_app), sign_in(quiet_app, *ADMIN))[1]
        made = admin.client.post("/api/tokens", json={"name": "t"}, headers=admin.headers)
        secret = made.get_json()["token"]
        cookie = admin.client.get_cookie("aula_session")
        assert cookie is not None
        quiet_app.test_client().get(f"/api/catalog/items?token={secret}",
                                    headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
        logging.getLogger("aula.test").warning("pasted %s, aula_session=%s", secret, cookie.value)
    finally:
        logging.getLogger().removeHandler(handler)
    logged = buffer.getvalue()
    assert "GET /api/catalog/items 200" in logged
    assert "pasted aula_[REDACTED], aula_[REDACTED]" in logged
    assert secret not in logged and cookie.value not in logged


def test_credential_changes_and_deletions_are_audited(quiet_app: Flask) -> None:
    admin, _ = with_viewer(quiet_app)
    cookies = "# Netscape HTTP Cookie File\n.example.com\tTRUE\t/\tFALSE\t0\tSID\taudit\n"
    put = admin.client.put("/api/credentials/cookies", data=cookies,
                           headers={**admin.headers, "Content-Type": "text/plain"})  # fmt: skip
    assert put.status_code == 200
    assert admin.client.delete("/api/credentials/cookies", headers=admin.headers).status_code == 204
    missing = admin.client.delete("/api/downloads/999", headers=admin.headers)
    assert missing.status_code == 404  # refused changes are not recorded
    entries = admin.client.get("/api/audit").get_json()["items"]
    assert [(e["action"], e["target"], e["actor"]) for e in entries[:2]] == [
        ("credential.deleted", "/api/credentials/cookies", "alice"),
        ("credential.updated", "/api/credentials/cookies", "alice"),
    ]
    assert "audit" not in str(entries)  # the cookie's value is never in the trail
