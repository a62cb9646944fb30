"""maintenance.cleanup end to end through a real worker: API → record → broker → worker → record."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import psutil

from core.base.db import database, session_scope
from core.base.models import TaskRecord, utcnow
from core.jobs import records as jobs
from tests.conftest import read_log
from tests.helpers import wait_for


def _poll(client, task_id: str, states: set[str], timeout: float = 30) -> dict:
    def check():
        body = client.get(f"/api/tasks/{task_id}").get_json()
        return body if body["state"] in states else None

    return wait_for(check, timeout, what=f"task {task_id} to reach {states}")


def test_cleanup_runs_on_the_worker_and_reports_counts(client, settings, worker):
    stale = settings.temp_dir / "old" / "partial.bin"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"x" * 1000)
    old = time.time() - settings.temp_max_age_s - 60
    os.utime(stale, (old, old))
    fresh = settings.temp_dir / "fresh.bin"
    fresh.write_bytes(b"y")
    with session_scope(settings.database_url) as session:
        long_ago = utcnow() - timedelta(days=settings.task_retention_days + 1)
        session.add(
            TaskRecord(
                id="old-one",
                name="maintenance.cleanup",
                state="SUCCESS",
                created_at=long_ago,
                finished_at=long_ago,
            )
        )

    response = client.post("/api/maintenance/cleanup", headers={"X-Request-ID": "req-cleanup-1"})
    assert response.status_code == 202
    task_id = response.get_json()["task_id"]
    body = _poll(client, task_id, {"SUCCESS", "FAILURE"})

    assert body["state"] == "SUCCESS", body
    result = body["result"]
    assert result["temp_files_removed"] == 1 and result["bytes_freed"] == 1000
    assert result["task_records_removed"] == 1 and result["thumbnails_removed"] == 0
    # Other tests' leftovers may be swept too: only the keys are certain.
    assert result["downloads_requeued"] >= 0 and result["partials_removed"] >= 0
    assert body["progress"]["percent"] == 100.0
    assert body["started_at"] and body["finished_at"] and body["error"] is None
    assert not stale.exists() and fresh.exists()
    assert client.get("/api/tasks/old-one").status_code == 404

    # Every line the task wrote carries its id, its name and the enqueuing request's id.
    wait_for(lambda: task_id in read_log(worker["log"]), 5)
    lines = [
        json.loads(line) for line in read_log(worker["log"]).splitlines() if line.startswith("{")
    ]
    task_lines = [line for line in lines if line.get("task_id") == task_id]
    assert task_lines, "the worker logged nothing for the task"
    for line in task_lines:
        assert line["task_name"] == "maintenance.cleanup"
        assert line["request_id"] == "req-cleanup-1"


def test_progress_only_rises_and_reaches_the_total(client, settings, celery_client, worker):
    record = jobs.enqueue(
        database(settings.database_url),
        celery_client,
        "testing.sleep",
        {"seconds": 1.5, "steps": 6},
    )
    seen: list[int] = []

    def finished():
        body = client.get(f"/api/tasks/{record.id}").get_json()
        if body["progress"]:
            seen.append(body["progress"]["current"])
        return body["state"] == "SUCCESS"

    wait_for(finished, 30, interval=0.05)
    assert seen == sorted(seen) and seen[-1] == 6
    assert len(set(seen)) >= 2, "progress was never seen in between"


def test_records_outlive_a_redis_flush(client, settings, redis_client, worker):
    task_id = client.post("/api/maintenance/cleanup").get_json()["task_id"]
    _poll(client, task_id, {"SUCCESS"})
    redis_client.flushall()
    body = client.get(f"/api/tasks/{task_id}").get_json()
    assert body["state"] == "SUCCESS" and body["result"]["temp_files_removed"] == 0


def test_canceling_a_running_task_terminates_it(client, settings, celery_client, worker, tmp_path):
    marker = tmp_path / "runs.txt"
    record = jobs.enqueue(
        database(settings.database_url),
        celery_client,
        "testing.sleep",
        {"seconds": 20, "steps": 40, "marker": str(marker)},
    )
    _poll(client, record.id, {"STARTED", "PROGRESS"})
    response = client.delete(f"/api/tasks/{record.id}")
    assert response.status_code == 200 and response.get_json()["state"] == "REVOKED"
    # The worker really stopped it: progress freezes well before the 40 steps.
    time.sleep(2)
    frozen = client.get(f"/api/tasks/{record.id}").get_json()
    time.sleep(1.5)
    later = client.get(f"/api/tasks/{record.id}").get_json()
    assert later["state"] == "REVOKED"
    assert later["progress"] == frozen["progress"]
    assert (later["progress"] or {}).get("current", 0) < 40
    assert Path(marker).read_text().count("\n") == 1


def test_a_task_canceled_while_queued_never_runs(client, settings, celery_client, worker, tmp_path):
    # Occupy both worker slots so the third task waits in the queue.
    blockers = [
        jobs.enqueue(
            database(settings.database_url),
            celery_client,
            "testing.sleep",
            {"seconds": 3, "steps": 3},
        )
        for _ in range(2)
    ]
    marker = tmp_path / "never.txt"
    queued = jobs.enqueue(
        database(settings.database_url),
        celery_client,
        "testing.sleep",
        {"seconds": 0.1, "steps": 1, "marker": str(marker)},
    )
    assert client.delete(f"/api/tasks/{queued.id}").get_json()["state"] == "REVOKED"
    for blocker in blockers:
        _poll(client, blocker.id, {"SUCCESS"})
    time.sleep(1)
    assert client.get(f"/api/tasks/{queued.id}").get_json()["state"] == "REVOKED"
    assert not marker.exists()


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_canceling_a_task_also_stops_the_ffmpeg_it_started(
    client, settings, celery_client, worker, tmp_path
):
    marker = tmp_path / "ffmpeg.pid"
    record = jobs.enqueue(
        database(settings.database_url), celery_client, "testing.ffmpeg", {"marker": str(marker)}
    )
    wait_for(lambda: marker.exists() and marker.read_text(), 30, what="ffmpeg to start")
    pid = int(marker.read_text())
    assert _running(pid) and "ffmpeg" in psutil.Process(pid).name()
    assert client.delete(f"/api/tasks/{record.id}").get_json()["state"] == "REVOKED"
    wait_for(lambda: not _running(pid), 15, what="ffmpeg to stop with its task")
    _poll(client, record.id, {"REVOKED"})
