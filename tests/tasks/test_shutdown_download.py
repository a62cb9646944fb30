"""SIGTERM to a worker mid-download: the download is handed back, keeps its partial file, and the
next worker resumes it to one file with the source's bytes, without counting a crash."""

from __future__ import annotations

import hashlib

import pytest

from api import create_app
from core import downloads
from core.base.db import database
from core.downloads import partial_dir
from tests.conftest import read_log
from tests.helpers import own_worker_env, wait_for, wait_for_bytes, wait_for_download
from tests.workers import running_worker, terminate

MIB = 1024 * 1024


def _body(client, download_id):
    return client.get(f"/api/downloads/{download_id}").get_json()


@pytest.mark.slow
def test_sigterm_mid_download_hands_it_back_and_it_resumes(base_env, settings, drive, tmp_path):
    env = own_worker_env(base_env, worker_shutdown_grace_s=1)
    client = create_app({k.lower(): v for k, v in env.items()}).test_client()
    file_id = drive.add_file("desligada.mp4", size=12 * MIB, seed=21)
    drive.media_bytes_per_s = 2 * MIB
    log_path = tmp_path / "worker.log"
    try:
        with running_worker(env, log_path, "-Q", "downloads") as first:
            created = client.post(
                "/api/downloads", json={"url": f"https://drive.google.com/file/d/{file_id}"}
            )
            download_id = created.get_json()["download"]["id"]
            wait_for_bytes(client, download_id, 2 * MIB)
            assert terminate(first) == 0, read_log(log_path)[-3000:]

        handed_back = _body(client, download_id)
        assert handed_back["state"] == "queued", handed_back  # not lying as running
        row = downloads.get(database(settings.database_url), download_id)
        assert row.deliveries == 0  # a shutdown is not a worker that died
        part = partial_dir(settings, download_id) / "data.part"
        kept = part.stat().st_size
        assert 0 < kept < 12 * MIB  # the partial file stays for the next delivery

        drive.media_bytes_per_s = None
        with running_worker(env, log_path, "-Q", "downloads"):
            body = wait_for_download(client, download_id, ("succeeded", "failed"))
        assert body["state"] == "succeeded", body
        content = drive.content_of(file_id)
        assert body["file"]["sha256"] == hashlib.sha256(content).hexdigest()
        files = [p for p in settings.download_dir.iterdir() if "desligada" in p.name]
        assert len(files) == 1 and files[0].read_bytes() == content
        ranges = [r.range for r in drive.media_requests(file_id)]
        assert f"bytes={kept}-" in ranges, ranges  # resumed where the first run stopped
        task = client.get(f"/api/tasks/{body['task_id']}").get_json()
        assert task["state"] == "SUCCESS", task
    finally:
        drive.media_bytes_per_s = None


@pytest.mark.slow
def test_a_download_cut_by_the_cold_shutdown_is_not_a_crash(base_env, settings, drive, tmp_path):
    env = own_worker_env(base_env, worker_shutdown_grace_s=1)
    client = create_app({k.lower(): v for k, v in env.items()}).test_client()
    file_id = drive.add_file("presa.mp4", size=8 * MIB, seed=22)
    # So slow that a 1 MiB read never completes: no progress call, so the stop flag goes unread
    # and only the last-resort cold shutdown ends the run.
    drive.media_bytes_per_s = 32 * 1024
    log_path = tmp_path / "worker.log"
    try:
        with running_worker(env, log_path, "-Q", "downloads") as worker:
            created = client.post(
                "/api/downloads", json={"url": f"https://drive.google.com/file/d/{file_id}"}
            )
            download_id = created.get_json()["download"]["id"]
            wait_for(lambda: _body(client, download_id)["state"] == "running", 30, what="running")
            wait_for(lambda: drive.media_requests(file_id), 30, what="the transfer to start")
            terminate(worker)
        assert "cold shutdown" in read_log(log_path)
        row = downloads.get(database(settings.database_url), download_id)
        assert row.state == "queued" and row.deliveries == 0, (row.state, row.deliveries)
    finally:
        drive.media_bytes_per_s = None
