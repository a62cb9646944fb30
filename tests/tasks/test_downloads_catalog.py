"""A finished download is part of the catalog (CONTRACT 8.6): found by title, played from disk."""

from __future__ import annotations

import pytest

from api import create_app
from api.extensions import make_celery_client
from core import downloads
from core.base.db import database
from core.base.models import CatalogItem, Download
from core.catalog.indexing import rebuild_drive, rebuild_local
from core.downloads import catalog_link, run, state
from core.downloads.engine import Fetched
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
from tests.media import make_video
from tests.services import drive_client, services_of


@pytest.fixture(scope="module")
def media():
    with MediaServer("127.0.0.1") as server:
        yield server


@pytest.fixture
def private_stack(base_env, settings, tmp_path):
    """A worker and an app that may fetch from loopback (the media server lives there)."""
    env = {
        **base_env,
        "REDIS_URL": private_redis_db(base_env["REDIS_URL"]),
        "DOWNLOAD_ALLOW_PRIVATE_HOSTS": "true",
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


def _search(client, q, **args):
    return client.get("/api/catalog/items", query_string={"q": q, **args}).get_json()["items"]


def test_a_url_download_becomes_an_item_found_by_title_and_played(private_stack, settings, media):
    client = private_stack
    url = f"{media.base_url}/named/video.mp4"  # Content-Disposition names it "Lesson 1.mp4"
    assert _search(client, "lesson 1") == []
    created = client.post("/api/downloads", json={"url": url}).get_json()["download"]
    done = wait_for_download(client, created["id"])
    assert done["state"] == "succeeded", done

    [item] = _search(client, "LESSON 1")
    assert item["source"] == "download" and item["source_id"] == done["url"]
    assert item["title"] == "Lesson 1" and item["download"]["id"] == done["id"]
    assert item["size_bytes"] == len(media.video) and item["mime_type"] == "video/mp4"
    assert abs(item["duration_s"] - 2.0) < 0.3
    assert [i["id"] for i in _search(client, "", source="download")] == [item["id"]]
    assert client.get(f"/api/downloads/{done['id']}").get_json()["item_id"] == item["id"]

    whole = client.get(item["stream_url"])
    assert whole.status_code == 200 and whole.data == media.video
    ranged = client.get(item["stream_url"], headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.data == media.video[100:200]
    assert ranged.headers["Content-Range"] == f"bytes 100-199/{len(media.video)}"
    beyond = client.get(item["stream_url"], headers={"Range": f"bytes={len(media.video)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(media.video)}"
    head = client.head(item["stream_url"])
    assert head.status_code == 200 and head.data == b""
    assert int(head.headers["Content-Length"]) == len(media.video)
    thumb = client.get(item["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.data[:3] == b"\xff\xd8\xff"

    # A rescan of the media roots leaves download items alone.
    rebuild_local(services_of(settings))
    assert [i["id"] for i in _search(client, "lesson 1")] == [item["id"]]
    # Asking to download the item again is the same download, no new work.
    again = client.post("/api/downloads", json={"item_id": item["id"]})
    assert again.status_code == 200 and again.get_json()["download"]["id"] == done["id"]


def test_a_page_fetched_by_ytdlp_becomes_an_item_with_ytdlps_title(private_stack, media):
    client = private_stack
    url = f"{media.base_url}/page.html?src={media.base_url}/video.mp4"
    created = client.post("/api/downloads", json={"url": url}).get_json()["download"]
    done = wait_for_download(client, created["id"])
    assert done["state"] == "succeeded" and done["title"], done
    [item] = _search(client, "", source="download")
    assert item["title"] == done["title"] and item["source_id"] == done["url"]
    assert [i["id"] for i in _search(client, done["title"])] == [item["id"]]
    assert client.get(item["stream_url"]).data == media.video


def test_a_drive_item_downloaded_plays_the_file_and_keeps_its_id(client, settings, drive, worker):
    video = make_video(settings.data_dir / "made" / "Aula 5.mp4", seconds=1).read_bytes()
    file_id = drive.add_file("Aula cinco.mp4", content=video, thumbnail=False)
    rebuild_drive(services_of(settings), drive_client(settings))
    [item] = _search(client, "aula cinco", source="drive")
    assert item["duration_s"] is None  # Drive said nothing of it
    created = client.post("/api/downloads", json={"item_id": item["id"]}).get_json()["download"]
    assert wait_for_download(client, created["id"])["state"] == "succeeded"

    drive.delete(file_id)  # from now on only the downloaded file can answer
    asked = len(drive.media_requests(file_id))
    shown = client.get(f"/api/catalog/items/{item['id']}").get_json()
    assert (shown["id"], shown["source"], shown["source_id"]) == (item["id"], "drive", file_id)
    assert shown["download"]["state"] == "succeeded" and shown["size_bytes"] == len(video)
    assert abs(shown["duration_s"] - 1.0) < 0.3
    ranged = client.get(shown["stream_url"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and ranged.data == video[:100]
    assert client.get(shown["thumbnail_url"]).status_code == 200
    assert len(drive.media_requests(file_id)) == asked


def test_a_drive_link_of_a_catalogued_file_links_to_its_item(client, settings, drive, worker):
    file_id = drive.add_file("Aula seis.mp4", size=5000, seed=6)
    rebuild_drive(services_of(settings), drive_client(settings))
    [item] = _search(client, "aula seis")
    url = f"https://drive.google.com/file/d/{file_id}/view?usp=sharing"
    created = client.post("/api/downloads", json={"url": url}).get_json()["download"]
    assert created["item_id"] is None
    done = wait_for_download(client, created["id"])
    assert done["state"] == "succeeded" and done["item_id"] == item["id"]
    assert [i["id"] for i in _search(client, "aula seis")] == [item["id"]]
    assert _search(client, "", source="download") == []


def test_a_download_that_ends_without_its_file_takes_its_item_along(settings, tmp_path):
    services = services_of(settings)
    db = database(settings.database_url)
    url = "https://media.example/lessons/intro.mp4"

    def finished(title):
        with db.session() as session:
            row = state.create(url=url, kind="ytdlp", title=title, dedupe_key=None)
            session.add(row)
        work = tmp_path / f"work-{row.id}"
        staged = make_video(work / "intro.mp4", seconds=1)
        final = settings.download_dir / f"intro-{row.id}.mp4"
        final.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(final)
        run.succeed(services, row.id, Fetched(final, final.stat().st_size, "0" * 64, title))
        return row.id

    first, second = finished("Intro"), finished("Intro")
    with db.session() as session:
        items = session.query(CatalogItem).filter_by(source="download").all()
        linked = {session.get_one(Download, d).item_id for d in (first, second)}
    assert [i.title for i in items] == ["Intro"] and linked == {items[0].id}

    # Each is fetched again (its file gone) and canceled: the item stays while one plays it.
    for download_id, left in ((first, 1), (second, 0)):
        downloads.file_of(settings, database(settings.database_url).get(Download, download_id, ""))
        (settings.download_dir / f"intro-{download_id}.mp4").unlink()
        assert run.begin(services, download_id, None) is not None  # running again
        assert downloads.cancel(services, download_id).state == "canceled"
        with db.session() as session:
            assert session.query(CatalogItem).filter_by(source="download").count() == left
    assert catalog_link.playing(db, [items[0].id]) == {}
