"""Readiness checks: each "ok" or a short reason, against real and unreachable services."""

from __future__ import annotations

from pathlib import Path

from celery import Celery

from core.base import disk
from core.base.db import database
from core.base.settings import Settings
from core.ops import health
from tests.core.brokers import closed_redis_url, env_settings
from tests.helpers import wait_for
from tests.services import services_of


def test_database_check(settings: Settings) -> None:
    assert health.check_database(database(settings.database_url)) == "ok"
    assert health.check_database(
        "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    ).startswith("unreachable: ")


def test_broker_check(redis_url: str) -> None:
    assert health.check_broker(redis_url) == "ok"
    assert health.check_broker(closed_redis_url()) == "unreachable: ConnectionError"


def test_workers_check() -> None:
    def broken() -> list[object]:
        raise ConnectionRefusedError("no broker")

    assert health.check_workers(lambda: [{"w@h": {"ok": "pong"}}]) == "ok"
    assert health.check_workers(lambda: []) == "no worker answered a ping"
    assert health.check_workers(broken) == "ping failed: ConnectionRefusedError"


def test_disk_check(tmp_path: Path) -> None:
    assert health.check_disk(tmp_path, 0) == "ok"
    reason = health.check_disk(tmp_path, 10**12)
    assert reason.endswith("below the 1000000000000 MB floor")
    missing = tmp_path / "not" / "made" / "yet"

    def quiet_reading() -> tuple[int, int] | None:
        # Other processes (xdist workers, other runs) write to this filesystem: compare only a
        # reading of the missing path taken between two equal readings of its existing parent.
        before, reading, after = (
            disk.free_bytes(tmp_path), disk.free_bytes(missing), disk.free_bytes(tmp_path)
        )  # fmt: skip
        return (reading, before) if before == after else None

    reading, parent = wait_for(quiet_reading, 60, interval=0.01, what="a quiet filesystem")
    assert reading == parent


def test_readiness_without_a_worker(quiet_settings: Settings, quiet_celery: Celery) -> None:
    checks = health.readiness(
        services_of(quiet_settings), lambda: quiet_celery.control.ping(timeout=0.3, limit=1) or []
    )

    assert checks == {
        "database": "ok",
        "broker": "ok",
        "workers": "no worker answered a ping",
        "disk": "ok",
    }


def test_readiness_with_the_broker_down(base_env: dict[str, str], settings: Settings) -> None:
    down = env_settings(base_env, redis_url=closed_redis_url(), disk_free_floor_mb=10**9)

    checks = health.readiness(services_of(down), lambda: [])

    assert checks["database"] == "ok"
    assert checks["broker"].startswith("unreachable")
    assert checks["workers"] != "ok"
    assert "below" in checks["disk"]
