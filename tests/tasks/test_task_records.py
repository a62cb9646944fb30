"""The record is the truth at the worker: a canceled record stops a task no worker was told of."""

from __future__ import annotations

from api.extensions import make_celery_client
from core.base.db import database
from core.jobs import records as jobs
from tests.conftest import settings_from_env
from tests.helpers import own_worker_env, wait_for_task
from tests.workers import running_worker


def test_a_task_canceled_before_any_worker_listened_never_runs(base_env, settings, tmp_path):
    # No worker is up when the cancel's revoke broadcast goes out, so no worker's in-memory
    # revoked list holds the id: only the record, read at the task's start, can stop it.
    env = own_worker_env(base_env)
    celery_client = make_celery_client(settings_from_env(env))
    marker = tmp_path / "never.txt"
    canceled = jobs.enqueue(
        database(settings.database_url), celery_client, "testing.sleep",
        {"seconds": 0.1, "steps": 1, "marker": str(marker)},
    )  # fmt: skip
    assert (
        jobs.cancel(database(settings.database_url), celery_client, canceled.id).state == "REVOKED"
    )
    after = jobs.enqueue(
        database(settings.database_url),
        celery_client,
        "testing.sleep",
        {"seconds": 0.1, "steps": 1},
    )
    log_path = tmp_path / "worker.log"
    with running_worker(env, log_path, "-Q", "default"):
        # The worker takes the queue in order: once the later task ran, the canceled one was seen.
        wait_for_task(settings.database_url, after.id, ("SUCCESS",))
        record = jobs.get_record(database(settings.database_url), canceled.id)
        assert (record.state, record.started_at) == ("REVOKED", None)
        assert not marker.exists()
