"""People (CONTRACT 8.2): setup, sign-in, sessions, CSRF, users and own passwords."""

from __future__ import annotations

from flask import Flask

from core.base.db import session_scope
from core.people.models import User, UserSession
from tests.api.conftest import MakeApp
from tests.api.envelope import assert_envelope
from tests.api.people_support import ADMIN, VIEWER, form, set_up_admin, sign_in, with_viewer
from tests.api.test_auth import TOKEN

REMOTE = {"REMOTE_ADDR": "203.0.113.9"}


def test_until_setup_nothing_changes_and_session_says_so(quiet_app: Flask) -> None:
    client = quiet_app.test_client()
    assert client.get("/api/catalog/items").status_code == 200
    assert client.get("/api/session").get_json()["setup_required"] is True
    assert client.post("/api/maintenance/cleanup").status_code == 202  # loopback, as before


def test_setup_makes_one_admin_then_answers_409(quiet_app: Flask) -> None:
    client = quiet_app.test_client()
    body = {"username": "alice", "password": "0123456789"}
    made = client.post("/api/setup", json=body)
    assert made.status_code == 201
    assert made.get_json()["role"] == "admin" and "password" not in str(made.get_json())
    assert_envelope(client.post("/api/setup", json={**body, "username": "eve"}), 409, "conflict")
    with session_scope(quiet_app.extensions["aula.settings"].database_url) as session:
        (user,) = session.query(User).all()
        assert (
            user.password_hash.startswith("$argon2id$") and "0123456789" not in user.password_hash
        )


def test_setup_from_another_machine_is_refused_without_the_admin_token(make_app: MakeApp) -> None:
    body = {"username": "alice", "password": "0123456789"}
    open_app = make_app()
    assert_envelope(open_app.test_client().post("/api/setup", json=body, environ_base=REMOTE),
                    403, "forbidden")  # fmt: skip
    guarded = make_app(admin_token=TOKEN).test_client()
    assert_envelope(guarded.post("/api/setup", json=body, environ_base=REMOTE), 401, "unauthorized")
    made = guarded.post(
        "/api/setup", json=body, environ_base=REMOTE, headers={"X-Admin-Token": TOKEN}
    )
    assert made.status_code == 201


def test_short_and_huge_passwords_are_refused_before_hashing(quiet_app: Flask) -> None:
    client = quiet_app.test_client()
    short = client.post("/api/setup", json={"username": "alice", "password": "123456789"})
    assert "password" in assert_envelope(short, 400, "validation_error")
    huge = client.post("/api/setup", json={"username": "alice", "password": "x" * 1_000_000})
    assert_envelope(huge, 422, "validation_error")
    long_name = client.post("/api/session", json={"username": "a" * 10_000, "password": "x"})
    assert_envelope(long_name, 422, "validation_error")
    assert client.get("/api/session").get_json()["setup_required"] is True


def test_once_a_user_exists_api_needs_sign_in_but_open_routes_stay_open(quiet_app: Flask) -> None:
    set_up_admin(quiet_app)
    client = quiet_app.test_client()
    for path in ("/api/catalog/items", "/api/tasks", "/api/session", "/api/nowhere"):
        assert_envelope(client.get(path), 401, "unauthorized")
    assert_envelope(client.post("/api/maintenance/cleanup"), 401, "unauthorized")  # loopback too
    for path in ("/api/health", "/api/health/ready", "/api/openapi.json", "/api/docs/", "/"):
        assert client.get(path).status_code in (200, 503), path
    assert client.get("/api/docs").status_code == 308  # to /api/docs/, open as well


def test_sign_in_sets_a_hardened_cookie_and_a_new_id_each_time(quiet_app: Flask) -> None:
    set_up_admin(quiet_app)
    client = quiet_app.test_client()
    client.set_cookie("aula_session", "planted-by-an-attacker")
    answer = client.post("/api/session", json=form(ADMIN))
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "planted-by-an-attacker" not in cookie
    first = client.get_cookie("aula_session")
    assert first is not None
    assert client.get("/api/session").get_json()["user"]["username"] == "alice"
    client.post("/api/session", json=form(ADMIN))
    second = client.get_cookie("aula_session")
    assert second is not None and second.value != first.value
    stale = quiet_app.test_client()
    stale.set_cookie("aula_session", first.value)
    assert_envelope(stale.get("/api/session"), 401, "unauthorized")  # the old one ended


def test_secure_cookie_when_public_url_is_https(make_app: MakeApp) -> None:
    app = make_app(public_url="https://aula.example.org")
    set_up_admin(app)
    answer = app.test_client().post("/api/session", json=form(ADMIN))
    assert "; Secure" in answer.headers["Set-Cookie"]


def test_wrong_password_and_unknown_user_get_the_same_answer(quiet_app: Flask) -> None:
    set_up_admin(quiet_app)
    client = quiet_app.test_client()
    wrong = client.post("/api/session", json={"username": "alice", "password": "not it at all"})
    unknown = client.post("/api/session", json={"username": "mallory", "password": "not it at all"})
    assert_envelope(wrong, 401, "unauthorized")
    assert_envelope(unknown, 401, "unauthorized")
    assert wrong.get_json()["error"] == unknown.get_json()["error"]
    assert "Set-Cookie" not in wrong.headers and "Set-Cookie" not in unknown.headers


def test_cookie_mutations_need_the_csrf_token_and_bearer_ones_do_not(quiet_app: Flask) -> None:
    admin, _ = with_viewer(quiet_app)
    body = {"username": "carol", "password": "carol's password"}
    refused = admin.client.post("/api/users", json=body)
    assert assert_envelope(refused, 403, "forbidden")["reason"] == "csrf"
    wrong = admin.client.post("/api/users", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert_envelope(wrong, 403, "forbidden")
    assert admin.client.post("/api/users", json=body, headers=admin.headers).status_code == 201
    token = admin.client.post("/api/tokens", json={"name": "cli"}, headers=admin.headers)
    script = quiet_app.test_client()
    bearer = {"Authorization": f"Bearer {token.get_json()['token']}"}
    made = script.post("/api/users", json={**body, "username": "dave"}, headers=bearer)
    assert made.status_code == 201


def test_a_foreign_origin_is_refused_even_with_session_and_csrf(quiet_app: Flask) -> None:
    admin, _ = with_viewer(quiet_app)
    answer = admin.client.post("/api/maintenance/cleanup", headers={**admin.headers,
                               "Origin": "https://evil.example"})  # fmt: skip
    assert assert_envelope(answer, 403, "forbidden")["reason"] == "foreign_origin"


def test_sign_out_ends_the_session_on_the_server(quiet_app: Flask) -> None:
    admin, _ = with_viewer(quiet_app)
    stolen = admin.client.get_cookie("aula_session")
    assert stolen is not None
    assert admin.client.delete("/api/session", headers=admin.headers).status_code == 204
    thief = quiet_app.test_client()
    thief.set_cookie("aula_session", stolen.value)
    assert_envelope(thief.get("/api/catalog/items"), 401, "unauthorized")


def test_disabling_a_user_ends_their_sessions_and_tokens_at_once(quiet_app: Flask) -> None:
    admin, viewer = with_viewer(quiet_app)
    token = viewer.client.post("/api/tokens", json={"name": "tv"}, headers=viewer.headers)
    bearer = {"Authorization": f"Bearer {token.get_json()['token']}"}
    bob = viewer.client.get("/api/session").get_json()["user"]["id"]
    patched = admin.client.patch(
        f"/api/users/{bob}", json={"disabled": True}, headers=admin.headers
    )
    assert patched.status_code == 200 and patched.get_json()["disabled"] is True
    assert_envelope(viewer.client.get("/api/catalog/items"), 401, "unauthorized")
    assert_envelope(quiet_app.test_client().get("/api/catalog/items", headers=bearer), 401,
                    "unauthorized")  # fmt: skip
    again = quiet_app.test_client().post("/api/session", json=form(VIEWER))
    assert_envelope(again, 401, "unauthorized")
    with session_scope(quiet_app.extensions["aula.settings"].database_url) as session:
        assert session.query(UserSession).filter_by(user_id=bob).count() == 0


def test_own_password_change_keeps_this_session_and_ends_the_others(quiet_app: Flask) -> None:
    set_up_admin(quiet_app)
    here, there = sign_in(quiet_app, *ADMIN), sign_in(quiet_app, *ADMIN)
    body = {"current_password": ADMIN[1], "new_password": "a brand new password"}
    wrong = here.client.put("/api/users/me/password", headers=here.headers,
                            json={**body, "current_password": "not the password"})  # fmt: skip
    assert_envelope(wrong, 400, "validation_error")
    assert (
        here.client.put("/api/users/me/password", json=body, headers=here.headers).status_code
        == 204
    )
    assert here.client.get("/api/session").status_code == 200
    assert_envelope(there.client.get("/api/session"), 401, "unauthorized")
    sign_in(quiet_app, "alice", "a brand new password")


def test_admins_manage_users_but_not_their_own_account_away(quiet_app: Flask) -> None:
    admin, viewer = with_viewer(quiet_app)
    me = admin.client.get("/api/session").get_json()["user"]["id"]
    listed = admin.client.get("/api/users").get_json()["items"]
    assert [user["username"] for user in listed] == ["alice", "bob"]
    assert_envelope(admin.client.delete(f"/api/users/{me}", headers=admin.headers), 409, "conflict")
    demote = admin.client.patch(f"/api/users/{me}", json={"role": "viewer"}, headers=admin.headers)
    assert_envelope(demote, 409, "conflict")
    taken = admin.client.post("/api/users", json={"username": "bob", "password": "0123456789"},
                              headers=admin.headers)  # fmt: skip
    assert_envelope(taken, 409, "conflict")
    bob = listed[1]["id"]
    assert admin.client.delete(f"/api/users/{bob}", headers=admin.headers).status_code == 204
    assert_envelope(viewer.client.get("/api/session"), 401, "unauthorized")
    assert_envelope(admin.client.get(f"/api/users/{bob}"), 404, "not_found")


def test_nul_in_a_username_or_token_name_is_bad_input(quiet_app: Flask) -> None:
    admin, _ = with_viewer(quiet_app)
    nul = quiet_app.test_client().post(
        "/api/session", json={"username": "al\x00ice", "password": "x"}
    )
    assert "username" in assert_envelope(nul, 422, "validation_error")["json"]
    named = admin.client.post("/api/tokens", json={"name": "a\x00b"}, headers=admin.headers)
    assert "name" in assert_envelope(named, 422, "validation_error")["json"]


def test_an_admin_sets_a_password_or_role_and_the_session_tells_who_is_asking(
    quiet_app: Flask,
) -> None:
    admin, viewer = with_viewer(quiet_app)
    bob = viewer.client.get("/api/session").get_json()["user"]["id"]
    promoted = admin.client.patch(
        f"/api/users/{bob}", json={"role": "admin"}, headers=admin.headers
    )
    assert promoted.get_json()["role"] == "admin"
    assert viewer.client.get("/api/users").status_code == 200  # the role counts at once
    reset = admin.client.patch(f"/api/users/{bob}", json={"password": "set by alice!"},
                               headers=admin.headers)  # fmt: skip
    assert reset.status_code == 200
    assert_envelope(viewer.client.get("/api/session"), 401, "unauthorized")
    bob_again = sign_in(quiet_app, "bob", "set by alice!")
    made = bob_again.client.post("/api/tokens", json={"name": "x"}, headers=bob_again.headers)
    bearer = {"Authorization": f"Bearer {made.get_json()['token']}"}
    me = quiet_app.test_client().get("/api/session", headers=bearer).get_json()
    assert (me["user"]["username"], me["via"], me["csrf_token"]) == ("bob", "token", None)
