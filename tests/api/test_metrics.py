"""Web /metrics in one process: requests by URL rule, bounded labels, gauges read when scraped."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from api.extensions import make_celery_client
from core.base.db import session_scope
from core.base.models import CatalogItem, Download, TaskRecord
from core.base.settings import Settings
from core.ops.gauges import HEARTBEAT_KEY
from tests.api.conftest import MakeApp
from tests.api.metrics_text import names, series, value
from tests.helpers import ROOT, process_env

GAUGES = {
    "aula_web_info",
    "aula_database_up",
    "aula_broker_up",
    "aula_downloads",
    "aula_catalog_items",
    "aula_queue_depth",
    "aula_disk_free_bytes",
    "aula_disk_free_floor_bytes",
}


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def health_count(text: str) -> float:
    labels = {"method": "GET", "url_rule": "/api/health", "status": "200"}
    return value(text, "flask_http_request_duration_seconds_count", **labels) or 0.0


def test_every_request_is_counted_once_by_url_rule(quiet_client: FlaskClient) -> None:
    before = scrape(quiet_client)
    for _ in range(7):
        assert quiet_client.get("/api/health").status_code == 200

    after = scrape(quiet_client)

    assert health_count(after) - health_count(before) == 7
    total = value(after, "flask_http_request_total", method="GET", status="200") or 0.0
    assert total - (value(before, "flask_http_request_total", method="GET", status="200") or 0) == 8


def _distinct_requests(client: FlaskClient, round_: int) -> None:
    for index in range(25):
        client.get(f"/api/catalog/items/{round_ * 1000 + index}")
        client.get(f"/api/downloads/{round_ * 1000 + index}")
        client.get(f"/no/such/{uuid.uuid4().hex}")
        client.get(f"/api/tasks/{uuid.uuid4()}")
        client.open("/api/health", method=f"X{round_}{index}")


def test_label_sets_stay_bounded_whatever_ids_and_paths_arrive(quiet_client: FlaskClient) -> None:
    scrape(quiet_client)  # so that the scrapes' own series exist in both
    _distinct_requests(quiet_client, 1)
    first = scrape(quiet_client)
    _distinct_requests(quiet_client, 2)
    second = scrape(quiet_client)

    for name in ("flask_http_request_duration_seconds_count", "flask_http_request_total"):
        assert series(first, name) == series(second, name)
    rules = {
        dict(labels)["url_rule"]
        for labels in series(second, "flask_http_request_duration_seconds_count")
    }
    assert {"/api/catalog/items/<int:item_id>", "/api/downloads/<int:download_id>"} <= rules
    assert "<unmatched>" in rules
    assert not any("/no/such/" in rule for rule in rules)
    methods = {dict(labels)["method"] for labels in series(second, "flask_http_request_total")}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "other" in methods
    unmatched = value(
        second, "flask_http_request_duration_seconds_count",
        method="GET", url_rule="<unmatched>", status="404",
    )  # fmt: skip
    assert unmatched == 50


def _count(text: str, method: str, rule: str, status: str) -> float:
    labels = {"method": method, "url_rule": rule, "status": status}
    return value(text, "flask_http_request_duration_seconds_count", **labels) or 0.0


def test_answers_no_view_gave_are_counted_once_too(make_app: MakeApp) -> None:
    # The exporter times views; a refused mutation, Flask's own OPTIONS answer, a 405 and a 404
    # never reach one, and are counted by hand, once, in the same series.
    client = make_app(admin_token="metrics-admin-token-0123456789ab").test_client()
    cases = [
        (("POST", "/api/maintenance/cleanup"), ("POST", "/api/maintenance/cleanup", "401")),
        (("OPTIONS", "/api/health"), ("OPTIONS", "/api/health", "200")),
        (("GET", "/api/maintenance/cleanup"), ("GET", "<unmatched>", "405")),  # POST only
        (("GET", "/no/such/page"), ("GET", "<unmatched>", "404")),
        (("GET", "/api/health"), ("GET", "/api/health", "200")),  # a view: the exporter's
    ]
    before = scrape(client)
    for (method, path), _labels in cases:
        for _ in range(3):
            client.open(path, method=method)

    after = scrape(client)

    for _request, labels in cases:
        assert _count(after, *labels) - _count(before, *labels) == 3, labels
    total = value(after, "flask_http_request_total", method="POST", status="401")
    assert total == 3


def test_a_streamed_response_is_counted_once(
    base_env: dict[str, str], settings: Settings, quiet_client: FlaskClient
) -> None:
    root = Path(base_env["MEDIA_ROOTS"])
    (root / "metrics-clip.mp4").write_bytes(b"\0" * 300_000)
    with session_scope(settings.database_url) as session:
        item = CatalogItem(
            source="local", source_id="metrics-clip.mp4", title="clip", mime_type="video/mp4"
        )
        session.add(item)
    url = f"/api/catalog/items/{item.id}/stream"
    rule = "/api/catalog/items/<int:item_id>/stream"

    whole = quiet_client.get(url)
    part = quiet_client.get(url, headers={"Range": "bytes=100-199"})

    assert (whole.status_code, len(whole.data)) == (200, 300_000)
    assert (part.status_code, len(part.data)) == (206, 100)
    text = scrape(quiet_client)
    for status in ("200", "206"):
        count = value(
            text, "flask_http_request_duration_seconds_count",
            method="GET", url_rule=rule, status=status,
        )  # fmt: skip
        assert count == 1


def _add_rows(db_url: str, now: datetime) -> None:
    states = {"queued": 3, "running": 1, "succeeded": 2, "failed": 4}
    with session_scope(db_url) as session:
        for state, count in states.items():
            for index in range(count):
                session.add(
                    Download(url=f"https://x.test/{state}/{index}", kind="ytdlp", state=state)
                )
        for source, count in {"local": 2, "drive": 5}.items():
            for index in range(count):
                session.add(CatalogItem(source=source, source_id=f"{index}", title=f"t{index}"))
        finished = {
            "catalog.sync": [now - timedelta(seconds=900), now - timedelta(seconds=120)],
            "maintenance.cleanup": [now - timedelta(seconds=4000)],
        }
        for name, moments in finished.items():
            for moment in moments:
                session.add(
                    TaskRecord(id=str(uuid.uuid4()), name=name, state="SUCCESS", finished_at=moment)
                )
        # A later failure does not count as a success; a rebuild that never succeeded is absent.
        session.add(
            TaskRecord(id=str(uuid.uuid4()), name="catalog.sync", state="FAILURE", finished_at=now)
        )
        session.add(TaskRecord(id=str(uuid.uuid4()), name="catalog.rebuild", state="STARTED"))


def _enqueue(app: Flask) -> None:
    celery = make_celery_client(app.extensions["aula.settings"])
    try:
        for _ in range(2):
            celery.send_task("catalog.sync", queue="default")
        for priority in (0, 5, 9):  # kombu keeps a Redis list per priority step
            celery.send_task("downloads.fetch", queue="downloads", priority=priority)
    finally:
        celery.close()


def test_gauges_read_the_database_redis_and_disk_when_scraped(
    settings: Settings, quiet_app: Flask, quiet_redis: redis.Redis
) -> None:
    now = datetime.now(UTC)
    _add_rows(settings.database_url, now)
    _enqueue(quiet_app)
    beat = {"ts": time.time() - 42, "interval_s": 30.0, "pid": 7, "host": "beat-host"}
    quiet_redis.set(HEARTBEAT_KEY, json.dumps(beat))

    text = scrape(quiet_app.test_client())

    assert GAUGES | {"aula_beat_heartbeat_age_seconds"} <= names(text)
    downloads = {"queued": 3, "running": 1, "succeeded": 2, "failed": 4, "canceled": 0}
    for state, count in downloads.items():
        assert value(text, "aula_downloads", state=state) == count
    for source, count in {"local": 2, "drive": 5, "classroom": 0}.items():
        assert value(text, "aula_catalog_items", source=source) == count
    assert value(text, "aula_queue_depth", queue="default") == 2
    assert value(text, "aula_queue_depth", queue="downloads") == 3
    sync_age = value(text, "aula_last_success_age_seconds", task="catalog.sync")
    cleanup_age = value(text, "aula_last_success_age_seconds", task="maintenance.cleanup")
    assert sync_age is not None and 120 <= sync_age < 900
    assert cleanup_age is not None and 4000 <= cleanup_age < 4900
    assert value(text, "aula_last_success_age_seconds", task="catalog.rebuild") is None
    age = value(text, "aula_beat_heartbeat_age_seconds")
    assert age is not None and 42 <= age < 42 + 600
    assert value(text, "aula_beat_heartbeat_interval_seconds") == 30
    assert value(text, "aula_disk_free_floor_bytes") == settings.disk_free_floor_mb * 1024 * 1024
    assert (value(text, "aula_disk_free_bytes") or 0) > 0
    assert value(text, "aula_database_up") == 1
    assert value(text, "aula_broker_up") == 1
    assert "beat-host" not in text  # the heartbeat's host is no label


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[]", b'{"interval_s": 30}', b'{"ts": "soon"}', b'{"ts": NaN}', b"\xff\xfe"],
)
def test_an_unreadable_heartbeat_is_left_out(
    quiet_app: Flask, quiet_redis: redis.Redis, raw: bytes
) -> None:
    quiet_redis.set(HEARTBEAT_KEY, raw)

    text = scrape(quiet_app.test_client())

    assert value(text, "aula_broker_up") == 1
    assert "aula_beat_heartbeat_age_seconds" not in names(text)
    assert "aula_beat_heartbeat_interval_seconds" not in names(text)


def test_a_heartbeat_without_a_sane_interval_gives_only_its_age(
    quiet_app: Flask, quiet_redis: redis.Redis
) -> None:
    quiet_redis.set(HEARTBEAT_KEY, json.dumps({"ts": time.time(), "interval_s": -1}))

    text = scrape(quiet_app.test_client())

    assert value(text, "aula_beat_heartbeat_age_seconds") is not None
    assert "aula_beat_heartbeat_interval_seconds" not in names(text)


def test_no_heartbeat_no_age(quiet_app: Flask, quiet_redis: redis.Redis) -> None:
    quiet_redis.delete(HEARTBEAT_KEY)

    text = scrape(quiet_app.test_client())

    assert value(text, "aula_broker_up") == 1
    assert "aula_beat_heartbeat_age_seconds" not in names(text)


def test_a_down_redis_still_gives_a_scrape(down_app: Flask) -> None:
    client = down_app.test_client()
    client.get("/api/health")

    text = scrape(client)

    assert value(text, "aula_broker_up") == 0
    assert "aula_queue_depth" not in names(text)
    assert value(text, "aula_database_up") == 1
    assert value(text, "aula_downloads", state="queued") == 0
    assert health_count(text) == 1


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a hung Redis."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    stop.set()
    thread.join(5)
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_hung_redis_does_not_hang_the_scrape(make_app: MakeApp, silent_redis: str) -> None:
    client = make_app(redis_url=silent_redis).test_client()
    answers: list[str] = []
    thread = threading.Thread(target=lambda: answers.append(scrape(client)), daemon=True)

    thread.start()
    thread.join(60)

    assert answers, "the scrape did not return"
    assert value(answers[0], "aula_broker_up") == 0
    assert value(answers[0], "aula_database_up") == 1


def test_a_down_database_still_gives_a_scrape(make_app: MakeApp, tmp_path: Path) -> None:
    missing = tmp_path / "not-a-dir" / "aula.db"
    missing.parent.write_text("a file where the database folder should be")
    client = make_app(database_url=f"sqlite:///{missing}").test_client()

    text = scrape(client)

    assert value(text, "aula_database_up") == 0
    assert "aula_downloads" not in names(text)
    assert value(text, "aula_broker_up") == 1


SHARED_FOLDER_SCRIPT = """
import os, sys
import prometheus_client  # imported before the folder is known, as a CLI plugin may do
os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
from api import create_app
client = create_app().test_client()
for _ in range(3):
    client.get("/api/health")
sys.stdout.write(client.get("/metrics").get_data(as_text=True))
"""


def test_a_folder_set_after_prometheus_client_was_imported_is_still_used(
    base_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "shared"
    done = subprocess.run(
        [sys.executable, "-c", SHARED_FOLDER_SCRIPT, str(folder)],
        cwd=ROOT, env=process_env(base_env), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-2000:]
    assert list(folder.glob("histogram_*.db"))  # samples went to the shared folder
    assert health_count(done.stdout) == 3
    assert value(done.stdout, "aula_database_up") == 1
