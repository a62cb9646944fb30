"""Fixtures for API tests: apps on a broker database no worker consumes, or on none at all."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask, request, request_started
from flask.testing import FlaskClient

from api import create_app
from core.base.settings import Settings
from tests.core.brokers import closed_redis_url
from tests.redis_dbs import private_redis_db

MakeApp = Callable[..., Flask]


@pytest.fixture
def make_app(base_env: dict[str, str], settings: Settings, redis_url: str) -> MakeApp:
    """Build an app on the test database and the quiet broker database, with overrides."""
    quiet = private_redis_db(redis_url)  # emptied, and no worker consumes it

    def build(**overrides: Any) -> Flask:
        values: dict[str, Any] = {key.lower(): value for key, value in base_env.items()}
        values["redis_url"] = quiet
        values.update(overrides)
        return create_app(values)

    return build


@pytest.fixture
def quiet_app(make_app: MakeApp) -> Flask:
    """The app, sending tasks where no worker takes them: they stay PENDING."""
    return make_app()


@pytest.fixture
def quiet_client(quiet_app: Flask) -> FlaskClient:
    return quiet_app.test_client()


@pytest.fixture
def quiet_redis(quiet_app: Flask) -> Iterator[redis.Redis]:
    """A client of the quiet app's broker database."""
    client = redis.Redis.from_url(quiet_app.extensions["aula.settings"].redis_url)
    yield client
    client.close()


@pytest.fixture
def down_app(make_app: MakeApp) -> Flask:
    """The app with its broker on a closed loopback port."""
    return make_app(redis_url=closed_redis_url())


@pytest.fixture
def flask_answers_of() -> Iterator[Callable[[Flask], list[str]]]:
    """The paths of the requests an app's Flask itself dispatched: what neither fast path
    (api/fast_poll.py, api/fast_progress.py) answered."""
    connected: list[tuple[Flask, Callable[..., None]]] = []

    def watch(app: Flask) -> list[str]:
        seen: list[str] = []

        def note(_sender: Flask, **_: Any) -> None:
            seen.append(request.path)

        request_started.connect(note, app)
        connected.append((app, note))
        return seen

    yield watch
    for app, note in connected:
        request_started.disconnect(note, app)
