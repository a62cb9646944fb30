"""Crash recovery with the default settings: a dead worker's task runs again on a live one,
a live task is never delivered twice, a task that keeps killing its worker ends, and a
single-instance task whose message was flushed does not block its kind for ever."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
from urllib.parse import urlsplit

import psutil
import pytest
import redis

from api import create_app
from api.extensions import make_celery_client
from core.base.db import database
from core.jobs import records as jobs
from core.jobs import task_lifecycle
from tests.conftest import read_log, settings_from_env
from tests.helpers import (
    own_worker_env,
    wait_for,
    wait_for_bytes,
    wait_for_download,
    wait_for_task,
)
from tests.workers import broker_backlog, enqueue_sleep, running_worker

MIB = 1024 * 1024
# The contract bounds death to running again at 2 minutes; waits are generous (loaded CI).
RECOVERY_WAIT_S = 240


def _backlog(url):
    return broker_backlog(url, "default", "downloads")


def _holder(workers, port):
    """The worker whose pool process has a connection open to `port` (it runs the transfer)."""
    for worker in workers:
        for child in psutil.Process(worker.pid).children():
            with contextlib.suppress(psutil.Error):
                if any(c.raddr and c.raddr.port == port for c in child.net_connections("tcp")):
                    return worker
    return None


@pytest.mark.slow
def _files(root):
    """Every finished file under DOWNLOAD_DIR (work in progress left out)."""
    return {p for p in root.rglob("*") if p.is_file() and ".partial" not in p.parts}


def test_a_second_worker_finishes_the_download_of_one_killed(base_env, settings, drive, tmp_path):
    env = own_worker_env(base_env)  # every crash-recovery setting at its default
    log_path = tmp_path / "worker.log"
    client = create_app({k.lower(): v for k, v in env.items()}).test_client()
    file_id = drive.add_file("dois workers.mp4", size=24 * MIB, seed=21)
    drive.media_bytes_per_s = 1 * MIB
    before = _files(settings.download_dir)
    # Two workers with different node names on one broker and one database, both up first.
    try:
        with (
            running_worker(env, log_path, "-Q", "downloads") as one,
            running_worker(env, log_path, "-Q", "downloads") as two,
        ):
            created = client.post(
                "/api/downloads", json={"url": f"https://drive.google.com/file/d/{file_id}"}
            )
            download_id = created.get_json()["download"]["id"]
            wait_for_bytes(client, download_id, 2 * MIB, 60)
            port = urlsplit(env["DRIVE_API_URL"]).port
            doomed = wait_for(lambda: _holder([one, two], port), 30, what="the worker fetching it")
            survivor = two if doomed is one else one
            os.killpg(doomed.pid, signal.SIGKILL)  # the whole worker, never restarted
            doomed.wait(10)
            drive.media_bytes_per_s = 4 * MIB
            body = wait_for_download(client, download_id, ("succeeded", "failed"), RECOVERY_WAIT_S)
            assert body["state"] == "succeeded", body
            content = drive.content_of(file_id)
            assert body["file"]["sha256"] == hashlib.sha256(content).hexdigest()
            final = settings.download_dir / body["file"]["path"]
            assert final.read_bytes() == content
            assert _files(settings.download_dir) - before == {final}, "one copy, no other file"
            ranges = [r.range for r in drive.media_requests(file_id)]
            assert any(r and not r.startswith("bytes=0-") for r in ranges), ranges  # it resumed
            assert "stopped proving it lives" in read_log(log_path)
            wait_for(
                lambda: _backlog(env["REDIS_URL"]) == (0, 0), 20, what="the message to be acked"
            )
            assert survivor.poll() is None
    finally:
        drive.media_bytes_per_s = None


@pytest.mark.slow
def test_a_task_silent_past_the_liveness_ttl_runs_once(base_env, settings, tmp_path):
    env = own_worker_env(base_env)  # defaults: a 30 s liveness TTL, reaped every 10 s
    celery, log_path = make_celery_client(settings_from_env(env)), tmp_path / "worker.log"
    marker = tmp_path / "runs.txt"
    with running_worker(env, log_path, "-Q", "default"):  # busy with the task below
        # One step: no progress at all for 75 s, over twice the TTL.
        record = enqueue_sleep(settings, celery, marker, seconds=75, steps=1)
        wait_for(marker.exists, 30, what="the task to start")
        with running_worker(env, log_path, "-Q", "default"):  # free to take a second delivery
            done = wait_for_task(settings.database_url, record.id, ("SUCCESS", "FAILURE"), 180)
    assert done.state == "SUCCESS" and done.result == {"steps": 1, "runs": 1}, done.error
    assert marker.read_text().splitlines() == [record.id]
    assert "stopped proving it lives" not in read_log(log_path)


@pytest.mark.slow
def test_a_task_that_keeps_killing_its_worker_ends_failed(base_env, settings, tmp_path):
    # A short liveness TTL: this test counts deliveries; the recovery time is proved above.
    env = own_worker_env(base_env, worker_liveness_interval_s=1, worker_liveness_ttl_s=3)
    celery, log_path = make_celery_client(settings_from_env(env)), tmp_path / "worker.log"
    marker = tmp_path / "runs.txt"
    record = jobs.enqueue(
        database(settings.database_url), celery, "testing.kill_worker", {"marker": str(marker)}
    )
    for death in range(1, task_lifecycle.MAX_CRASH_DELIVERIES + 1):
        # Not waited for to answer a ping: the task kills it as soon as it is delivered.
        with running_worker(env, log_path, "-Q", "default", ready=False) as worker:
            wait_for(lambda w=worker: w.poll() is not None, 120, what=f"death {death}")
    with running_worker(env, log_path, "-Q", "default") as last:
        done = wait_for_task(settings.database_url, record.id, ("SUCCESS", "FAILURE"), 120)
        assert done.state == "FAILURE" and done.error["type"] == "WorkerKeptDying", done.error
        assert "stopped 3 times" in done.error["message"]
        assert len(marker.read_text().splitlines()) == task_lifecycle.MAX_CRASH_DELIVERIES
        # Its message was acknowledged: nothing left to deliver, no endless loop.
        wait_for(lambda: _backlog(env["REDIS_URL"]) == (0, 0), 20, what="the ack")
        assert last.poll() is None


@pytest.mark.slow
def test_a_flushed_single_task_does_not_block_its_kind(base_env, settings, tmp_path):
    env = own_worker_env(base_env)  # defaults: the lost message is found within ~TTL
    log_path = tmp_path / "worker.log"
    client = create_app({k.lower(): v for k, v in env.items()}).test_client()
    first = client.post("/api/catalog/rebuild", json={"source": "local"})
    assert first.status_code == 202
    task_id = first.get_json()["task_id"]
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()  # Redis lost its data: the message is gone
    again = client.post("/api/catalog/rebuild", json={"source": "local"})
    assert again.get_json()["task_id"] == task_id  # the single task still holds its key
    with running_worker(env, log_path, "-Q", "default"):
        done = wait_for_task(settings.database_url, task_id, ("SUCCESS", "FAILURE"), 180)
        assert done.state == "SUCCESS", done.error
        later = client.post("/api/catalog/rebuild", json={"source": "local"})
        assert later.status_code == 202 and later.get_json()["task_id"] != task_id
        done = wait_for_task(settings.database_url, later.get_json()["task_id"], ("SUCCESS",), 60)


@pytest.mark.slow
def test_a_countdown_held_by_a_live_worker_is_not_handed_back(base_env, settings, tmp_path):
    # A short liveness TTL (3 s) against a 15 s countdown: this test proves that a message a
    # worker holds until its ETA is claimed, not how long the TTL is.
    env = own_worker_env(base_env, worker_liveness_interval_s=1, worker_liveness_ttl_s=3)
    celery, log_path = make_celery_client(settings_from_env(env)), tmp_path / "worker.log"
    marker = tmp_path / "runs.txt"
    with running_worker(env, log_path, "-Q", "default"):  # the holder
        sent = celery.send_task(
            "testing.sleep", kwargs={"seconds": 0.1, "steps": 1, "marker": str(marker)},
            queue="default", countdown=15,
        )  # fmt: skip
        wait_for(lambda: _backlog(env["REDIS_URL"]) == (0, 1), 20, what="held")
        with running_worker(env, log_path, "-Q", "default"):  # would take a handed-back copy
            wait_for(lambda: marker.exists(), 60, what="the task to run at its ETA")
            wait_for(lambda: _backlog(env["REDIS_URL"]) == (0, 0), 20, what="the ack")
    assert marker.read_text().splitlines() == [sent.id]
    assert "stopped proving it lives" not in read_log(log_path)
