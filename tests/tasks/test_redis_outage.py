"""A Redis outage longer than the liveness TTL while two workers run long tasks: when Redis is
back, every worker's entry has expired, and no task may be handed back and run twice."""

from __future__ import annotations

import os
import signal
import time

import pytest

from api.extensions import make_celery_client
from core.base.db import database
from core.jobs import records as jobs
from tests.conftest import settings_from_env
from tests.helpers import read_log, start_redis, stop_process_group, wait_for, wait_for_task
from tests.workers import broker_backlog, enqueue_sleep, running_worker

# Shortened so the test takes seconds, not minutes: the reaper's rule is relative to the TTL and
# the interval (an outage longer than the TTL, rounds a TTL apart), so the same interleaving
# happens at the defaults (30 s, 10 s) with every time scaled up.
INTERVAL_S, TTL_S, OUTAGE_S = 0.5, 2.0, 5.0


@pytest.mark.slow
def test_no_task_runs_twice_after_an_outage_longer_than_the_ttl(base_env, settings, tmp_path):
    redis_process, redis_url = start_redis(tmp_path / "redis")
    env = {
        **base_env,
        "REDIS_URL": redis_url,
        "WORKER_CONCURRENCY": "1",
        "WORKER_LIVENESS_INTERVAL_S": str(INTERVAL_S),
        "WORKER_LIVENESS_TTL_S": str(TTL_S),
    }
    celery = make_celery_client(settings_from_env(env))
    marker = tmp_path / "runs.txt"
    try:
        with (
            running_worker(env, tmp_path / "one.log", "-Q", "default"),
            running_worker(env, tmp_path / "two.log", "-Q", "default"),
        ):
            # Different lengths: the worker of the short one is free again while the long one
            # still runs, so a wrongly handed-back twin of the long one would run beside it.
            short = enqueue_sleep(settings, celery, marker, seconds=OUTAGE_S + 6, steps=40)
            long = enqueue_sleep(settings, celery, marker, seconds=OUTAGE_S + 16, steps=80)
            wait_for(
                lambda: marker.exists() and len(marker.read_text().splitlines()) == 2,
                60,
                what="both tasks running, one on each worker",
            )
            os.kill(redis_process.pid, signal.SIGSTOP)  # Redis stops answering; data kept
            try:
                time.sleep(OUTAGE_S)  # the outage itself: longer than the TTL on purpose
            finally:
                os.kill(redis_process.pid, signal.SIGCONT)
            for record in (short, long):
                done = wait_for_task(settings.database_url, record.id, ("SUCCESS",), timeout=120)
                assert done.state == "SUCCESS"
            runs = marker.read_text().splitlines()
            assert sorted(runs) == sorted([short.id, long.id]), "a task ran twice"
            records = [
                jobs.get_record(database(settings.database_url), r.id) for r in (short, long)
            ]
            assert [r.retries for r in records] == [0, 0]
    finally:
        celery.close()
        stop_process_group(redis_process)


@pytest.mark.slow
def test_a_worker_stalled_past_an_outage_keeps_its_task_and_runs_it_once(
    base_env, settings, tmp_path
):
    """The outage above, and worker one's main process (its liveness thread) comes back later
    than Redis by more than a TTL (stuck in a reconnect, a paused machine): to the reaper it is
    indistinguishable from a dead worker, so its task's message is handed back, and the other
    worker takes the twin while the first delivery still runs. The owner lease, renewed by the
    running task's own progress reports, makes the twin wait and change nothing; once the
    owner has finished, the twin finds the record ended and is dropped. Before the lease the
    twin ran the task a second time (this test failed). The TTL is shortened for the same
    reason as above: every step is relative to the TTL and the interval."""
    redis_process, redis_url = start_redis(tmp_path / "redis")
    env = {
        **base_env,
        "REDIS_URL": redis_url,
        "WORKER_CONCURRENCY": "1",
        "WORKER_LIVENESS_INTERVAL_S": str(INTERVAL_S),
        "WORKER_LIVENESS_TTL_S": str(TTL_S),
    }
    celery = make_celery_client(settings_from_env(env))
    marker, log_two = tmp_path / "runs.txt", tmp_path / "two.log"

    def runs() -> list[str]:
        return marker.read_text().splitlines() if marker.exists() else []

    try:
        with running_worker(env, tmp_path / "one.log", "-Q", "default") as one:
            long = enqueue_sleep(settings, celery, marker, seconds=OUTAGE_S + 30, steps=150)
            wait_for(lambda: len(runs()) == 1, 60, what="the long task running on worker one")
            with running_worker(env, log_two, "-Q", "default"):
                short = enqueue_sleep(settings, celery, marker, seconds=OUTAGE_S + 4, steps=20)
                wait_for(lambda: len(runs()) == 2, 60, what="the short one on worker two")
                os.kill(redis_process.pid, signal.SIGSTOP)
                os.kill(one.pid, signal.SIGSTOP)  # its main process only: the task runs on
                try:
                    time.sleep(OUTAGE_S)  # the outage itself: longer than the TTL on purpose
                    os.kill(redis_process.pid, signal.SIGCONT)
                    wait_for(
                        lambda: "stopped proving it lives" in read_log(log_two),
                        60,
                        what="worker two's reaper handing back worker one's task",
                    )
                    wait_for(
                        lambda: len(runs()) > 2 or "this delivery waits" in read_log(log_two),
                        60,
                        what="worker two taking the handed-back twin",
                    )
                finally:
                    os.kill(redis_process.pid, signal.SIGCONT)
                    os.kill(one.pid, signal.SIGCONT)
                for record in (short, long):
                    done = wait_for_task(settings.database_url, record.id, ("SUCCESS",), 120)
                    assert done.state == "SUCCESS"
                assert sorted(runs()) == sorted([short.id, long.id]), "a task ran twice"
                # The twin was dropped too: nothing is left to deliver.
                wait_for(
                    lambda: broker_backlog(redis_url, "default") == (0, 0), 60, what="the acks"
                )
                assert len(runs()) == 2
    finally:
        celery.close()
        stop_process_group(redis_process)
