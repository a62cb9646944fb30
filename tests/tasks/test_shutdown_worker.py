"""SIGTERM to a worker mid-task loses nothing: a task finishes within the grace period, or its
message goes back to the queue and another worker completes it."""

from __future__ import annotations

import pytest

from api.extensions import make_celery_client
from core.base.db import database
from core.jobs import records as jobs
from tests.conftest import read_log, settings_from_env
from tests.helpers import own_worker_env, wait_for, wait_for_task
from tests.workers import broker_backlog, enqueue_sleep, running_worker, terminate


def _env(base_env, grace):
    return own_worker_env(base_env, worker_shutdown_grace_s=grace)


def _record(settings, task_id):
    return jobs.get_record(database(settings.database_url), task_id)


@pytest.mark.slow
def test_a_task_that_finishes_within_the_grace_succeeds_once(base_env, settings, tmp_path):
    env = _env(base_env, grace=30)
    celery = make_celery_client(settings_from_env(env))
    marker, log_path = tmp_path / "runs.txt", tmp_path / "worker.log"
    with running_worker(env, log_path, "-Q", "default") as worker:
        record = enqueue_sleep(settings, celery, marker, seconds=3, steps=6)
        wait_for(lambda: _record(settings, record.id).state == "PROGRESS", 30, what="progress")
        assert terminate(worker) == 0, read_log(log_path)[-3000:]
        done = _record(settings, record.id)
        assert done.state == "SUCCESS", done
        assert done.result == {"steps": 6, "runs": 1}
        # Acknowledged: nothing to redeliver.
        assert broker_backlog(env["REDIS_URL"], "default") == (0, 0)
        assert marker.read_text().splitlines() == [record.id]
        assert "running tasks have 30 s to finish" in read_log(log_path)


@pytest.mark.slow
def test_a_task_outliving_the_grace_is_redelivered_and_completes(base_env, settings, tmp_path):
    env = _env(base_env, grace=1)
    celery = make_celery_client(settings_from_env(env))
    marker, log_path = tmp_path / "runs.txt", tmp_path / "worker.log"
    with running_worker(env, log_path, "-Q", "default") as first:
        record = enqueue_sleep(settings, celery, marker, seconds=12, steps=24)
        wait_for(lambda: _record(settings, record.id).state == "PROGRESS", 30, what="progress")
        assert terminate(first) == 0, read_log(log_path)[-3000:]
    released = _record(settings, record.id)
    assert released.state == "PENDING", released  # queued again, not lying as running
    assert broker_backlog(env["REDIS_URL"], "default") == (1, 0)  # the message is back in its queue

    with running_worker(env, log_path, "-Q", "default"):
        done = wait_for_task(settings.database_url, record.id, ("SUCCESS", "FAILURE"))
    assert done.state == "SUCCESS", done.error
    assert done.result == {"steps": 24, "runs": 2}
    assert marker.read_text().splitlines() == [record.id, record.id]
    assert "handed back to the queue" in read_log(log_path)


@pytest.mark.slow
def test_a_task_that_never_polls_is_cut_and_redelivered(base_env, settings, tmp_path):
    """The last resort: Celery's cold shutdown ends the run; the unacked message comes back."""
    env = _env(base_env, grace=1)
    celery = make_celery_client(settings_from_env(env))
    marker, log_path = tmp_path / "runs.txt", tmp_path / "worker.log"
    with running_worker(env, log_path, "-Q", "default") as first:
        # One step: no progress report, so no stop flag read, until the end.
        record = enqueue_sleep(settings, celery, marker, seconds=25, steps=1)
        wait_for(lambda: marker.exists(), 30, what="the task to start")
        terminate(first)
    assert "cold shutdown" in read_log(log_path)
    cut = _record(settings, record.id)
    assert cut.state == "PENDING"  # queued again, not "running"
    assert cut.deliveries == 0  # handed back: not counted as a worker that died
    assert broker_backlog(env["REDIS_URL"], "default") == (1, 0)  # restored to its queue, not lost

    with running_worker(env, log_path, "-Q", "default"):
        done = wait_for_task(settings.database_url, record.id, ("SUCCESS", "FAILURE"))
    assert done.state == "SUCCESS", done.error
    assert marker.read_text().splitlines() == [record.id, record.id]
