"""Drive downloads through the API and real workers: dedupe, progress, cancel, crash recovery."""

from __future__ import annotations

import hashlib
import os
import signal

import psutil

from core.downloads import partial_dir
from tests.helpers import (
    own_worker_env,
    private_redis_db,
    wait_for,
    wait_for_bytes,
    wait_for_download,
)
from tests.services import drive_client, services_of
from tests.workers import running_worker

MIB = 1024 * 1024


def test_a_drive_download_is_fetched_once_and_streams_back(client, settings, drive, worker):
    file_id = drive.add_file("aula gravada.mp4", size=3 * MIB + 7, seed=4)
    url = f"https://drive.google.com/file/d/{file_id}/view?usp=sharing"
    response = client.post("/api/downloads", json={"url": url})
    assert response.status_code == 202
    created = response.get_json()
    assert created["download"]["state"] in ("queued", "running") and created["task_id"]
    seen = []

    def done():
        body = client.get(f"/api/downloads/{created['download']['id']}").get_json()
        seen.append(body["progress"]["downloaded_bytes"] or 0)
        return body if body["state"] in ("succeeded", "failed") else None

    body = wait_for(done, 60, interval=0.05, what="the download")
    assert body["state"] == "succeeded", body
    content = drive.content_of(file_id)
    assert body["file"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["file"]["size_bytes"] == len(content) and body["progress"]["percent"] == 100.0
    assert seen == sorted(seen)
    assert (settings.download_dir / body["file"]["path"]).read_bytes() == content
    assert not partial_dir(settings, body["id"]).exists()

    again = client.post("/api/downloads", json={"url": url})
    assert again.status_code == 200 and again.get_json()["download"]["id"] == body["id"]
    ranged = client.get(body["file_url"], headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.data == content[10:20]
    listed = client.get("/api/downloads?state=succeeded").get_json()["items"]
    assert [d["id"] for d in listed] == [body["id"]]


def test_cancel_stops_a_running_download_and_removes_partials(client, settings, drive, worker):
    file_id = drive.add_file("longa.mp4", size=40 * MIB, seed=8)
    drive.media_bytes_per_s = 2 * MIB
    try:
        created = client.post(
            "/api/downloads", json={"url": f"https://drive.google.com/open?id={file_id}"}
        )
        download_id = created.get_json()["download"]["id"]
        wait_for_bytes(client, download_id, MIB)
        response = client.delete(f"/api/downloads/{download_id}")
        assert response.status_code == 200 and response.get_json()["state"] == "canceled"
        wait_for(lambda: not partial_dir(settings, download_id).exists(), 10, what="partials gone")
        drive.wait_idle(10)
        record = drive.media_requests(file_id)[-1]
        assert record.bytes_sent < 40 * MIB / 2, "the transfer went on after the cancel"
        assert client.delete(f"/api/downloads/{download_id}").status_code == 409
        again = client.post(
            "/api/downloads", json={"url": f"https://drive.google.com/open?id={file_id}"}
        )
        assert again.status_code == 202, "a canceled download must not block a new one"
        client.delete(f"/api/downloads/{again.get_json()['download']['id']}")
    finally:
        drive.media_bytes_per_s = None


def _own_worker(base_env, tmp_path):
    env = own_worker_env(base_env)  # crash recovery with every setting at its default
    return env, tmp_path / "worker.log"


def test_sigkill_mid_download_resumes_to_one_correct_file(base_env, settings, drive, tmp_path):
    env, log_path = _own_worker(base_env, tmp_path)
    from api import create_app

    client = create_app({k.lower(): v for k, v in env.items()}).test_client()
    file_id = drive.add_file("interrompida.mp4", size=12 * MIB, seed=12)
    drive.media_bytes_per_s = 3 * MIB
    try:
        with running_worker(env, log_path, "-Q", "downloads") as first:
            created = client.post(
                "/api/downloads", json={"url": f"https://drive.google.com/file/d/{file_id}"}
            )
            download_id = created.get_json()["download"]["id"]
            wait_for_bytes(client, download_id, 2 * MIB)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
        drive.media_bytes_per_s = None
        with running_worker(env, log_path, "-Q", "downloads"):
            # The contract's bound is 2 minutes from the death; the wait is generous (loaded CI).
            body = wait_for_download(client, download_id, ("succeeded", "failed"), 240)
        assert body["state"] == "succeeded", body
        content = drive.content_of(file_id)
        assert body["file"]["sha256"] == hashlib.sha256(content).hexdigest()
        files = [
            p
            for p in settings.download_dir.iterdir()
            if p.is_file() and "interrompida" in p.name  # named by DOWNLOAD_TEMPLATE
        ]
        assert len(files) == 1 and files[0].read_bytes() == content
        ranges = [r.range for r in drive.media_requests(file_id)]
        assert any(r and not r.startswith("bytes=0-") for r in ranges), ranges  # it resumed
    finally:
        drive.media_bytes_per_s = None


def test_a_download_that_keeps_killing_its_worker_fails(base_env, settings, drive, tmp_path):
    env, log_path = _own_worker(base_env, tmp_path)
    from api import create_app

    client = create_app({k.lower(): v for k, v in env.items()}).test_client()
    file_id = drive.add_file("maldita.mp4", size=30 * MIB, seed=13)
    drive.media_bytes_per_s = 2 * MIB
    try:
        with running_worker(env, log_path, "-Q", "downloads") as process:
            created = client.post(
                "/api/downloads", json={"url": f"https://drive.google.com/file/d/{file_id}"}
            )
            download_id = created.get_json()["download"]["id"]

            def now():
                return client.get(f"/api/downloads/{download_id}").get_json()

            for _ in range(3):  # each delivery's pool process dies mid-transfer
                wait_for(
                    lambda: now()["state"] == "running" and psutil.Process(process.pid).children(),
                    30,
                )
                before = now()["attempts"]
                wait_for_bytes(client, download_id, 0)
                for child in psutil.Process(process.pid).children():
                    child.kill()
                wait_for(
                    lambda before=before: now()["attempts"] > before or now()["state"] == "failed",
                    30,
                    what="the next delivery",
                )
            body = wait_for_download(client, download_id, ("failed",), 60)
            assert "stopped" in body["error"] and body["attempts"] == 4
            assert not partial_dir(settings, download_id).exists()  # a later id's resume must not
    finally:
        drive.media_bytes_per_s = None


def test_bad_download_requests(client, settings, drive):
    for body, status in (
        ({"url": "ftp://example.com/a.mp4"}, 400),
        ({"url": "not a url"}, 400),
        ({"url": "http://127.0.0.1/a.mp4"}, 400),
        ({"url": "x", "item_id": 1}, 422),
        ({}, 422),
        ({"item_id": 999999}, 404),
        ({"url": "https://drive.google.com/file/d/x", "force": "yes please"}, 422),
    ):
        response = client.post("/api/downloads", json=body)
        assert response.status_code == status, (body, response.get_json())
    refused = client.post("/api/downloads", json={"url": "http://127.0.0.1:9/a.mp4"}).get_json()
    assert refused["error"]["details"]["reason"] == "forbidden_url"
    # The refusal names the setting that would allow it, for a person to act on.
    assert refused["error"]["details"]["setting"] == "DOWNLOAD_ALLOW_PRIVATE_HOSTS"
    assert refused["error"]["message"] == (
        "Downloads may not reach 127.0.0.1, a loopback address. Set"
        " DOWNLOAD_ALLOW_PRIVATE_HOSTS=true to allow loopback and private hosts."
    )
    assert client.get("/api/downloads/424242").status_code == 404
    assert client.post("/api/downloads/424242/retry").status_code == 404


def test_low_disk_is_507(base_env, settings, drive):
    from api import create_app

    env = {k.lower(): v for k, v in base_env.items()}
    client = create_app({**env, "disk_free_floor_mb": str(10**9)}).test_client()
    file_id = drive.add_file("grande.mp4")
    response = client.post(
        "/api/downloads", json={"url": f"https://drive.google.com/file/d/{file_id}"}
    )
    assert response.status_code == 507
    error = response.get_json()["error"]
    assert error["code"] == "insufficient_storage"
    assert error["details"]["setting"] == "DISK_FREE_FLOOR_MB"
    assert "free some space" in error["message"]


def test_catalog_items_show_their_newest_download(base_env, settings, drive):
    from api import create_app
    from core.catalog.indexing import rebuild_drive

    # A Redis database no worker consumes, so the download stays queued.
    env = {**base_env, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])}
    app_client = create_app({k.lower(): v for k, v in env.items()}).test_client()
    file_id = drive.add_file("com download.mp4", size=1000, seed=3)
    rebuild_drive(services_of(settings), drive_client(settings))
    item = app_client.get("/api/catalog/items?source=drive").get_json()["items"][0]
    assert item["download"] is None
    created = app_client.post("/api/downloads", json={"item_id": item["id"]}).get_json()
    shown = app_client.get(f"/api/catalog/items/{item['id']}").get_json()["download"]
    assert shown["id"] == created["download"]["id"] and shown["state"] == "queued"
    assert created["download"]["url"].endswith(f"/file/d/{file_id}/view")
