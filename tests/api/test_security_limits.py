"""RATE_LIMIT_MUTATIONS: 429 with Retry-After in the envelope, counted in the real Redis."""

from __future__ import annotations

import logging
import uuid

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from api.limits import KEY_PREFIX, storage_uri
from core.base.errors import ConfigurationError
from core.base.settings import Settings, load_settings
from tests.api.conftest import MakeApp
from tests.api.envelope import assert_envelope
from tests.api.test_auth import TOKEN
from tests.core.brokers import closed_redis_url
from tests.helpers import ROOT

AUTH = {"X-Admin-Token": TOKEN}
COOKIES = "# Netscape HTTP Cookie File\n.example.com\tTRUE\t/\tFALSE\t0\tSID\tlimit-test\n"


def address() -> dict[str, str]:
    """A client address of its own (TEST-NET-2), so no other test's count reaches this one."""
    raw = uuid.uuid4().int
    return {"REMOTE_ADDR": f"198.51.{raw % 250}.{(raw >> 8) % 250 + 1}"}


def put_cookies(client: FlaskClient, environ: dict[str, str], **headers: str) -> int:
    response = client.put(
        "/api/credentials/cookies",
        data=COOKIES,
        headers={"Content-Type": "text/plain", **headers},
        environ_base=environ,
    )
    return response.status_code


@pytest.fixture
def limited(make_app: MakeApp) -> Flask:
    return make_app(admin_token=TOKEN, rate_limit_mutations="3/minute")


def test_the_fourth_mutation_in_a_minute_is_429_with_retry_after(
    limited: Flask, quiet_redis: redis.Redis
) -> None:
    client, me = limited.test_client(), address()

    assert [put_cookies(client, me, **AUTH) for _ in range(3)] == [200, 200, 200]
    response = client.post("/api/maintenance/cleanup", headers=AUTH, environ_base=me)
    details = assert_envelope(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert details == {"limit": "3 per 1 minute", "retry_after_s": retry_after}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    keys = [key.decode() for key in quiet_redis.keys("*")]
    mine = [key for key in keys if KEY_PREFIX in key and me["REMOTE_ADDR"] in key]
    assert mine, keys


def test_reads_and_streams_are_never_limited(limited: Flask) -> None:
    client, me = limited.test_client(), address()

    for _ in range(4):
        put_cookies(client, me, **AUTH)
    assert put_cookies(client, me, **AUTH) == 429
    for _ in range(10):
        assert client.get("/api/tasks", headers=AUTH, environ_base=me).status_code == 200
        assert client.head("/api/credentials", headers=AUTH, environ_base=me).status_code == 200


def test_each_address_has_its_own_count(limited: Flask) -> None:
    client, first, second = limited.test_client(), address(), address()

    for _ in range(3):
        put_cookies(client, first, **AUTH)
    assert put_cookies(client, first, **AUTH) == 429
    assert put_cookies(client, second, **AUTH) == 200


def test_apps_share_the_count_through_redis(make_app: MakeApp) -> None:
    # Two gunicorn workers are two apps: the limit holds across them because Redis counts.
    one = make_app(admin_token=TOKEN, rate_limit_mutations="2/minute").test_client()
    two = make_app(admin_token=TOKEN, rate_limit_mutations="2/minute").test_client()
    me = address()

    assert put_cookies(one, me, **AUTH) == 200
    assert put_cookies(two, me, **AUTH) == 200
    assert put_cookies(one, me, **AUTH) == 429
    assert put_cookies(two, me, **AUTH) == 429


@pytest.fixture
def guarded(make_app: MakeApp) -> Flask:
    """The limits a user gets by default (600 mutations, 10 failed authentications a minute)."""
    defaults = {
        name: Settings.model_fields[name].default
        for name in ("rate_limit_mutations", "rate_limit_auth_failures")
    }
    return make_app(admin_token=TOKEN, **defaults)


def test_failed_authentications_have_their_own_limit(make_app: MakeApp) -> None:
    app = make_app(admin_token=TOKEN, rate_limit_auth_failures="3/minute")
    client, me = app.test_client(), address()

    answers = [put_cookies(client, me, **{"X-Admin-Token": f"guess-{n}"}) for n in range(5)]
    assert answers == [401, 401, 401, 429, 429]
    # Past the limit no token is checked: the right one waits out the window as well.
    refused = client.post("/api/maintenance/cleanup", headers=AUTH, environ_base=me)
    details = assert_envelope(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert details["limit"] == "3 per 1 minute"
    # Reads are not mutations: still answered.
    assert client.get("/api/tasks", environ_base=me).status_code == 200


def test_a_script_enqueuing_a_hundred_changes_is_not_throttled(guarded: Flask) -> None:
    client, me = guarded.test_client(), address()

    assert {put_cookies(client, me, **AUTH) for _ in range(100)} == {200}


def test_guesses_from_another_address_do_not_lock_the_admin_out(guarded: Flask) -> None:
    client, admin, stranger = guarded.test_client(), address(), address()

    guesses = [put_cookies(client, stranger, **{"X-Admin-Token": "nope"}) for _ in range(12)]
    assert guesses[:10] == [401] * 10 and guesses[10:] == [429, 429]
    assert put_cookies(client, stranger) == 429  # no token at all: refused the same way
    assert put_cookies(client, admin, **AUTH) == 200


def test_the_limits_do_not_use_flask_limiters_private_api() -> None:
    source = (ROOT / "api" / "limits.py").read_text()
    assert "_check_request_limit" not in source and "flask_limiter" not in source


@pytest.fixture
def redis_down(make_app: MakeApp) -> Flask:
    # Built before the test's log capture starts (create_app configures logging).
    return make_app(
        admin_token=TOKEN, rate_limit_mutations="3/minute", redis_url=closed_redis_url()
    )


def test_redis_down_falls_back_to_counting_in_memory(
    redis_down: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client, me = redis_down.test_client(), address()

    with caplog.at_level(logging.WARNING):
        answers = [put_cookies(client, me, **AUTH) for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    warnings = [r for r in caplog.records if "storage unreachable" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert client.get("/api/credentials", headers=AUTH, environ_base=me).status_code == 200


@pytest.mark.parametrize("value", ["", "0", " 0 "])
def test_an_empty_or_zero_limit_disables_it(make_app: MakeApp, value: str) -> None:
    app = make_app(admin_token=TOKEN, rate_limit_mutations=value)
    client, me = app.test_client(), address()

    assert "aula.limiter" not in app.extensions
    assert {put_cookies(client, me, **AUTH) for _ in range(70)} == {200}


@pytest.mark.parametrize("value", ["sixty", "60/fortnight", "60 per", "-1/minute"])
def test_a_bad_limit_stops_with_one_line(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(rate_limit_mutations=value)
    line = str(caught.value)
    assert line.startswith("configuration error: RATE_LIMIT_MUTATIONS")
    assert "\n" not in line


def test_every_redis_url_scheme_is_a_storage_the_limiter_knows(make_app: MakeApp) -> None:
    from limits.storage import storage_from_string

    for url in (
        "redis://h:6379/0",
        "rediss://h:6380/1",
        "unix:///run/r.sock",
        "redis+socket:///r.sock",
    ):
        assert type(storage_from_string(storage_uri(url))).__name__ == "RedisStorage"
    assert storage_uri("unix:///run/redis.sock?db=2") == "redis+unix:///run/redis.sock?db=2"
    app = make_app(rate_limit_mutations="5/minute", redis_url="unix:///nonexistent/redis.sock")
    assert app.extensions["aula.limiter"] is not None


@pytest.fixture(params=[None, TOKEN], ids=["no-token", "token"])
def failures_only(make_app: MakeApp, request: pytest.FixtureRequest) -> Flask:
    # Built before the test's log capture starts (create_app configures logging).
    return make_app(
        admin_token=request.param, rate_limit_mutations="", rate_limit_auth_failures="10/minute",
        redis_url=closed_redis_url(),
    )  # fmt: skip


def test_without_any_credential_to_check_a_mutation_asks_redis_nothing(
    failures_only: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """No people and no ADMIN_TOKEN: nothing can fail authentication, so the failed-attempts
    limit is not asked (a Redis round trip was most of a progress save's time under load)."""
    token = failures_only.extensions["aula.settings"].admin_token
    with caplog.at_level(logging.WARNING):
        answer = failures_only.test_client().put(
            "/api/progress/1", json={"position_s": 1.0}, headers=AUTH if token else {},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )  # fmt: skip
    assert answer.status_code == 404  # through the pipeline to the view: no such item
    asked = [r for r in caplog.records if "storage unreachable" in r.getMessage()]
    assert len(asked) == (1 if token else 0)
