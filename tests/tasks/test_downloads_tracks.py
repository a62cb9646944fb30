"""yt-dlp downloads bring their subtitles (SUBTITLE_LANGS) and chapters into the item."""

from __future__ import annotations

import pytest

from api import create_app
from api.extensions import make_celery_client
from tests.conftest import read_log, settings_from_env
from tests.fakes.media import MediaServer
from tests.helpers import (
    STARTUP_TIMEOUT_S,
    private_redis_db,
    start_worker,
    stop_process_group,
    wait_for,
    wait_for_download,
)


@pytest.fixture(scope="module")
def media():
    with MediaServer("127.0.0.1") as server:
        yield server


@pytest.fixture
def stack(base_env, settings, tmp_path):
    env = {
        **base_env,
        "REDIS_URL": private_redis_db(base_env["REDIS_URL"]),
        "DOWNLOAD_ALLOW_PRIVATE_HOSTS": "true",
        "SUBTITLE_LANGS": "en",
    }
    log_path = tmp_path / "worker.log"
    process = start_worker(env, log_path)
    celery = make_celery_client(settings_from_env(env))
    try:
        wait_for(lambda: celery.control.ping(timeout=0.5), STARTUP_TIMEOUT_S, what="worker")
        yield create_app({k.lower(): v for k, v in env.items()}).test_client()
    finally:
        stop_process_group(process)
        print(read_log(log_path)[-3000:])


def _item(client, download_id: int) -> dict:
    done = wait_for_download(client, download_id)
    assert done["state"] == "succeeded", done
    items = client.get("/api/catalog/items", query_string={"source": "download"}).get_json()
    return next(i for i in items["items"] if i["download"]["id"] == download_id)


def test_a_download_brings_the_subtitles_in_subtitle_langs(stack, media):
    url = f"{media.base_url}/captioned.html"
    created = stack.post("/api/downloads", json={"url": url}).get_json()["download"]
    item = _item(stack, created["id"])
    assert [(s["language"], s["source"]) for s in item["subtitles"]] == [("en", "download")]
    vtt = stack.get(item["subtitles"][0]["url"])
    assert vtt.mimetype == "text/vtt"
    assert "00:00:00.500 --> 00:00:01.500\nCaptions from the <b>web</b> page" in vtt.get_data(
        as_text=True
    )
    hits = stack.get("/api/search", query_string={"q": "captions web"}).get_json()["items"]
    assert [(h["item_id"], h["start_s"]) for h in hits] == [(item["id"], 0.5)]


def test_a_download_brings_the_sources_chapters(stack, media):
    url = f"{media.base_url}/chaptered.html"
    created = stack.post("/api/downloads", json={"url": url}).get_json()["download"]
    item = _item(stack, created["id"])
    assert item["chapters"] == [
        {"title": "Opening", "start_s": 0.0, "end_s": 1.0},
        {"title": "Closing", "start_s": 1.0, "end_s": 2.0},
    ]
    assert item["subtitles"] == []
