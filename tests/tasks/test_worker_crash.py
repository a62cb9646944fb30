"""A worker killed mid-task loses nothing: the task is redelivered and runs to completion."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from api.extensions import make_celery_client
from core import jobs
from core.db import database
from tests.conftest import read_log, settings_from_env
from tests.helpers import (
    private_redis_db,
    start_worker,
    stop_process_group,
    wait_for,
    wait_for_task,
)
from tests.workers import running_worker

# Every crash-recovery setting at its default (visibility timeout, restore interval, liveness).
CRASH_ENV = {"WORKER_CONCURRENCY": "1"}


def _state(settings, task_id):
    return jobs.get_record(database(settings.database_url), task_id)


@pytest.mark.slow
def test_sigkilled_worker_task_reruns_after_restart(base_env, settings, tmp_path):
    env = {**base_env, **CRASH_ENV, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])}
    celery_client = make_celery_client(settings_from_env(env))
    marker = tmp_path / "runs.txt"
    log_path = tmp_path / "worker.log"
    first = start_worker(env, log_path, "-Q", "default")
    second = None
    try:
        wait_for(lambda: celery_client.control.ping(timeout=0.5), 40, what="first worker")
        record = jobs.enqueue(
            database(settings.database_url),
            celery_client,
            "testing.sleep",
            {"seconds": 4, "steps": 8, "marker": str(marker)},
        )
        wait_for(lambda: _state(settings, record.id).state == "PROGRESS", 30, what="progress")

        # A crash of the whole worker: main process and pool children at once.
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)

        second = start_worker(env, log_path, "-Q", "default")
        # The contract's bound is 2 minutes from the death; the wait is generous (loaded CI).
        done = wait_for_task(settings.database_url, record.id, ("SUCCESS",), timeout=240)
        assert done.result == {"steps": 8, "runs": 2}
        assert marker.read_text().splitlines() == [record.id, record.id]
    finally:
        stop_process_group(first)
        if second is not None:
            stop_process_group(second)
        print(read_log(log_path)[-3000:])


@pytest.mark.slow
def test_killed_pool_child_is_requeued_at_once(base_env, settings, tmp_path):
    env = {**base_env, **CRASH_ENV, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])}
    celery_client = make_celery_client(settings_from_env(env))
    marker = tmp_path / "runs.txt"
    log_path = tmp_path / "worker.log"
    with running_worker(env, log_path, "-Q", "default") as process:
        record = jobs.enqueue(
            database(settings.database_url),
            celery_client,
            "testing.sleep",
            {"seconds": 3, "steps": 6, "marker": str(marker)},
        )
        wait_for(lambda: _state(settings, record.id).state == "PROGRESS", 30, what="progress")
        child = psutil.Process(process.pid).children()[0]
        child.kill()  # reject_on_worker_lost: the message goes back to the queue
        done = wait_for(
            lambda: (
                _state(settings, record.id).state in ("SUCCESS", "FAILURE")
                and _state(settings, record.id)
            ),
            30,
            interval=0.3,
            what="the re-run",
        )
        assert done.state == "SUCCESS", done.error
        assert len(marker.read_text().splitlines()) == 2
