"""A test's own Celery worker (and beat): started, answering pings, stopped, its log printed;
the test task it runs and the broker's backlog a test reads."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import redis

from api.extensions import make_celery_client
from core.base.db import database
from core.base.services import TaskBroker
from core.jobs import records as jobs
from tests.helpers import (
    STARTUP_TIMEOUT_S,
    read_log,
    settings_from_env,
    start_beat,
    start_worker,
    stop_process_group,
    wait_for,
)

if TYPE_CHECKING:
    from core.base.models import TaskRecord
    from core.base.settings import Settings


@contextlib.contextmanager
def running_worker(
    env: dict[str, str],
    log_path: Path,
    *args: str,
    timeout: float = STARTUP_TIMEOUT_S,
    ready: bool = True,
) -> Iterator[subprocess.Popen[bytes]]:
    """`celery -A tasks worker *args` on `env`, once it answers a ping; stopped on the way out
    (if the test has not ended it itself), and the end of its log printed (pytest shows it when
    the test fails). `ready=False` yields at once: for a worker that may die before it answers."""
    name = f"test-{os.getpid()}-{time.monotonic_ns()}@{socket.gethostname()}"
    process = start_worker(env, log_path, *args, "-n", name)
    client = make_celery_client(settings_from_env(env))
    try:
        if ready:
            wait_for(
                lambda: client.control.ping(destination=[name], timeout=0.5),
                timeout,
                what=f"worker {name} to answer a ping",
            )
        yield process
    finally:
        stop_process_group(process)
        client.close()
        print(read_log(log_path)[-4000:])


@contextlib.contextmanager
def running_beat(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`celery -A tasks beat` on `env`; stopped on the way out and the end of its log printed."""
    process = start_beat(env, log_path)
    try:
        yield process
    finally:
        stop_process_group(process)
        print(read_log(log_path)[-1500:])


def terminate(process: subprocess.Popen[bytes]) -> int:
    """What docker stop and systemd send: SIGTERM to the worker's main process only; its exit
    status once it has stopped."""
    os.kill(process.pid, signal.SIGTERM)
    return process.wait(timeout=60)


def broker_backlog(redis_url: str, *queues: str) -> tuple[int, int]:
    """(messages waiting in `queues`, messages delivered and not yet acknowledged): (0, 0) once
    every message was acknowledged; an unacked one is what a dead worker's task leaves."""
    client = redis.Redis.from_url(redis_url)
    try:
        return sum(client.llen(queue) for queue in queues), client.hlen("unacked")
    finally:
        client.close()


def enqueue_sleep(
    settings: Settings, celery: TaskBroker, marker: Path, seconds: float, steps: int
) -> TaskRecord:
    """`testing.sleep` recorded and sent as the API would: it appends its id to `marker` each time
    it starts (so a test counts its runs) and reports progress `steps` times in `seconds`."""
    kwargs = {"seconds": seconds, "steps": steps, "marker": str(marker)}
    return jobs.enqueue(database(settings.database_url), celery, "testing.sleep", kwargs)
