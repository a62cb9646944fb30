"""An Aula task for bench/tasks_bench.py (loaded with `celery -A tasks worker -I aula_probe`)."""

from __future__ import annotations

import time
from typing import Any

import redis

from core.base.settings import get_settings
from tasks.app import AulaTask, app

_client: list[Any] = []


@app.task(name="bench.probe", bind=True)
def probe(self: AulaTask) -> None:
    """Say when the body began: the bench pops this time to measure enqueue-to-start."""
    if not _client:
        _client.append(redis.Redis.from_url(get_settings().redis_url))
    _client[0].rpush("bench:started", repr(time.time()))
