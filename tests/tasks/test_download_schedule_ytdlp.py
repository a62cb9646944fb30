"""Pause and resume of a yt-dlp download through a real worker (CONTRACT 8.5): the running
download goes back to queued keeping yt-dlp's .part file, and continues from it (a Range
request) once resumed."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import pytest

from api import create_app
from api.extensions import make_celery_client
from core.downloads import partial_dir
from tests.conftest import read_log, settings_from_env
from tests.fakes.media import MediaServer
from tests.helpers import (
    STARTUP_TIMEOUT_S,
    private_redis_db,
    start_worker,
    stop_process_group,
    wait_for,
    wait_for_bytes,
    wait_for_download,
)

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def media():
    with MediaServer("127.0.0.1", slow_size=12 * MIB) as server:
        yield server


@pytest.fixture
def client(base_env, settings, tmp_path):
    """A downloads worker and an app that may fetch from loopback (the media server)."""
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


def test_pause_keeps_the_ytdlp_part_file_and_resume_continues_it(client, settings, media):
    media.rate_bps = 2 * MIB
    media.ranges.clear()
    page = f"{media.base_url}/page.html?src={quote(media.base_url + '/slow.bin', safe='')}"
    try:
        created = client.post("/api/downloads", json={"url": page})
        download_id = created.get_json()["download"]["id"]
        wait_for_bytes(client, download_id, 2 * MIB)
        assert client.patch("/api/settings/downloads", json={"paused": True}).status_code == 200

        def held():
            body = client.get(f"/api/downloads/{download_id}").get_json()
            return body if body["waiting_reason"] == "paused" else None

        assert wait_for(held, 30, what="the download put back to queued")["state"] == "queued"
        parts = [p for p in partial_dir(settings, download_id).rglob("*.part") if p.is_file()]
        assert parts and parts[0].stat().st_size >= 2 * MIB, "yt-dlp's .part file stays"
        kept = parts[0].stat().st_size
        media.rate_bps = None
        assert client.patch("/api/settings/downloads", json={"paused": False}).status_code == 200
        done = wait_for_download(client, download_id, timeout=120)
    finally:
        media.rate_bps = 2 * MIB
    assert done["state"] == "succeeded", done
    assert done["file"]["sha256"] == hashlib.sha256(media.slow).hexdigest()
    starts = [int(r.removeprefix("bytes=").split("-")[0]) for r in media.ranges if r]
    assert any(start >= kept for start in starts), (kept, media.ranges)
