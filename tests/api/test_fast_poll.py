"""A plain task poll answered before Flask (api/fast_poll.py) answers exactly as Flask would.

Each case sends the same request to the app as users get it (the fast path in front) and to the
Flask stack behind it, and compares status, headers and body; `request_started`, Flask's own
signal, shows which of the two answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import Client, TestResponse

from api import fast_poll, pipeline
from core.jobs import task_lifecycle
from tests.api.conftest import MakeApp
from tests.api.metrics_text import value
from tests.api.people_support import SignedIn, with_viewer
from tests.api.test_tasks import db_of, enqueue

RULE = "/api/tasks/<string:task_id>"
ADMIN_TOKEN = "fast-poll-admin-token-0123456789ab"
# Differs between any two answers: Server-Timing's CPU figure.
VARYING = {"Server-Timing"}


@pytest.fixture
def flask_answers(quiet_app: Flask, flask_answers_of: Callable[[Flask], list[str]]) -> list[str]:
    return flask_answers_of(quiet_app)


def enqueue_as(signed_in: SignedIn) -> str:
    answer = signed_in.client.post("/api/maintenance/cleanup", headers=signed_in.headers)
    assert answer.status_code == 202, answer.get_json()
    return str(answer.get_json()["task_id"])


def both(app: Flask, path: str, **kwargs: Any) -> tuple[TestResponse, TestResponse]:
    """The answer through the fast path, then Flask's own to the same request."""
    assert isinstance(app.wsgi_app, fast_poll.FastPoll)
    kwargs["headers"] = {"X-Request-ID": "same-in-both", **kwargs.get("headers", {})}
    kwargs["environ_base"] = {"REMOTE_ADDR": "127.0.0.1"}  # as Flask's test client sends
    # No cookie jars: a jar replaces the request's own Cookie header.
    fast = app.test_client(use_cookies=False).open(path, **kwargs)
    plain = Client(app.wsgi_app.inner, TestResponse, use_cookies=False).open(path, **kwargs)
    return fast, plain


def assert_same(fast: TestResponse, plain: TestResponse) -> None:
    assert (fast.status, fast.get_data()) == (plain.status, plain.get_data())
    fixed = [(name, v) for name, v in fast.headers.items() if name not in VARYING]
    assert fixed == [(name, v) for name, v in plain.headers.items() if name not in VARYING]
    assert [name for name, _ in fast.headers.items()] == [n for n, _ in plain.headers.items()]
    assert fast.headers["Server-Timing"].startswith("cpu;dur=")


@pytest.fixture
def task(quiet_app: Flask) -> tuple[str, str]:
    """A running task's id and its current ETag (as Flask gives it)."""
    client = quiet_app.test_client()
    task_id = enqueue(client)
    task_lifecycle.ProgressReporter(db_of(quiet_app), task_id, interval=0)(1, 4, "going")
    etag = client.get(f"/api/tasks/{task_id}").headers["ETag"]
    return task_id, etag


def test_polls_are_answered_as_flask_answers_them(
    quiet_app: Flask, task: tuple[str, str], flask_answers: list[str]
) -> None:
    task_id, etag = task
    path = f"/api/tasks/{task_id}"
    cases: list[dict[str, Any]] = [
        {},
        {"headers": {"If-None-Match": etag}},
        {"headers": {"If-None-Match": f"W/{etag}"}},  # weak comparison, as RFC 9110 asks
        {"headers": {"If-None-Match": f'"other", {etag}'}},
        {"headers": {"If-None-Match": '"other"'}},
        {"headers": {"If-None-Match": "*"}},
        {"headers": {"If-None-Match": "not a tag at all"}},
        {"headers": {"X-Request-ID": "client-chosen.id:42"}},
    ]
    for case in cases:
        flask_answers.clear()
        fast, plain = both(quiet_app, path, **case)
        assert_same(fast, plain)
        assert fast.headers["X-Request-ID"] == case.get("headers", {}).get(
            "X-Request-ID", "same-in-both"
        )
        assert flask_answers == [path], case  # the inner call only: the fast path answered
    assert both(quiet_app, path, headers={"If-None-Match": etag})[0].status_code == 304


def test_a_sane_request_id_is_kept_and_any_other_replaced(
    quiet_app: Flask, task: tuple[str, str]
) -> None:
    client = quiet_app.test_client()
    path = f"/api/tasks/{task[0]}"

    assert client.get(path, headers={"X-Request-ID": "abc-1"}).headers["X-Request-ID"] == "abc-1"
    for hostile in ("x" * 129, "a b", "<script>", "id\u00e9"):
        given = client.get(path, headers={"X-Request-ID": hostile}).headers["X-Request-ID"]
        assert given != hostile and len(given) == 32, hostile


def test_what_the_fast_path_is_not_sure_of_goes_to_flask(
    quiet_app: Flask, task: tuple[str, str], flask_answers: list[str]
) -> None:
    task_id, _ = task
    cases: list[tuple[str, dict[str, Any]]] = [
        ("/api/tasks/" + "0" * 32, {}),  # no such task: Flask's 404 envelope
        (f"/api/tasks/{task_id}?x=1", {}),
        (f"/api/tasks/{task_id}", {"method": "HEAD"}),
        (f"/api/tasks/{task_id}", {"data": b"{}", "content_type": "application/json"}),
        ("/api/tasks/a%00b", {}),
        ("/api/tasks/caf%C3%A9", {}),
        ("/api/tasks/" + "a" * 129, {}),
        ("/api/tasks/a/b", {}),
        ("/api/tasks/", {}),
    ]
    for path, kwargs in cases:
        flask_answers.clear()
        fast, plain = both(quiet_app, path, **kwargs)
        assert (fast.status, fast.get_data()) == (plain.status, plain.get_data()), path
        assert len(flask_answers) == 2, (path, kwargs)  # both answers were Flask's
    flask_answers.clear()
    canceled = quiet_app.test_client().delete(f"/api/tasks/{task_id}")
    assert canceled.status_code == 200 and canceled.get_json()["state"] == "REVOKED"
    assert flask_answers == [f"/api/tasks/{task_id}"]
    missing = quiet_app.test_client().get("/api/tasks/" + "0" * 32)
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"


def test_once_people_exist_a_poll_needs_a_session_or_token(
    make_app: MakeApp, flask_answers_of: Callable[[Flask], list[str]]
) -> None:
    admin, viewer = with_viewer(make_app())  # people, made from loopback before any token
    app = make_app(admin_token=ADMIN_TOKEN)  # the same database, now with ADMIN_TOKEN too
    seen = flask_answers_of(app)
    made = admin.client.post("/api/tokens", json={"name": "poller"}, headers=admin.headers)
    secret = made.get_json()["token"]
    task_id = enqueue_as(admin)
    path = f"/api/tasks/{task_id}"
    session = {"Cookie": f"aula_session={viewer.client.get_cookie('aula_session').value}"}
    presented: list[tuple[dict[str, str], int, bool]] = [
        (session, 200, True),  # a viewer's session cookie (a GET needs no CSRF token)
        ({"Authorization": f"Bearer {secret}"}, 200, True),
        ({"X-Admin-Token": ADMIN_TOKEN}, 200, True),
        ({"Authorization": f"bearer {ADMIN_TOKEN}"}, 200, True),
        ({}, 401, False),
        ({"Authorization": "Bearer aula_not-a-token"}, 401, False),
        ({"Cookie": "aula_session=forged"}, 401, False),
        ({"Authorization": f"Bearer {secret}x"}, 401, False),
    ]
    for headers, status, fast_answered in presented:
        seen.clear()
        fast, plain = both(app, path, headers=headers)
        assert_same(fast, plain)
        assert fast.status_code == status, headers
        assert len(seen) == (1 if fast_answered else 2), headers
    refused = app.test_client().get(path)
    assert refused.get_json()["error"]["details"]["reason"] == "sign_in_required"


def test_an_unreadable_database_gets_flasks_envelope(make_app: MakeApp, tmp_path: Any) -> None:
    missing = tmp_path / "not-a-dir" / "aula.db"
    missing.parent.write_text("a file where the database folder should be")
    app = make_app(database_url=f"sqlite:///{missing}")

    fast, plain = both(app, "/api/tasks/" + "1" * 32)

    assert fast.status_code >= 400
    assert (fast.status, fast.get_data()) == (plain.status, plain.get_data())
    assert fast.get_json()["error"]["code"] == plain.get_json()["error"]["code"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"force_https": True},
        {"require_auth_for_reads": True, "admin_token": ADMIN_TOKEN},
        {"cors_origins": "https://ui.example.test"},
    ],
)
def test_settings_that_change_a_poll_leave_it_to_flask(
    make_app: MakeApp, overrides: dict[str, Any]
) -> None:
    app = make_app(**overrides)

    assert not fast_poll.applicable(app)
    assert not isinstance(app.wsgi_app, fast_poll.FastPoll)


def test_the_log_line_and_metrics_are_the_pipelines(
    quiet_app: Flask, task: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    task_id, etag = task
    client = quiet_app.test_client()
    before = client.get("/metrics").get_data(as_text=True)
    caplog.set_level(logging.INFO, logger="aula.request")
    caplog.clear()

    client.get(f"/api/tasks/{task_id}", headers={"X-Request-ID": "fast-1"})
    client.get(f"/api/tasks/{task_id}", headers={"X-Request-ID": "fast-2", "If-None-Match": etag})
    after = client.get("/metrics").get_data(as_text=True)

    lines = [r for r in caplog.records if r.name == "aula.request" and "/tasks/" in r.getMessage()]
    assert [(r.method, r.path, r.status_code) for r in lines] == [  # type: ignore[attr-defined]
        ("GET", f"/api/tasks/{task_id}", 200),
        ("GET", f"/api/tasks/{task_id}", 304),
    ]
    assert all(r.duration_ms >= 0 for r in lines)  # type: ignore[attr-defined]
    for status in ("200", "304"):
        labels = {"method": "GET", "url_rule": RULE, "status": status}
        name = "flask_http_request_duration_seconds_count"
        assert (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0) == 1


def test_every_stage_a_get_runs_is_weighed_by_the_fast_path() -> None:
    # A stage added for GETs changes what a poll must do: the fast path must say how it honours
    # it (api/fast_poll.HONOURED) before this passes.
    for_get = {stage.name for stage in (*pipeline.BEFORE, *pipeline.AFTER) if stage.applies("GET")}

    assert for_get == set(fast_poll.HONOURED)
