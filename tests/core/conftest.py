"""Fixtures for core tests: a broker database that no worker consumes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from api.extensions import make_celery_client
from core.base.settings import Settings
from tests.core.brokers import env_settings
from tests.redis_dbs import private_redis_db


@pytest.fixture
def quiet_settings(base_env: dict[str, str], settings: Settings, redis_url: str) -> Settings:
    """The test settings (emptied database) with a broker database of its own, emptied too."""
    return env_settings(base_env, redis_url=private_redis_db(redis_url))


@pytest.fixture
def quiet_redis(quiet_settings: Settings) -> Iterator[redis.Redis]:
    """A client of the quiet broker database."""
    client = redis.Redis.from_url(quiet_settings.redis_url)
    yield client
    client.close()


@pytest.fixture
def quiet_celery(quiet_settings: Settings) -> Iterator[Celery]:
    """A Celery client (send and control only) on the quiet broker database."""
    client = make_celery_client(quiet_settings)
    yield client
    client.close()
