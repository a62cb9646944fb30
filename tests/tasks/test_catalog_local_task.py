"""Local catalog through the API and a real worker: rebuild, list, thumbnail, one run at a time."""

from __future__ import annotations

import shutil

import redis

from api import create_app
from core.base.db import database
from core.base.locks import redis_lock
from core.jobs import records as jobs
from tests.helpers import private_redis_db, wait_for, wait_for_task
from tests.media import make_video

# What a catalog task shows while another rebuild or sync holds the catalog (tasks/catalog.py).
WAITING = "waiting for the running catalog rebuild or sync to end"


def _finish(client, task_id):
    def done():
        body = client.get(f"/api/tasks/{task_id}").get_json()
        return body if body["state"] in ("SUCCESS", "FAILURE") else None

    return wait_for(done, 60, what="the rebuild")


def test_rebuild_then_browse_local_items(client, settings, worker):
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    make_video(root / "Aula 01.mp4", seconds=2)
    make_video(root / "modulo 2" / "Aula 02.mkv", seconds=1)
    response = client.post("/api/catalog/rebuild", json={"source": "local"})
    assert response.status_code == 202
    body = _finish(client, response.get_json()["task_id"])
    assert body["state"] == "SUCCESS", body
    assert body["result"]["local"]["items"] == 2

    page = client.get("/api/catalog/items?source=local&limit=1").get_json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = client.get(f"/api/catalog/items?source=local&cursor={page['next_cursor']}").get_json()
    titles = {item["title"] for item in page["items"] + rest["items"]}
    assert titles == {"Aula 01", "Aula 02"} and rest["next_cursor"] is None

    item = next(i for i in page["items"] + rest["items"] if i["title"] == "Aula 01")
    for key in (
        "id",
        "source",
        "source_id",
        "title",
        "mime_type",
        "size_bytes",
        "duration_s",
        "modified_at",
        "folder_id",
        "thumbnail_url",
        "stream_url",
        "download",
    ):
        assert key in item
    thumb = client.get(item["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert thumb.data[:3] == b"\xff\xd8\xff"
    detail = client.get(f"/api/catalog/items/{item['id']}")
    assert detail.get_json()["source_id"] == "Aula 01.mp4"
    assert client.get("/api/catalog/items/999999").get_json()["error"]["code"] == "not_found"


def test_a_second_rebuild_request_gets_the_running_task(base_env, settings):
    # A Redis database no worker consumes: the first task stays active.
    env = {**base_env, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])}
    client = create_app({key.lower(): value for key, value in env.items()}).test_client()
    first = client.post("/api/catalog/rebuild", json={"source": "local"}).get_json()
    second = client.post("/api/catalog/rebuild", json={"source": "local"}).get_json()
    other = client.post("/api/catalog/rebuild", json={"source": "all"}).get_json()
    assert first["task_id"] == second["task_id"] != other["task_id"]
    client.delete(f"/api/tasks/{first['task_id']}")
    third = client.post("/api/catalog/rebuild", json={"source": "local"}).get_json()
    assert third["task_id"] != first["task_id"]


def test_bad_rebuild_requests_are_refused(client):
    bad = client.post("/api/catalog/rebuild", json={"source": "ftp"})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "validation_error"
    drive = client.post("/api/catalog/rebuild", json={"source": "drive"})
    error = drive.get_json()["error"]
    assert drive.status_code == 409 and "Settings page" in error["message"]
    assert error["details"]["reason"] == "google_not_connected"


def test_a_local_rebuild_waits_for_the_lock_a_drive_rebuild_holds(settings, celery_client, worker):
    # Issue 23 finding 6: a "local" and an "all" rebuild overlapped, and the older one put back
    # files the newer one removed. Local rebuilds take Drive's lock: this one waits while the
    # test holds it (as a running Drive or "all" rebuild does), and indexes only after.
    db = database(settings.database_url)
    with redis_lock(redis.Redis.from_url(settings.redis_url), "catalog.drive", 120) as taken:
        assert taken
        record = jobs.enqueue(db, celery_client, "catalog.rebuild", {"source": "local"})

        def waiting():
            row = jobs.get_record(db, record.id)
            return row if (row.progress or {}).get("message") == WAITING else None

        held = wait_for(waiting, 60, what="the local rebuild waiting for the catalog lock")
        assert held.state == "PROGRESS" and held.result is None
    done = wait_for_task(settings.database_url, record.id, ("SUCCESS", "FAILURE"), 90)
    assert done.state == "SUCCESS", done.error
    assert "local" in done.result
