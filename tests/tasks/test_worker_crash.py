"""A worker killed mid-task loses nothing: the task is redelivered and runs to completion."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from api.extensions import make_celery_client
from core.base.db import database
from core.jobs import records as jobs
from tests.conftest import settings_from_env
from tests.helpers import own_worker_env, wait_for, wait_for_task
from tests.workers import enqueue_sleep, running_worker


def _state(settings, task_id):
    return jobs.get_record(database(settings.database_url), task_id)


@pytest.mark.slow
def test_sigkilled_worker_task_reruns_after_restart(base_env, settings, tmp_path):
    # Every crash-recovery setting at its default (visibility timeout, restore interval, liveness).
    env = own_worker_env(base_env)
    celery_client = make_celery_client(settings_from_env(env))
    marker = tmp_path / "runs.txt"
    log_path = tmp_path / "worker.log"
    with running_worker(env, log_path, "-Q", "default") as first:
        record = enqueue_sleep(settings, celery_client, marker, seconds=4, steps=8)
        wait_for(lambda: _state(settings, record.id).state == "PROGRESS", 30, what="progress")

        # A crash of the whole worker: main process and pool children at once.
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)

    with running_worker(env, log_path, "-Q", "default"):
        # The contract's bound is 2 minutes from the death; the wait is generous (loaded CI).
        done = wait_for_task(settings.database_url, record.id, ("SUCCESS",), timeout=240)
    assert done.result == {"steps": 8, "runs": 2}
    assert marker.read_text().splitlines() == [record.id, record.id]


@pytest.mark.slow
def test_killed_pool_child_is_requeued_at_once(base_env, settings, tmp_path):
    env = own_worker_env(base_env)
    celery_client = make_celery_client(settings_from_env(env))
    marker = tmp_path / "runs.txt"
    log_path = tmp_path / "worker.log"
    with running_worker(env, log_path, "-Q", "default") as process:
        record = enqueue_sleep(settings, celery_client, marker, seconds=3, steps=6)
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
