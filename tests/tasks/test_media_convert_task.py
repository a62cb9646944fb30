"""media.convert through the API and real workers: convert, play, coalesce, cancel, survive."""

from __future__ import annotations

import shutil

import psutil

from api import create_app
from core.base.db import database
from core.jobs import task_lifecycle
from tests.helpers import own_worker_env, private_redis_db, wait_for
from tests.media import make_garbage, make_spinner, make_video
from tests.workers import running_worker


def _client(env):
    return create_app({key.lower(): value for key, value in env.items()}).test_client()


def _finish(client, task_id, states=("SUCCESS", "FAILURE", "REVOKED"), timeout=90):
    def done():
        body = client.get(f"/api/tasks/{task_id}").get_json()
        return body if body["state"] in states else None

    return wait_for(done, timeout, what=f"task {task_id}")


def _library(client, root, files):
    shutil.rmtree(root, ignore_errors=True)
    for name, make in files.items():
        make(root / name)
    task = client.post("/api/catalog/rebuild", json={"source": "local"}).get_json()["task_id"]
    assert _finish(client, task)["state"] == "SUCCESS"
    items = client.get("/api/catalog/items?source=local&limit=200").get_json()["items"]
    return {item["source_id"]: item for item in items}


def _convert(client, item):
    response = client.post(f"/api/catalog/items/{item['id']}/convert")
    assert response.status_code == 202, response.get_json()
    return response.get_json()["task_id"]


def test_mkv_and_avi_play_after_conversion(client, settings, worker):
    items = _library(client, settings.media_roots[0], {
        "Lesson mkv.mkv": lambda p: make_video(p, seconds=3, codec="libx264"),
        "Lesson avi.avi": lambda p: make_video(p, seconds=3),
        "Lesson webm.webm": lambda p: make_video(p, codec="libvpx"),
    })  # fmt: skip
    webm = items["Lesson webm.webm"]
    assert webm["media"]["playable"] == "direct" and webm["playback_url"] == webm["stream_url"]
    refused = client.post(f"/api/catalog/items/{webm['id']}/convert")
    assert refused.status_code == 409
    assert refused.get_json()["error"]["details"]["reason"] == "plays_directly"
    for name, mode in (("Lesson mkv.mkv", "remux"), ("Lesson avi.avi", "transcode")):
        item = items[name]
        assert item["media"]["playable"] == mode and item["media"]["error"] is None
        assert item["playback_url"] == f"/api/catalog/items/{item['id']}/playback"
        before = client.get(item["playback_url"])
        assert before.status_code == 409
        assert before.get_json()["error"]["details"]["reason"] == "needs_conversion"
        body = _finish(client, _convert(client, item))
        assert body["state"] == "SUCCESS", body
        assert body["result"]["mode"] == mode and body["progress"]["percent"] == 100
        whole = client.get(item["playback_url"])
        assert whole.status_code == 200 and whole.mimetype == "video/mp4"
        assert whole.data.index(b"moov") < whole.data.index(b"mdat")
        part = client.get(item["playback_url"], headers={"Range": "bytes=10-99"})
        assert part.status_code == 206 and part.data == whole.data[10:100]
        assert part.headers["Content-Range"] == f"bytes 10-99/{len(whole.data)}"
        etag = whole.headers["ETag"]
        assert client.get(item["playback_url"], headers={"If-None-Match": etag}).status_code == 304
        original = (settings.media_roots[0] / name).read_bytes()
        assert client.get(item["stream_url"]).data == original  # stream_url: the original bytes


def test_asking_again_while_it_waits_or_runs_gets_the_same_task(base_env, settings):
    env = {**base_env, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])}
    client = _client(env)
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    make_video(root / "x.mkv", codec="libx264")
    from core.catalog.indexing import rebuild_local
    from tests.services import services_of

    rebuild_local(services_of(settings))
    item = client.get("/api/catalog/items?source=local").get_json()["items"][0]
    first = _convert(client, item)
    assert _convert(client, item) == first  # waiting
    assert task_lifecycle.mark_started(database(settings.database_url), first)
    assert _convert(client, item) == first  # running: the same work, not a follow-up
    assert client.delete(f"/api/tasks/{first}").status_code in (200, 202)
    assert _convert(client, item) != first


def _ffmpegs(worker):
    children = psutil.Process(worker.pid).children(recursive=True)
    return [p for p in children if "ffmpeg" in p.name()]


def test_garbage_spinning_and_canceled_files_leave_the_worker_healthy(base_env, settings, tmp_path):
    env = own_worker_env(base_env, media_time_limit_s=8)
    client = _client(env)
    with running_worker(env, tmp_path / "worker.log") as worker:
        items = _library(client, settings.media_roots[0], {
            "junk.mkv": make_garbage, "spin.mkv": make_spinner, "again.mkv": make_spinner,
            "good.avi": lambda p: make_video(p, seconds=2),
        })  # fmt: skip
        junk = items["junk.mkv"]
        assert junk["media"]["error"] and junk["media"]["playable"] == "transcode"
        failed = _finish(client, _convert(client, junk))
        assert failed["state"] == "FAILURE" and "could not convert" in failed["error"]["message"]

        canceled = _convert(client, items["again.mkv"])
        found = wait_for(lambda: _ffmpegs(worker), 30, what="ffmpeg to start")
        assert client.delete(f"/api/tasks/{canceled}").status_code in (200, 202)
        _gone, alive = psutil.wait_procs(found, timeout=5)
        assert not alive  # killed at once, not at the time limit
        assert _finish(client, canceled)["state"] == "REVOKED"

        spun = _finish(client, _convert(client, items["spin.mkv"]))
        assert spun["state"] == "FAILURE" and "time limit" in spun["error"]["message"]
        shown = client.get(f"/api/catalog/items/{items['spin.mkv']['id']}").get_json()
        assert "time limit" in shown["media"]["error"]

        good = _finish(client, _convert(client, items["good.avi"]))
        assert good["state"] == "SUCCESS", good  # the same worker takes the next task
        assert worker.poll() is None and not _ffmpegs(worker)


def test_auto_convert_converts_new_local_items_unasked(base_env, settings, tmp_path):
    env = own_worker_env(base_env, auto_convert="true")
    client = _client(env)
    with running_worker(env, tmp_path / "worker.log"):
        items = _library(client, settings.media_roots[0], {
            "new.mkv": lambda p: make_video(p, codec="libx264"),
            "plays.webm": lambda p: make_video(p, codec="libvpx"),
        })  # fmt: skip
        mkv = items["new.mkv"]

        def converted():
            tasks = client.get("/api/tasks?name=media.convert").get_json()["items"]
            return tasks if tasks and tasks[0]["state"] == "SUCCESS" else None

        tasks = wait_for(converted, 60, what="the automatic conversion")
        assert len(tasks) == 1 and tasks[0]["result"]["mode"] == "remux"  # the MKV only, once
        assert client.get(mkv["playback_url"]).status_code == 200
