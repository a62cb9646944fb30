"""Subscriptions and webhooks: a real worker and beat, the fake Google, a loopback receiver."""

from __future__ import annotations

import urllib.request
from collections import Counter

from api import create_app
from api.extensions import make_celery_client
from core.base.db import database
from core.catalog.sources.sync import sync_classroom
from core.jobs import records as jobs
from tests.api.metrics_text import value
from tests.conftest import read_log, settings_from_env
from tests.fakes.google import drive_file
from tests.fakes.webhooks import Receiver
from tests.helpers import (
    free_port,
    own_worker_env,
    wait_for,
    wait_for_download,
)
from tests.services import classroom_client, drive_client
from tests.workers import running_beat, running_worker

SECRET = "webhook-secret-for-tests-0123456789"


def _env(base_env, receiver, tmp_path, **settings):
    return own_worker_env(
        base_env,
        webhook_urls=receiver.url, webhook_secret=SECRET,
        # The receiver listens on loopback, which the address guard refuses unless this is set.
        download_allow_private_hosts="true",
        data_dir=tmp_path / "var", download_dir=tmp_path / "var" / "downloads",
        **settings,
    )  # fmt: skip


def _client(env):
    return create_app({key.lower(): value for key, value in env.items()}).test_client()


def _sync(settings):
    sync_classroom(
        database(settings.database_url),
        classroom_client(settings),
        drive_client(settings),
    )


def _download_of(client, file_id):
    for item in client.get("/api/downloads?limit=200").get_json()["items"]:
        if f"/file/d/{file_id}/" in item["url"]:
            return item
    return None


def test_beats_sync_alone_downloads_a_new_material_and_announces_it_signed(
    base_env, settings, classroom, tmp_path
):
    receiver = Receiver().start()
    # Beat's period is not what this test proves (that a scheduled sync, with no request from
    # anyone, finds, downloads and announces a new material): 2 s instead of 900 s.
    env = _env(base_env, receiver, tmp_path, classroom_sync_interval_s=2)
    config = settings_from_env(env)
    client = _client(env)
    first = classroom.add_file("aula 1.mp4", size=20_000, seed=1)
    course = classroom.add_course("Biologia")
    classroom.add_coursework(course, "Semana 1", [drive_file(first, "Aula 1")])
    _sync(config)
    created = client.post("/api/subscriptions", json={"source": "classroom", "course_id": course})
    assert created.status_code == 201 and created.get_json()["downloads"] == 1
    try:
        with running_worker(env, tmp_path / "worker.log"), running_beat(env, tmp_path / "beat.log"):
            assert (
                wait_for_download(client, _download_of(client, first)["id"])["state"] == "succeeded"
            )
            second = classroom.add_file("aula 2.mp4", size=30_000, seed=2)
            classroom.add_course_material(course, "Semana 2", [drive_file(second, "Aula 2")])
            found = wait_for(
                lambda: _download_of(client, second), 90, what="beat's sync to find it"
            )
            done = wait_for_download(client, found["id"])
            assert done["state"] == "succeeded", done
            assert (
                config.download_dir / done["file"]["path"]
            ).read_bytes() == classroom.content_of(second)

            def announced():
                wanted = ("download.succeeded", found["id"])
                got = receiver.received
                return [g for g in got if (g.json["event"], g.json["data"].get("id")) == wanted]

            [got] = wait_for(announced, 60, what="the webhook of the new download")
            assert got.signed_by(SECRET), "X-Aula-Signature is the HMAC-SHA256 of the raw body"
            assert got.headers["x-aula-delivery"] == got.json["id"]
            assert got.json["data"]["state"] == "succeeded" and got.json["data"]["file"]["sha256"]
            news = wait_for(
                lambda: [e for e in receiver.events() if e["event"] == "subscription.new_items"
                         and e["data"]["downloads"][0]["id"] == found["id"]],
                60, what="subscription.new_items",
            )  # fmt: skip
            assert news[0]["data"]["subscription"]["course_id"] == course
            syncs = jobs.list_records(database(config.database_url), name="classroom.sync").items
            assert syncs and all(record.request_id for record in syncs), "beat sent the syncs"
            body = client.get(f"/api/subscriptions/{created.get_json()['id']}").get_json()
            assert (
                body["downloads"] == 2
                and body["last_checked_at"] > created.get_json()["created_at"]
            )
    finally:
        receiver.stop()


def test_a_receiver_down_then_up_gets_every_event_once_in_order(
    base_env, settings, drive, tmp_path
):
    receiver = Receiver()  # not listening yet: every attempt is refused
    # Shortened so the test waits seconds, not minutes: it proves that every event arrives
    # once, in order, after an outage. That the default backoff outlasts a ten-minute outage is
    # tests/core/test_notifications.py::test_the_default_backoff_outlasts_a_ten_minute_outage.
    port = free_port()
    env = _env(
        base_env, receiver, tmp_path,
        webhook_retry_base_s=0.5, webhook_retry_max_s=2, worker_metrics_port=port,
    )  # fmt: skip
    client = _client(env)
    files = [drive.add_file(f"v{i}.mp4", size=10_000, seed=i) for i in range(3)]
    drive.set_download_error(files[0], "downloadQuotaExceeded")
    try:
        with running_worker(env, tmp_path / "worker.log"):
            ids = [
                client.post(
                    "/api/downloads", json={"url": f"https://drive.google.com/file/d/{f}/view"}
                ).get_json()["download"]["id"]
                for f in files
            ]
            assert wait_for_download(client, ids[0])["state"] == "failed"
            drive.set_download_error(files[0], None)
            assert client.post(f"/api/downloads/{ids[0]}/retry").status_code == 202
            for download_id in ids:
                assert wait_for_download(client, download_id)["state"] == "succeeded"

            def retried():
                rows = client.get("/api/notifications").get_json()["items"]
                heads = [r for r in rows if r["attempts"] >= 2]
                return rows if len(rows) == 4 and len(heads) >= 3 else None

            rows = wait_for(retried, 60, what="deliveries retried while the receiver is down")
            assert all(row["state"] == "pending" for row in rows)
            receiver.start()

            def delivered():
                body = client.get("/api/notifications?state=delivered").get_json()
                return body["items"] if len(body["items"]) == 4 else None

            wait_for(delivered, 90, what="every delivery once the receiver is back")
            events = receiver.events()
            assert len(events) == 4 and Counter(e["id"] for e in events).most_common(1)[0][1] == 1
            assert all(got.signed_by(SECRET) for got in receiver.received)
            first = [e["event"] for e in events if e["data"]["id"] == ids[0]]
            assert first == ["download.failed", "download.succeeded"], "in order per download"
            assert {e["data"]["id"] for e in events} == set(ids)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                scraped = response.read().decode()
            assert value(scraped, "webhook_deliveries_total", state="delivered") == 4
            assert (value(scraped, "webhook_deliveries_total", state="retry") or 0) >= 3
            assert value(scraped, "webhook_deliveries_total", state="failed") == 0
    finally:
        receiver.stop()


def test_two_overlapping_syncs_enqueue_each_video_once(base_env, settings, classroom, tmp_path):
    receiver = Receiver()
    env = _env(base_env, receiver, tmp_path, worker_concurrency=2)
    config = settings_from_env(env)
    client = _client(env)
    course = classroom.add_course("Artes")
    classroom.add_coursework(course, "Vazio", [])
    _sync(config)
    assert (
        client.post(
            "/api/subscriptions", json={"source": "classroom", "course_id": course}
        ).get_json()["downloads"]
        == 0
    )
    files = [classroom.add_file(f"a{i}.mp4", size=2_000, seed=i) for i in range(8)]
    classroom.add_course_material(course, "Aulas", [drive_file(f, f) for f in files])
    # What a sync whose worker died after writing the catalog, before enqueuing, leaves: the
    # new videos catalogued, none enqueued. Both syncs below then find all eight to enqueue.
    _sync(config)
    broker = make_celery_client(config)
    # Both are queued before the worker starts, so its two processes run them side by side.
    db = database(config.database_url)
    syncs = [jobs.enqueue(db, broker, "classroom.sync").id for _ in range(2)]
    with running_worker(env, tmp_path / "worker.log"):
        for task_id in syncs:
            wait_for(
                lambda task_id=task_id: jobs.get_record(db, task_id).state
                in ("SUCCESS", "FAILURE"),
                90, what="the syncs",
            )  # fmt: skip
            assert jobs.get_record(database(config.database_url), task_id).state == "SUCCESS"
        listed = client.get("/api/downloads?limit=200").get_json()["items"]
        assert sorted(d["url"].split("/")[5] for d in listed) == sorted(files)
        subscription = client.get("/api/subscriptions").get_json()["items"][0]
        assert subscription["downloads"] == len(files)
        results = [jobs.get_record(database(config.database_url), t).result or {} for t in syncs]
        made = [r.get("subscriptions", {}).get("new_downloads", 0) for r in results]
        assert sum(made) == len(files), results


def test_a_sync_that_fails_for_good_is_announced(base_env, settings, drive, tmp_path):
    receiver = Receiver().start()
    env = _env(base_env, receiver, tmp_path)
    config = settings_from_env(env)
    drive.revoke_refresh_token()  # Google refuses the grant: a final failure, no retry
    record = jobs.enqueue(
        database(config.database_url),
        make_celery_client(config),
        "catalog.sync",
        {"source": "drive"},
    )
    try:
        with running_worker(env, tmp_path / "worker.log"):
            [event] = wait_for(
                lambda: [e for e in receiver.events() if e["event"] == "catalog.sync.failed"],
                90, what="catalog.sync.failed",
            )  # fmt: skip
        task = event["data"]
        assert (task["id"], task["name"], task["state"]) == (record.id, "catalog.sync", "FAILURE")
        assert task["error"]["message"] and task["finished_at"]
        assert receiver.received[0].signed_by(SECRET)
        assert jobs.get_record(database(config.database_url), record.id).state == "FAILURE"
        log = read_log(tmp_path / "worker.log")
        assert SECRET not in log and receiver.url not in log, "secrets stay out of the logs"
    finally:
        receiver.stop()
        drive.restore_refresh_token()
