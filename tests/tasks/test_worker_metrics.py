"""Worker metrics on WORKER_METRICS_PORT are summed over the prefork pool's processes."""

from __future__ import annotations

import re
import urllib.request

import psutil

from api.extensions import make_celery_client
from core import jobs
from tests.conftest import read_log, settings_from_env
from tests.helpers import free_port, private_redis_db, start_worker, stop_process_group, wait_for


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def _sample(text: str, pattern: str) -> float:
    match = re.search(rf"^{pattern} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_task_metrics_sum_over_pool_children(base_env, settings, tmp_path):
    port = free_port()
    env = {
        **base_env,
        "WORKER_METRICS_PORT": str(port),
        "WORKER_CONCURRENCY": "2",
        "REDIS_URL": private_redis_db(base_env["REDIS_URL"], 5),
    }
    celery_client = make_celery_client(settings_from_env(env))
    log_path = tmp_path / "worker.log"
    process = start_worker(env, log_path, "-Q", "default")
    try:
        wait_for(lambda: celery_client.control.ping(timeout=0.5), 40, what="worker")
        records = [
            jobs.enqueue(
                settings.database_url, celery_client, "testing.sleep", {"seconds": 0.4, "steps": 1}
            )
            for _ in range(6)
        ]
        wait_for(
            lambda: all(
                jobs.get_record(settings.database_url, r.id).state == "SUCCESS" for r in records
            ),
            30,
            what="six tasks",
        )
        children = psutil.Process(process.pid).children()
        assert len(children) == 2
        text = wait_for(
            lambda: (
                (t := _scrape(port))
                and _sample(t, r'celery_task_duration_seconds_count\{task="testing.sleep"\}') == 6
                and t
            ),
            10,
            what="six observations",
        )
        assert _sample(text, r'celery_task_runs_total\{state="SUCCESS",task="testing.sleep"\}') == 6
        assert _sample(text, r'celery_task_duration_seconds_sum\{task="testing.sleep"\}') >= 6 * 0.4
    finally:
        stop_process_group(process)
        print(read_log(log_path)[-2000:])
