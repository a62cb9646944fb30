"""URL downloads (plain files straight, pages and HLS by yt-dlp) through a real worker."""

from __future__ import annotations

import hashlib
import os
import signal

import pytest

from api import create_app
from api.extensions import make_celery_client
from tests.conftest import read_log, settings_from_env
from tests.fakes.media import MediaServer
from tests.helpers import (
    STARTUP_TIMEOUT_S,
    own_worker_env,
    private_redis_db,
    start_worker,
    stop_process_group,
    wait_for,
    wait_for_bytes,
    wait_for_download,
)


@pytest.fixture(scope="module")
def media():
    with MediaServer("127.0.0.1", slow_size=24 * 1024 * 1024) as server:
        yield server


@pytest.fixture
def private_stack(base_env, settings, tmp_path):
    """A worker and an app that may fetch from loopback (the media servers live there)."""
    env = {
        **base_env,
        "REDIS_URL": private_redis_db(base_env["REDIS_URL"]),
        "DOWNLOAD_ALLOW_PRIVATE_HOSTS": "true",
    }
    log_path = tmp_path / "worker.log"
    process = start_worker(env, log_path, "-Q", "downloads")
    celery = make_celery_client(settings_from_env(env))
    try:
        wait_for(lambda: celery.control.ping(timeout=0.5), STARTUP_TIMEOUT_S, what="worker")
        yield create_app({k.lower(): v for k, v in env.items()}).test_client()
    finally:
        stop_process_group(process)
        print(read_log(log_path)[-3000:])


def test_direct_and_hls_downloads_finish_with_the_right_bytes(private_stack, settings, media):
    client = private_stack
    direct = client.post("/api/downloads", json={"url": f"{media.base_url}/video.mp4"})
    hls = client.post("/api/downloads", json={"url": f"{media.base_url}/hls/index.m3u8"})
    assert direct.status_code == hls.status_code == 202
    body = wait_for_download(client, direct.get_json()["download"]["id"])
    assert body["state"] == "succeeded", body
    assert body["file"]["sha256"] == hashlib.sha256(media.video).hexdigest()
    streamed = hashlib.sha256(client.get(body["file_url"]).data).hexdigest()
    assert streamed == body["file"]["sha256"]
    body = wait_for_download(client, hls.get_json()["download"]["id"])
    assert body["state"] == "succeeded", body
    assert body["file"]["size_bytes"] > 0
    again = client.post("/api/downloads", json={"url": f"{media.base_url}/video.mp4"})
    assert again.status_code == 200


@pytest.mark.parametrize("page", [False, True], ids=["plain-file", "page-by-yt-dlp"])
def test_cancel_of_a_url_download_removes_its_partials(private_stack, settings, media, page):
    client = private_stack
    media.rate_bps = 1024 * 1024
    url = f"{media.base_url}/slow.bin"
    url = f"{media.base_url}/page.html?src={url}" if page else url
    created = client.post("/api/downloads", json={"url": url}).get_json()
    download_id = created["download"]["id"]
    wait_for_bytes(client, download_id, 512 * 1024, 60)
    assert client.delete(f"/api/downloads/{download_id}").get_json()["state"] == "canceled"
    partials = settings.download_dir / ".partial" / str(download_id)
    wait_for(lambda: not partials.exists(), 15, what="the partial files to go")
    sent = media.sent["/slow.bin"]
    wait_for(lambda: media.sent["/slow.bin"] == sent, 10, interval=1, what="the transfer to stop")
    assert media.sent["/slow.bin"] < len(media.slow)


def _files(root):
    """Every finished file under DOWNLOAD_DIR (work in progress left out)."""
    return {p for p in root.rglob("*") if p.is_file() and ".partial" not in p.parts}


def test_sigkill_mid_download_resumes_a_plain_file(base_env, settings, media, tmp_path):
    # Crash recovery with every setting at its default.
    env = own_worker_env(base_env, download_allow_private_hosts=True)
    celery, log_path = make_celery_client(settings_from_env(env)), tmp_path / "worker.log"
    client = create_app({k.lower(): v for k, v in env.items()}).test_client()
    media.rate_bps = 2 * 1024 * 1024
    before = _files(settings.download_dir)
    first, second = start_worker(env, log_path, "-Q", "downloads"), None
    try:
        wait_for(lambda: celery.control.ping(timeout=0.5), STARTUP_TIMEOUT_S, what="worker")
        created = client.post("/api/downloads", json={"url": f"{media.base_url}/slow.bin"})
        download_id = created.get_json()["download"]["id"]
        wait_for_bytes(client, download_id, 4 * 1024 * 1024)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        media.rate_bps = None
        second = start_worker(env, log_path, "-Q", "downloads")
        body = wait_for_download(client, download_id, ("succeeded", "failed"), 240)
        assert body["state"] == "succeeded", body
        assert body["file"]["sha256"] == hashlib.sha256(media.slow).hexdigest()
        assert body["file"]["size_bytes"] == len(media.slow)
        final = settings.download_dir / body["file"]["path"]
        assert final.read_bytes() == media.slow
        assert _files(settings.download_dir) - before == {final}, "one copy, no other file"
        assert any(r and not r.startswith("bytes=0-") for r in media.ranges), "it did not resume"
    finally:
        media.rate_bps = 2 * 1024 * 1024
        stop_process_group(first)
        if second is not None:
            stop_process_group(second)
        print(read_log(log_path)[-3000:])
