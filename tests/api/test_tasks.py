"""The task resource a UI polls: created on enqueue, cheap to poll, listed, canceled, durable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient

from api.extensions import SERVICES
from core.base.db import Database
from core.base.models import TaskRecord
from core.jobs import records as jobs
from core.jobs import task_lifecycle
from tests.api.envelope import assert_envelope

TASK_KEYS = {
    "id",
    "name",
    "state",
    "progress",
    "result",
    "error",
    "created_at",
    "started_at",
    "finished_at",
}


def db_of(app: Flask) -> Database:
    db: Database = app.extensions[SERVICES].db
    return db


def enqueue(client: FlaskClient) -> str:
    response = client.post("/api/maintenance/cleanup")
    assert response.status_code == 202, response.get_data(as_text=True)
    return str(response.get_json()["task_id"])


def walk(client: FlaskClient, query: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page_query = {**query, "cursor": cursor} if cursor else query
        response = client.get("/api/tasks", query_string=page_query)
        assert response.status_code == 200
        body = response.get_json()
        assert set(body) == {"items", "next_cursor"}
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor walk does not end")


def test_cleanup_is_enqueued_with_a_pending_record(
    quiet_client: FlaskClient, quiet_redis: redis.Redis
) -> None:
    response = quiet_client.post("/api/maintenance/cleanup")

    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"task_id", "status_url"}
    assert body["status_url"] == f"/api/tasks/{body['task_id']}"
    assert quiet_redis.llen("default") == 1

    task = quiet_client.get(body["status_url"])
    assert task.status_code == 200
    record = task.get_json()
    assert set(record) == TASK_KEYS
    assert record["id"] == body["task_id"]
    assert record["name"] == "maintenance.cleanup"
    assert record["state"] == "PENDING"
    for key in ("progress", "result", "error", "started_at", "finished_at"):
        assert record[key] is None
    created = datetime.fromisoformat(record["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)


def test_a_finished_task_shows_its_progress_result_and_times(quiet_app: Flask) -> None:
    client = quiet_app.test_client()
    db = db_of(quiet_app)
    task_id = enqueue(client)
    task_lifecycle.mark_started(db, task_id)
    task_lifecycle.ProgressReporter(db, task_id, interval=0)(1, 4, "sweeping")
    running = client.get(f"/api/tasks/{task_id}").get_json()
    task_lifecycle.mark_finished(db, task_id, "SUCCESS", result={"temp_files_removed": 2})
    done = client.get(f"/api/tasks/{task_id}").get_json()

    assert running["state"] == "PROGRESS"
    assert running["progress"] == {"current": 1, "total": 4, "percent": 25.0, "message": "sweeping"}
    assert done["state"] == "SUCCESS"
    assert done["result"] == {"temp_files_removed": 2}
    assert datetime.fromisoformat(done["started_at"]) <= datetime.fromisoformat(done["finished_at"])


def test_a_failed_task_shows_type_and_message(quiet_app: Flask) -> None:
    client = quiet_app.test_client()
    task_id = enqueue(client)
    task_lifecycle.mark_finished(db_of(quiet_app), task_id, "FAILURE", error=OSError("disk full"))

    assert client.get(f"/api/tasks/{task_id}").get_json()["error"] == {
        "type": "OSError",
        "message": "disk full",
    }


def test_polling_is_cheap_with_etags(quiet_client: FlaskClient) -> None:
    task_id = enqueue(quiet_client)
    first = quiet_client.get(f"/api/tasks/{task_id}")
    etag = first.headers["ETag"]

    same = quiet_client.get(f"/api/tasks/{task_id}", headers={"If-None-Match": etag})
    assert same.status_code == 304
    assert same.data == b""
    assert same.headers["X-Request-ID"]

    assert quiet_client.delete(f"/api/tasks/{task_id}").status_code == 200
    changed = quiet_client.get(f"/api/tasks/{task_id}", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.get_json()["state"] == "REVOKED"


def test_every_shown_change_changes_the_etag(quiet_app: Flask) -> None:
    client = quiet_app.test_client()
    task_id = enqueue(client)
    seen = {client.get(f"/api/tasks/{task_id}").headers["ETag"]}
    reporter = task_lifecycle.ProgressReporter(db_of(quiet_app), task_id, interval=0)
    for step in ("started", "progress", "same numbers, new message", "finished"):
        if step == "started":
            task_lifecycle.mark_started(db_of(quiet_app), task_id)
        elif step == "finished":
            task_lifecycle.mark_finished(db_of(quiet_app), task_id, "SUCCESS", result={"n": 1})
        else:
            reporter(1, 3, step)
        answer = client.get(f"/api/tasks/{task_id}", headers={"If-None-Match": ", ".join(seen)})
        assert answer.status_code == 200, step
        assert answer.headers["ETag"] not in seen, step
        seen.add(answer.headers["ETag"])
        # The 304 names the tag it stands for, weak or strong in the request alike.
        for tag in (answer.headers["ETag"], "W/" + answer.headers["ETag"]):
            again = client.get(f"/api/tasks/{task_id}", headers={"If-None-Match": tag})
            assert (again.status_code, again.headers["ETag"]) == (304, answer.headers["ETag"])


def test_the_poll_body_is_what_the_task_schema_dumps(quiet_app: Flask) -> None:
    # The poll builds its body without marshmallow: it must stay what TaskSchema says.
    from api.schemas import TaskSchema

    client = quiet_app.test_client()
    task_id = enqueue(client)
    task_lifecycle.ProgressReporter(db_of(quiet_app), task_id, interval=0)(2, 7, "h\u00e9")
    with db_of(quiet_app).session() as session:
        record = session.get(TaskRecord, task_id)
        assert record is not None
        record.progress = {**(record.progress or {}), "extra": "not shown"}
    task_lifecycle.mark_finished(db_of(quiet_app), task_id, "FAILURE", error=OSError("disk full"))
    with quiet_app.app_context():
        dumped = TaskSchema().dump(jobs.get_record(db_of(quiet_app), task_id))
        expected = quiet_app.json.response(dumped).get_data()
    assert client.get(f"/api/tasks/{task_id}").get_data() == expected


def test_unknown_tasks_are_not_found_not_pending(quiet_client: FlaskClient) -> None:
    assert_envelope(quiet_client.get(f"/api/tasks/{uuid.uuid4()}"), 404, "not_found")


def add(db: Database, name: str, state: str, created_at: datetime) -> str:
    task_id = str(uuid.uuid4())
    with db.session() as session:
        session.add(TaskRecord(id=task_id, name=name, state=state, created_at=created_at))
    return task_id


def test_list_filters_and_pages_newest_first(quiet_app: Flask) -> None:
    client = quiet_app.test_client()
    db = db_of(quiet_app)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        ("catalog.sync", "SUCCESS"),
        ("catalog.sync", "FAILURE"),
        ("catalog.rebuild", "SUCCESS"),
        ("downloads.fetch", "STARTED"),
        ("catalog.sync", "SUCCESS"),
        ("classroom.sync", "RETRY"),
    ]
    for i, (name, state) in enumerate(rows * 2):
        add(db, name, state, base + timedelta(minutes=i // 3))  # ties in threes
    # Three tasks of different single-instance keys (one of a key is shared while it waits).
    enqueued = [enqueue(client)] + [
        client.post("/api/catalog/rebuild", json={"source": source}).get_json()["task_id"]
        for source in ("local", "all")
    ]

    everything = walk(client, {"limit": 2})
    assert len(everything) == 15
    assert len({item["id"] for item in everything}) == 15
    keys = [(datetime.fromisoformat(i["created_at"]), i["id"]) for i in everything]
    assert keys == sorted(keys, reverse=True), "newest first"
    assert {i["id"] for i in everything[:3]} == set(enqueued), "the ones enqueued now come first"

    successes = walk(client, {"state": "SUCCESS", "limit": 1})
    assert len(successes) == 6
    assert {i["state"] for i in successes} == {"SUCCESS"}

    syncs = walk(client, {"name": "catalog.sync", "limit": 3})
    assert len(syncs) == 6
    assert {i["name"] for i in syncs} == {"catalog.sync"}

    both = walk(client, {"name": "catalog.sync", "state": "SUCCESS"})
    assert len(both) == 4
    pending = walk(client, {"state": "PENDING", "name": "maintenance.cleanup"})
    assert [i["id"] for i in pending] == enqueued[:1]
    assert {i["id"] for i in walk(client, {"state": "PENDING"})} == set(enqueued)


def test_the_default_page_is_fifty(quiet_app: Flask) -> None:
    db = db_of(quiet_app)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(51):
        add(db, "catalog.sync", "SUCCESS", base + timedelta(seconds=i))

    body = quiet_app.test_client().get("/api/tasks").get_json()

    assert len(body["items"]) == 50
    assert body["next_cursor"]


def test_cancel_a_pending_task_then_conflict(quiet_client: FlaskClient) -> None:
    task_id = enqueue(quiet_client)

    canceled = quiet_client.delete(f"/api/tasks/{task_id}")
    assert canceled.status_code == 200
    body = canceled.get_json()
    assert set(body) == TASK_KEYS
    assert body["state"] == "REVOKED"
    assert body["finished_at"] is not None
    assert quiet_client.get(f"/api/tasks/{task_id}").get_json()["state"] == "REVOKED"

    again = quiet_client.delete(f"/api/tasks/{task_id}")
    assert_envelope(again, 409, "conflict")


def test_cancel_an_unknown_task_is_not_found(quiet_client: FlaskClient) -> None:
    assert_envelope(quiet_client.delete(f"/api/tasks/{uuid.uuid4()}"), 404, "not_found")


def test_records_survive_a_broker_flush(
    quiet_client: FlaskClient, redis_client: redis.Redis, quiet_redis: redis.Redis
) -> None:
    task_id = enqueue(quiet_client)
    before = quiet_client.get(f"/api/tasks/{task_id}").get_json()

    redis_client.flushall()

    assert quiet_redis.llen("default") == 0
    after = quiet_client.get(f"/api/tasks/{task_id}")
    assert after.status_code == 200
    assert after.get_json() == before
    assert [i["id"] for i in quiet_client.get("/api/tasks").get_json()["items"]] == [task_id]
    assert quiet_client.delete(f"/api/tasks/{task_id}").get_json()["state"] == "REVOKED"


def test_enqueue_while_the_broker_is_down_is_503_and_leaves_no_record(down_app: Flask) -> None:
    client = down_app.test_client()

    response = client.post("/api/maintenance/cleanup")

    assert_envelope(response, 503, "broker_unavailable")
    assert client.get("/api/tasks").get_json() == {"items": [], "next_cursor": None}


def test_test_task_names_filter_only_where_test_tasks_run(make_app: Any) -> None:
    # A production app (ENABLE_TEST_TASKS unset) refuses `testing.*` like any unknown name.
    production = make_app(enable_test_tasks=False).test_client()
    refused = production.get("/api/tasks", query_string={"name": "testing.sleep"})
    assert refused.status_code == 422
    assert "testing.sleep" not in refused.get_data(as_text=True)
    testing = make_app(enable_test_tasks=True)
    task_id = add(db_of(testing), "testing.sleep", "SUCCESS", datetime.now(UTC))
    found = walk(testing.test_client(), {"name": "testing.sleep"})
    assert [item["id"] for item in found] == [task_id]
    assert walk(testing.test_client(), {"name": "catalog.sync"}) == []
