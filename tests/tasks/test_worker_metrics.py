"""Worker metrics on WORKER_METRICS_PORT are summed over the prefork pool's processes."""

from __future__ import annotations

import re
import urllib.request

import psutil

from api.extensions import make_celery_client
from core.base.db import database
from core.jobs import records as jobs
from tests.conftest import settings_from_env
from tests.helpers import free_port, private_redis_db, wait_for
from tests.workers import running_worker


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
        "REDIS_URL": private_redis_db(base_env["REDIS_URL"]),
    }
    celery_client = make_celery_client(settings_from_env(env))
    log_path = tmp_path / "worker.log"
    with running_worker(env, log_path, "-Q", "default") as process:
        records = [
            jobs.enqueue(
                database(settings.database_url),
                celery_client,
                "testing.sleep",
                {"seconds": 0.4, "steps": 1},
            )
            for _ in range(6)
        ]
        wait_for(
            lambda: all(
                jobs.get_record(database(settings.database_url), r.id).state == "SUCCESS"
                for r in records
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


def test_download_metrics_count_jobs_bytes_and_active(base_env, settings, drive, tmp_path):
    from api import create_app

    port = free_port()
    env = {
        **base_env,
        "WORKER_METRICS_PORT": str(port),
        "WORKER_CONCURRENCY": "2",
        "REDIS_URL": private_redis_db(base_env["REDIS_URL"]),
    }
    client = create_app({k.lower(): v for k, v in env.items()}).test_client()
    sizes = [3 * 1024 * 1024, 1024 * 1024 + 5]
    files = [drive.add_file(f"m{i}.mp4", size=size, seed=i) for i, size in enumerate(sizes)]
    log_path = tmp_path / "worker.log"
    with running_worker(env, log_path, "-Q", "downloads"):
        ids = [
            client.post(
                "/api/downloads", json={"url": f"https://drive.google.com/file/d/{f}"}
            ).get_json()["download"]["id"]
            for f in files
        ]
        wait_for(
            lambda: all(client.get(f"/api/downloads/{i}").get_json()["state"] == "succeeded"
                        for i in ids),
            60, what="both downloads",
        )  # fmt: skip
        text = wait_for(
            lambda: (
                (t := _scrape(port))
                and _sample(t, r'download_jobs_total\{state="succeeded"\}') == 2
                and t
            ),
            10,
            what="two counted downloads",
        )
        assert _sample(text, "download_bytes_total") == sum(sizes)
        assert _sample(text, "download_duration_seconds_count") == 2
        assert _sample(text, "active_downloads") == 0
