"""Monitoring gauges read at scrape time, cheaply, from the database, Redis and the disk."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.base.db import Database
from core.base.disk import free_bytes
from core.base.models import CatalogItem, Download, TaskRecord
from core.catalog.store import SOURCES
from core.downloads import STATES as DOWNLOAD_STATES
from core.jobs.taskdefs import TaskName, TaskState
from core.jobs.unacked import queue_depths as queue_depths  # read by api/metrics.py

# Beat writes this key every beat period (JSON: {"ts", "interval_s", "pid", "host"}).
HEARTBEAT_KEY = "aula:beat:heartbeat"
# The periodic and maintenance tasks whose last success an operator watches.
SUCCESS_TASKS = tuple(
    str(name)
    for name in (TaskName.CATALOG_SYNC, TaskName.CATALOG_REBUILD, TaskName.MAINTENANCE_CLEANUP)
)
STATEMENT_TIMEOUT_MS = 2000


@dataclass(frozen=True)
class Heartbeat:
    """Beat's last heartbeat: how old it is and the period beat promised."""

    age_s: float
    interval_s: float | None


def _bounded(session: Session) -> None:
    # A scrape must never queue behind a slow query: PostgreSQL gives up after a moment.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))


def downloads_by_state(db: Database) -> dict[str, int]:
    """The number of downloads in each state, every state present (zero when none)."""
    counts = dict.fromkeys(DOWNLOAD_STATES, 0)
    with db.session() as session:
        _bounded(session)
        rows = session.execute(select(Download.state, func.count()).group_by(Download.state))
        for state, count in rows:
            if state in counts:
                counts[state] = int(count)
    return counts


def catalog_items_by_source(db: Database) -> dict[str, int]:
    """The number of catalog items of each source, every source present (zero when none)."""
    counts = {source.value: 0 for source in SOURCES}
    with db.session() as session:
        _bounded(session)
        query = select(CatalogItem.source, func.count()).group_by(CatalogItem.source)
        for source, count in session.execute(query):
            if source in counts:
                counts[source] = int(count)
    return counts


def last_success_ages(
    db: Database, names: tuple[str, ...] = SUCCESS_TASKS, now: datetime | None = None
) -> dict[str, float]:
    """Seconds since each task last finished with SUCCESS; a task that never did is left out."""
    query = (
        select(TaskRecord.name, func.max(TaskRecord.finished_at))
        .where(TaskRecord.state == TaskState.SUCCESS, TaskRecord.name.in_(names))
        .group_by(TaskRecord.name)
    )
    with db.session() as session:
        _bounded(session)
        rows = list(session.execute(query))
    moment = now.timestamp() if now is not None else time.time()
    ages: dict[str, float] = {}
    for name, finished in rows:
        if finished is not None:
            ages[name] = max(moment - _timestamp(finished), 0.0)
    return ages


def _timestamp(value: datetime | str) -> float:
    # Defensive: a driver may hand back text or a naive value; both are stored as UTC.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def redis_client(url: str, timeout: float) -> redis.Redis:
    """A Redis client that fails within `timeout` seconds and never retries."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def beat_heartbeat(client: redis.Redis, now: float | None = None) -> Heartbeat | None:
    """Beat's heartbeat from Redis, or None when there is none or it cannot be read."""
    raw = client.get(HEARTBEAT_KEY)
    if raw is None:
        return None
    try:
        data: Any = json.loads(raw)
        stamp = float(data["ts"])
    except (ValueError, TypeError, KeyError):
        return None
    if not math.isfinite(stamp):
        return None
    age = max((now if now is not None else time.time()) - stamp, 0.0)
    return Heartbeat(age_s=age, interval_s=_positive(data.get("interval_s")))


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (ValueError, TypeError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def disk_free(download_dir: Path, floor_mb: int) -> tuple[int, int]:
    """Free bytes on DOWNLOAD_DIR's filesystem and the floor below which downloads are refused."""
    return free_bytes(download_dir), floor_mb * 1024 * 1024
