"""A plain progress save made before Flask (api/fast_progress.py) answers exactly as Flask would,
and anything it is not sure of reaches Flask with its body intact.

Each case sends the same request to the app as users get it (the fast path in front) and to the
Flask stack behind it, and compares status, headers and body (a save's `updated_at` is the
moment it was made, so it differs between the two saves and is compared for its form only);
`request_started`, Flask's own signal, shows which of the two answered. SQLite and PostgreSQL
(TEST_DATABASE_URL).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import Client, TestResponse

from api import fast_progress, pipeline
from api.headers import TrustedProxies
from core.base.models import CatalogItem
from core.catalog import store
from core.catalog.courses.models import IMPLICIT_USER
from core.catalog.courses.progress import of_items
from core.people import accounts
from tests.api.conftest import MakeApp
from tests.api.metrics_text import value
from tests.api.people_support import with_viewer
from tests.api.test_tasks import db_of

RULE = "/api/progress/<int:item_id>"
ADMIN_TOKEN = "fast-progress-admin-token-0123456789"
VARYING = {"Server-Timing"}
LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}  # as Flask's test client sends


def items(app: Flask, count: int, duration: float | None = 600.0) -> list[int]:
    """`count` new catalog videos of `duration` seconds; their ids."""
    keys = [f"fast/{uuid.uuid4().hex}.mp4" for _ in range(count)]
    now = datetime.now(UTC)
    with db_of(app).session() as session:
        store.upsert_items(session, [
            {"source": "local", "source_id": key, "title": key, "mime_type": "video/mp4",
             "size_bytes": 1, "duration_s": duration, "modified_at": now, "seen_at": now}
            for key in keys
        ])  # fmt: skip
        found = dict(
            session.query(CatalogItem.source_id, CatalogItem.id)
            .filter(CatalogItem.source_id.in_(keys))
            .all()
        )
    return [found[key] for key in keys]


def app_with_item(
    make_app: MakeApp, watch: Callable[[Flask], list[str]], **overrides: Any
) -> tuple[Flask, list[str], int]:
    """An app with `overrides`, the paths its Flask dispatches from now on, and a new video."""
    app = make_app(**overrides)
    seen = watch(app)
    return app, seen, items(app, 1)[0]


def behind(app: Flask) -> Any:
    """The WSGI stack behind the fast path (Flask, with nothing in front of it)."""
    layer: Any = app.wsgi_app
    while not isinstance(layer, fast_progress.FastProgress):
        layer = layer.app if isinstance(layer, TrustedProxies) else layer.inner
    return layer.inner


def both(app: Flask, path: str, **kwargs: Any) -> tuple[TestResponse, TestResponse]:
    """The answer through the fast path, then Flask's own to the same request."""
    kwargs.setdefault("method", "PUT")
    kwargs["headers"] = {"X-Request-ID": "same-in-both", **kwargs.get("headers", {})}
    kwargs["environ_base"] = {**LOOPBACK, **kwargs.get("environ_base", {})}
    fast = app.test_client(use_cookies=False).open(path, **kwargs)
    plain = Client(behind(app), TestResponse, use_cookies=False).open(path, **kwargs)
    return fast, plain


def assert_same(fast: TestResponse, plain: TestResponse) -> None:
    assert fast.status == plain.status
    if fast.status_code == 200:
        mine, theirs = fast.get_json(), plain.get_json()
        # Each is the moment its own save was made: the same form, the later one second.
        assert datetime.fromisoformat(mine.pop("updated_at")) <= datetime.fromisoformat(
            theirs.pop("updated_at")
        )
        assert mine == theirs
        assert len(fast.get_data()) == len(plain.get_data())
    else:
        assert fast.get_data() == plain.get_data()
    fixed = [(name, v) for name, v in fast.headers.items() if name not in VARYING]
    assert fixed == [(name, v) for name, v in plain.headers.items() if name not in VARYING]
    assert [name for name, _ in fast.headers.items()] == [n for n, _ in plain.headers.items()]


def test_plain_saves_are_made_as_flask_makes_them(
    make_app: MakeApp, flask_answers_of: Callable[[Flask], list[str]]
) -> None:
    app = make_app()
    seen = flask_answers_of(app)
    one, two = items(app, 2)
    [unknown_length] = items(app, 1, duration=None)
    cases: list[tuple[int, dict[str, Any]]] = [
        (one, {"json": {"position_s": 300}}),
        (one, {"json": {"position_s": 10}}),  # under 5%: kept as 0
        (one, {"json": {"position_s": 10**6}}),  # past the end: the end, and watched
        (one, {"json": {"watched": False}}),
        (two, {"json": {"position_s": 12.5, "duration_s": 100}}),
        (two, {"json": {"watched": True}}),
        (two, {"json": {"position_s": 0, "watched": True}}),
        (unknown_length, {"json": {"position_s": 42}}),
        (one, {"data": b'{"position_s": 7}', "content_type": "application/json; charset=utf-8"}),
        (one, {"json": {"position_s": 30}, "headers": {"X-Request-ID": "player.save:1"}}),
        (one, {"json": {"position_s": 30}, "headers": {"Origin": "http://localhost"}}),
        (one, {"json": {"position_s": 30}, "headers": {"Host": "localhost:8000",
                                                        "Origin": "http://localhost:8000"}}),
    ]  # fmt: skip
    for item_id, case in cases:
        seen.clear()
        fast, plain = both(app, f"/api/progress/{item_id}", **case)
        assert fast.status_code == 200, (case, fast.get_json())
        assert_same(fast, plain)
        assert seen == [f"/api/progress/{item_id}"], case  # the inner call only
        assert fast.headers["X-Request-ID"] == case.get("headers", {}).get(
            "X-Request-ID", "same-in-both"
        )
    with db_of(app).session() as session:
        kept = of_items(session, IMPLICIT_USER, [one, two, unknown_length])
    assert (kept[one].position_s, kept[one].watched) == (30.0, False)
    assert (kept[two].position_s, kept[two].duration_s, kept[two].watched) == (0.0, 100.0, True)
    assert kept[unknown_length].position_s == 42.0


def test_what_the_fast_path_is_not_sure_of_goes_to_flask_body_and_all(
    make_app: MakeApp, flask_answers_of: Callable[[Flask], list[str]]
) -> None:
    app, seen, item_id = app_with_item(make_app, flask_answers_of)
    path = f"/api/progress/{item_id}"
    save = {"json": {"position_s": 30}}
    cases: list[tuple[str, dict[str, Any], int]] = [
        ("/api/progress/987654321", save, 404),
        (path, {"json": {"position_s": -1}}, 400),
        (path, {"json": {"position_s": "twelve"}}, 400),
        (path, {"json": {"position_s": "NaN"}}, 400),
        (path, {"data": b'{"position_s": NaN}', "content_type": "application/json"}, 400),
        (path, {"json": {"position_s": 1, "extra": 2}}, 400),
        (path, {"json": {"watched": "yes"}}, 400),
        (path, {"json": {}}, 400),
        (path, {"json": [1, 2]}, 400),
        (path, {"data": b"null", "content_type": "application/json"}, 400),
        (path, {"data": b"{not json", "content_type": "application/json"}, 400),
        (path, {"data": b'\xef\xbb\xbf{"position_s": 1}', "content_type": "application/json"},
         400),
        (path, {"data": '{"position_s": 1}'.encode("utf-16"), "content_type": "application/json"},
         400),
        (path, {"data": b'{"position_s": 1}', "content_type": "text/plain"}, 400),
        (path, {"data": b'{"position_s": 1}', "content_type": "application/vnd.x+json"}, 200),
        (path, {**save, "headers": {"Origin": "https://evil.example"}}, 403),
        (path, {**save, "headers": {"Origin": "null"}}, 403),
        (path, {**save, "headers": {"Host": "aula.example"}}, 403),
        (path, {**save, "environ_base": {"REMOTE_ADDR": "192.0.2.7"}}, 403),
        (path + "?x=1", save, 200),
        (f"/api/progress/0{item_id}", save, 200),  # Flask's converter reads the same number
        ("/api/progress/99999999999999999999", save, 404),
        (path, {"data": json.dumps({"position_s": 1, "pad": "x" * 5000}),
                "content_type": "application/json"}, 400),
        (path, {**save, "method": "POST"}, 405),
    ]  # fmt: skip
    for where, case, status in cases:
        seen.clear()
        fast, plain = both(app, where, **case)
        assert fast.status_code == status, (where, case, fast.get_json())
        assert_same(fast, plain)
        assert len(seen) == 2, (where, case)  # both answers were Flask's
    missing = app.test_client().put("/api/progress/987654321", json={"position_s": 1})
    assert missing.get_json()["error"]["code"] == "not_found"


def test_once_people_exist_a_save_is_the_signed_in_persons(
    make_app: MakeApp, flask_answers_of: Callable[[Flask], list[str]]
) -> None:
    _, viewer = with_viewer(make_app())  # people, made from loopback before any token
    app = make_app(admin_token=ADMIN_TOKEN)  # the same database, now with ADMIN_TOKEN too
    seen = flask_answers_of(app)
    [item_id] = items(app, 1)
    path = f"/api/progress/{item_id}"
    made = viewer.client.post("/api/tokens", json={"name": "player"}, headers=viewer.headers)
    secret = made.get_json()["token"]
    cookie = f"aula_session={viewer.client.get_cookie('aula_session').value}"
    presented: list[tuple[dict[str, str], int, bool]] = [
        ({"Cookie": cookie, "X-CSRF-Token": viewer.csrf}, 200, True),
        ({"Authorization": f"Bearer {secret}"}, 200, True),
        ({"X-Admin-Token": ADMIN_TOKEN}, 200, True),
        ({"Cookie": cookie}, 403, False),  # a cookie mutation needs its CSRF token
        ({"Cookie": cookie, "X-CSRF-Token": "0" * 64}, 403, False),
        ({}, 401, False),
        ({"Authorization": "Bearer aula_not-a-token"}, 401, False),
        ({"Cookie": "aula_session=forged", "X-CSRF-Token": "x"}, 401, False),
        ({"Authorization": f"Bearer {secret}", "Origin": "https://evil.example"}, 403, False),
    ]
    for number, (headers, status, fast_answered) in enumerate(presented):
        app.test_client().get("/api/courses", headers={"X-Admin-Token": ADMIN_TOKEN})
        seen.clear()
        body = {"position_s": 100 + number}
        fast, plain = both(app, path, json=body, headers=headers)
        assert fast.status_code == status, (headers, fast.get_json())
        assert_same(fast, plain)
        assert len(seen) == (1 if fast_answered else 2), headers
    viewer_id = viewer.client.get("/api/session").get_json()["user"]["id"]
    with db_of(app).session() as session:
        assert of_items(session, viewer_id, [item_id])[item_id].position_s == 101.0  # the token
        assert of_items(session, IMPLICIT_USER, [item_id])[item_id].position_s == 102.0


def test_a_save_while_nobody_has_an_account_needs_the_admin_token_once_it_is_set(
    make_app: MakeApp, flask_answers_of: Callable[[Flask], list[str]]
) -> None:
    app, seen, item_id = app_with_item(make_app, flask_answers_of, admin_token=ADMIN_TOKEN)
    path = f"/api/progress/{item_id}"
    for headers, status, fast_answered in [
        ({"Authorization": f"Bearer {ADMIN_TOKEN}"}, 200, True),
        ({}, 401, False),
        ({"X-Admin-Token": ADMIN_TOKEN + "x"}, 401, False),
    ]:
        seen.clear()
        fast, plain = both(app, path, json={"position_s": 90}, headers=headers)
        assert fast.status_code == status, headers
        assert_same(fast, plain)
        assert len(seen) == (1 if fast_answered else 2), headers


def test_a_save_racing_the_first_account_is_left_to_flask(
    make_app: MakeApp, flask_answers_of: Callable[[Flask], list[str]]
) -> None:
    # Until a process has seen a user, its fast path saves only while nobody has an account,
    # asked inside the save itself: a user made by another process is never missed.
    app, elsewhere = make_app(), make_app()
    seen = flask_answers_of(app)
    [item_id] = items(app, 1)
    assert app.test_client().put(f"/api/progress/{item_id}", json={"position_s": 60}).status_code
    assert seen == [] and not _users_seen(app)
    with_viewer(elsewhere)
    accounts.forget_users(db_of(app))  # as in another process, which never heard of them

    refused = app.test_client().put(f"/api/progress/{item_id}", json={"position_s": 70})

    assert refused.status_code == 401
    assert seen == [f"/api/progress/{item_id}"]
    with db_of(app).session() as session:
        assert of_items(session, IMPLICIT_USER, [item_id])[item_id].position_s == 60.0


def _users_seen(app: Flask) -> bool:
    return accounts.user_seen(db_of(app))


def test_the_mutation_limit_counts_each_save_once(
    make_app: MakeApp, flask_answers_of: Callable[[Flask], list[str]]
) -> None:
    app, seen, item_id = app_with_item(make_app, flask_answers_of, rate_limit_mutations="3/minute")
    client = app.test_client()
    saves = [client.put(f"/api/progress/{item_id}", json={"position_s": 60}) for _ in range(2)]
    assert [answer.status_code for answer in saves] == [200, 200] and seen == []
    # The third: counted by the fast path, then left to Flask as a 404, not counted again.
    assert client.put("/api/progress/987654321", json={"position_s": 1}).status_code == 404
    refused = client.put(f"/api/progress/{item_id}", json={"position_s": 60})
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1


def test_the_fast_path_sees_the_client_behind_a_trusted_proxy(
    make_app: MakeApp, flask_answers_of: Callable[[Flask], list[str]]
) -> None:
    app, seen, item_id = app_with_item(make_app, flask_answers_of, trusted_proxies="127.0.0.1")
    client = app.test_client()
    path = f"/api/progress/{item_id}"

    assert client.put(path, json={"position_s": 60}).status_code == 200 and seen == []
    forwarded = client.put(
        path, json={"position_s": 70}, headers={"X-Forwarded-For": "203.0.113.9"}
    )

    assert forwarded.status_code == 403  # a remote client: loopback only while no token is set
    assert forwarded.get_json()["error"]["details"]["reason"] == "loopback_only"
    assert seen == [path]


def test_the_log_line_and_metrics_are_the_pipelines(
    quiet_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    # The app is built before caplog starts: building it configures logging afresh.
    app = quiet_app
    [item_id] = items(app, 1)
    client = app.test_client()
    before = client.get("/metrics").get_data(as_text=True)
    caplog.set_level(logging.INFO, logger="aula.request")
    caplog.clear()

    client.put(f"/api/progress/{item_id}", json={"position_s": 60})
    after = client.get("/metrics").get_data(as_text=True)

    lines = [r for r in caplog.records if r.name == "aula.request" and "progress" in r.getMessage()]
    assert [(r.method, r.path, r.status_code) for r in lines] == [  # type: ignore[attr-defined]
        ("PUT", f"/api/progress/{item_id}", 200)
    ]
    labels = {"method": "PUT", "url_rule": RULE, "status": "200"}
    name = "flask_http_request_duration_seconds_count"
    assert (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0) == 1


@pytest.mark.parametrize("overrides", [{"force_https": True}, {"cors_origins": "https://x.test"}])
def test_settings_that_change_a_save_leave_it_to_flask(
    make_app: MakeApp, overrides: dict[str, Any]
) -> None:
    app = make_app(**overrides)

    assert not fast_progress.applicable(app)
    layer: Any = app.wsgi_app
    while layer is not None and not isinstance(layer, fast_progress.FastProgress):
        layer = getattr(layer, "inner", None) or getattr(layer, "app", None)
    assert layer is None


def test_every_stage_a_put_runs_is_weighed_by_the_fast_path() -> None:
    # A stage added for PUTs changes what a save must pass: the fast path must say how it
    # honours it (api/fast_progress.HONOURED) before this passes.
    for_put = {stage.name for stage in (*pipeline.BEFORE, *pipeline.AFTER) if stage.applies("PUT")}

    assert for_put == set(fast_progress.HONOURED)
