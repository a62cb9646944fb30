"""Monitoring gauges as plain functions, on the real test database and Redis."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from core.base.db import Database
from core.base.models import Download, TaskRecord
from core.ops import gauges
from tests.redis_dbs import private_redis_db


@pytest.fixture
def quiet(redis_url: str) -> Iterator[redis.Redis]:
    client = gauges.redis_client(private_redis_db(redis_url), timeout=2)
    yield client
    client.close()


def test_queue_depths_sum_the_priority_lists(quiet: redis.Redis) -> None:
    quiet.rpush("default", "a", "b")
    quiet.rpush("downloads\x06\x163", "c")
    quiet.rpush("downloads\x06\x169", "d", "e", "f")
    quiet.rpush("elsewhere", "g")

    assert gauges.queue_depths(quiet) == {"default": 2, "downloads": 4, "media": 0}


def test_the_heartbeat_age_and_interval(quiet: redis.Redis) -> None:
    quiet.set(gauges.HEARTBEAT_KEY, json.dumps({"ts": 1000.5, "interval_s": 15, "pid": 1}))

    beat = gauges.beat_heartbeat(quiet, now=1100.0)

    assert beat == gauges.Heartbeat(age_s=99.5, interval_s=15.0)


def test_a_heartbeat_from_the_future_is_zero_seconds_old(quiet: redis.Redis) -> None:
    quiet.set(gauges.HEARTBEAT_KEY, json.dumps({"ts": 2000, "interval_s": "abc"}))

    assert gauges.beat_heartbeat(quiet, now=1000.0) == gauges.Heartbeat(0.0, None)


def test_last_success_is_the_latest_success_per_task(db: Database) -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    rows = [
        ("catalog.sync", "SUCCESS", now - timedelta(minutes=30)),
        ("catalog.sync", "SUCCESS", now - timedelta(minutes=5)),
        ("catalog.sync", "FAILURE", now - timedelta(minutes=1)),
        ("catalog.rebuild", "SUCCESS", now - timedelta(hours=2)),
        ("downloads.fetch", "SUCCESS", now - timedelta(seconds=1)),
        ("maintenance.cleanup", "STARTED", None),
    ]
    with db.session() as session:
        for name, state, finished in rows:
            record = TaskRecord(id=str(uuid.uuid4()), name=name, state=state, finished_at=finished)
            session.add(record)

    ages = gauges.last_success_ages(db, now=now)

    assert ages == {"catalog.sync": 300.0, "catalog.rebuild": 7200.0}


def test_counts_include_every_state_and_source(db: Database) -> None:
    with db.session() as session:
        session.add(Download(url="https://x.test/1", kind="ytdlp", state="canceled"))
        session.add(Download(url="https://x.test/2", kind="ytdlp", state="mystery"))

    assert gauges.downloads_by_state(db) == {
        "queued": 0, "running": 0, "succeeded": 0, "failed": 0, "canceled": 1, "pruned": 0,
    }  # fmt: skip
    assert gauges.catalog_items_by_source(db) == {
        "local": 0, "drive": 0, "classroom": 0, "download": 0,
    }  # fmt: skip


def test_disk_free_and_its_floor(tmp_path: Path) -> None:
    free, floor = gauges.disk_free(tmp_path / "not" / "yet" / "made", floor_mb=3)

    assert free > 0
    assert floor == 3 * 1024 * 1024
