"""Readiness checks: database, broker, workers and disk, each "ok" or a short reason."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import redis
from sqlalchemy import text

from core.base.db import Database
from core.base.disk import free_bytes
from core.base.services import Services
from core.google import connections

OK = "ok"


def check_database(db: Database) -> str:
    """Run a trivial query."""
    try:
        with db.session() as session:
            session.execute(text("SELECT 1"))
    except Exception as error:
        return f"unreachable: {type(error).__name__}"
    return OK


def check_broker(redis_url: str, timeout: float = 1.0) -> str:
    """PING the Redis broker."""
    client = redis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"unreachable: {type(error).__name__}"
    finally:
        client.close()
    return OK


def check_workers(ping: Callable[[], Sequence[object]]) -> str:
    """Ask Celery workers to answer a ping."""
    try:
        replies = ping()
    except Exception as error:
        return f"ping failed: {type(error).__name__}"
    return OK if replies else "no worker answered a ping"


def check_disk(path: Path, floor_mb: int) -> str:
    """Free space of `path` above the floor."""
    free_mb = free_bytes(path) // (1024 * 1024)
    return OK if free_mb >= floor_mb else f"{free_mb} MB free, below the {floor_mb} MB floor"


GOOGLE_CHECK = "google"  # not counted by ready(): see readiness


def ready(checks: dict[str, str]) -> bool:
    """Whether every check that decides readiness is ok."""
    return all(value == OK for name, value in checks.items() if name != GOOGLE_CHECK)


def readiness(services: Services, ping_workers: Callable[[], Sequence[object]]) -> dict[str, str]:
    """Every readiness check by name."""
    settings = services.settings
    broker = check_broker(settings.redis_url)
    return {
        "database": check_database(services.db),
        "broker": broker,
        # Pinging workers through a dead broker only retries until it times out.
        "workers": check_workers(ping_workers) if broker == OK else "unknown: broker unreachable",
        "disk": check_disk(settings.download_dir, settings.disk_free_floor_mb),
        # Shown, never fatal: a withdrawn Google grant needs a person, not a restart.
        GOOGLE_CHECK: _google(services.db),
    }


def _google(db: Database) -> str:
    try:
        return connections.readiness(db)
    except Exception as error:  # the database check reports the cause
        return f"unknown: {type(error).__name__}"
