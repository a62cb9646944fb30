"""The owner lease on a real worker (issue 23, finding 5): a delivery whose record another live
delivery holds runs nothing and changes nothing, and is dropped once the owner has finished;
when the owner's lease runs out unrenewed (it died), the same message runs. The owner is this
test, holding the record's lease as a worker elsewhere would.

A short liveness TTL (3 s): a twin waits about one TTL before it asks again, and this test
proves what the twin does, not how long the TTL is (test_crash_recovery.py runs the defaults)."""

from __future__ import annotations

import pytest

from api.extensions import make_celery_client
from core.base.db import database
from core.jobs import records as jobs
from core.jobs import task_lifecycle
from tests.conftest import read_log, settings_from_env
from tests.helpers import own_worker_env, wait_for, wait_for_task
from tests.workers import broker_backlog, running_worker

ELSEWHERE = "worker@elsewhere:1:cafe0001:2:"


def _recorded(settings, marker):
    """A testing.sleep task recorded, not sent: the test sends its message (a twin, as a
    reaper's hand-back makes one) once a delivery 'elsewhere' holds the record."""
    db = database(settings.database_url)
    kwargs = {"seconds": 0.2, "steps": 2, "marker": str(marker)}
    record = jobs.enqueue(db, _Unsent(), "testing.sleep", kwargs)
    return db, record, kwargs


class _Unsent:
    """A broker that sends nothing: the test sends the twin itself once the owner holds it."""

    def send_task(self, *_args, **_kwargs):
        return None


@pytest.mark.slow
def test_a_twin_of_a_live_delivery_runs_nothing_and_is_dropped(base_env, settings, tmp_path):
    env = own_worker_env(base_env, worker_liveness_interval_s=1, worker_liveness_ttl_s=3)
    celery, log_path = make_celery_client(settings_from_env(env)), tmp_path / "worker.log"
    marker = tmp_path / "runs.txt"
    db, record, kwargs = _recorded(settings, marker)
    assert task_lifecycle.begin_delivery(db, record.id, ELSEWHERE + "live", 600) == 1
    before = jobs.get_record(db, record.id)
    with running_worker(env, log_path, "-Q", "default"):
        celery.send_task("testing.sleep", kwargs=kwargs, task_id=record.id, queue="default")
        wait_for(
            lambda: read_log(log_path).count("this delivery waits") >= 2,
            60,
            what="the twin waiting for the owner, twice",
        )
        held = jobs.get_record(db, record.id)
        assert not marker.exists(), "the twin ran the task"
        seen = (held.state, held.owner, held.deliveries, held.started_at, held.progress)
        assert seen == ("STARTED", ELSEWHERE + "live", 1, before.started_at, None)
        # The owner finishes: the twin's next copy finds the record ended and is dropped.
        task_lifecycle.mark_finished(db, record.id, "SUCCESS", result={"by": "the owner"})
        wait_for(lambda: broker_backlog(env["REDIS_URL"], "default") == (0, 0), 60, what="acks")
    done = jobs.get_record(db, record.id)
    assert (done.state, done.result) == ("SUCCESS", {"by": "the owner"})
    assert not marker.exists()
    celery.close()


@pytest.mark.slow
def test_a_redelivery_runs_once_the_dead_owners_lease_ran_out(base_env, settings, tmp_path):
    env = own_worker_env(base_env, worker_liveness_interval_s=1, worker_liveness_ttl_s=3)
    celery, log_path = make_celery_client(settings_from_env(env)), tmp_path / "worker.log"
    marker = tmp_path / "runs.txt"
    db, record, kwargs = _recorded(settings, marker)
    # The owner took a 2 s lease and died: nobody renews it.
    assert task_lifecycle.begin_delivery(db, record.id, ELSEWHERE + "dead", 2) == 1
    with running_worker(env, log_path, "-Q", "default"):
        celery.send_task("testing.sleep", kwargs=kwargs, task_id=record.id, queue="default")
        done = wait_for_task(settings.database_url, record.id, ("SUCCESS", "FAILURE"), 60)
        wait_for(lambda: broker_backlog(env["REDIS_URL"], "default") == (0, 0), 60, what="acks")
    assert done.state == "SUCCESS", done.error
    assert marker.read_text().splitlines() == [record.id], "it ran, once"
    assert (done.owner, done.lease_until, done.deliveries) == (None, None, 0)
    celery.close()
