"""The reference of bench/tasks_bench.py: bare Celery with Aula's broker options, no-op tasks.

Started as `celery -A bare_celery worker` with bench/ on PYTHONPATH. Its configuration is
`celeryconfig.make_config` (broker, transport options, serializers, queues, late acks, prefetch 1,
task events, result backend, child recycling) without the beat schedule, and without Aula's task
base class and signal handlers.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from celery import Celery

import celeryconfig
from core.base.settings import get_settings

_BEAT = ("beat_schedule", "beat_scheduler", "beat_max_loop_interval")
config = {
    key: value
    for key, value in celeryconfig.make_config(get_settings()).items()
    if key not in _BEAT and key != "worker_max_tasks_per_child"  # 200 before issue 13: no stalls
}
bare = Celery("bare")
bare.conf.update(config)
_client: list[Any] = []


def started_list() -> Any:
    """This process's Redis client (made on first use, after the pool's fork)."""
    if not _client:
        _client.append(redis.Redis.from_url(get_settings().redis_url))
    return _client[0]


@bare.task(name="bench.noop")
def noop() -> None:
    """Nothing."""


@bare.task(name="bench.probe")
def probe() -> None:
    """Say when the body began: the bench pops this time to measure enqueue-to-start."""
    started_list().rpush("bench:started", repr(time.time()))
