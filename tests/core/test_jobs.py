"""Task records: created before the message is sent, kept current, canceled, never eternal."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from celery import Celery
from celery.signals import before_task_publish
from sqlalchemy import event, func, select

from api.extensions import make_celery_client
from core.base.db import Database, database
from core.base.errors import BrokerUnavailable, Conflict, NotFound, TransientError
from core.base.logging import request_id_var
from core.base.models import TaskRecord, utcnow
from core.base.settings import Settings
from core.jobs import records as jobs
from core.jobs import task_lifecycle
from tests.core.brokers import closed_redis_url, env_settings


def count_records(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(TaskRecord)) or 0)


def queued_messages(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in client.lrange(queue, 0, -1)]


def new_record(db: Database, name: str = "catalog.sync", state: str = "PENDING") -> str:
    task_id = str(uuid.uuid4())
    jobs.ensure_record(db, task_id, name, {}, None)
    if state != "PENDING":
        with db.session() as session:
            session.get(TaskRecord, task_id).state = state  # type: ignore[union-attr]
    return task_id


def test_queue_routing() -> None:
    assert jobs.queue_for("downloads.fetch") == "downloads"
    assert jobs.queue_for("catalog.rebuild") == "default"
    assert jobs.queue_for("maintenance.cleanup") == "default"


def test_enqueue_records_pending_before_the_message_is_sent(
    quiet_settings: Settings, quiet_celery: Celery, quiet_redis: redis.Redis
) -> None:
    db = database(quiet_settings.database_url)
    seen_at_publish: list[str | None] = []

    def spy(headers: dict[str, Any] | None = None, **_: Any) -> None:
        assert headers is not None
        with db.session() as session:
            record = session.get(TaskRecord, headers["id"])
            seen_at_publish.append(record.state if record else None)

    before_task_publish.connect(spy, weak=False)
    try:
        record = jobs.enqueue(db, quiet_celery, "maintenance.cleanup", {"dry_run": True})
    finally:
        before_task_publish.disconnect(spy)

    assert seen_at_publish == ["PENDING"]
    stored = jobs.get_record(db, record.id)
    assert (stored.name, stored.state, stored.queue) == (
        "maintenance.cleanup",
        "PENDING",
        "default",
    )
    assert stored.args == {"dry_run": True}
    assert stored.created_at.utcoffset() == timedelta(0)
    assert quiet_redis.llen("default") == 1
    (message,) = queued_messages(quiet_redis, "default")
    assert message["headers"]["id"] == record.id
    assert message["headers"]["task"] == "maintenance.cleanup"
    assert message["headers"]["request_id"] == stored.request_id


def test_downloads_go_to_their_own_queue(
    quiet_settings: Settings, quiet_celery: Celery, quiet_redis: redis.Redis
) -> None:
    record = jobs.enqueue(
        database(quiet_settings.database_url), quiet_celery, "downloads.fetch", {"id": 7}
    )

    assert record.queue == "downloads"
    assert quiet_redis.llen("downloads") == 1
    assert quiet_redis.llen("default") == 0


def test_enqueue_carries_the_current_request_id(
    quiet_settings: Settings, quiet_celery: Celery, quiet_redis: redis.Redis
) -> None:
    token = request_id_var.set("req-from-the-web-1")
    try:
        record = jobs.enqueue(database(quiet_settings.database_url), quiet_celery, "catalog.sync")
    finally:
        request_id_var.reset(token)

    assert record.request_id == "req-from-the-web-1"
    assert queued_messages(quiet_redis, "default")[0]["headers"]["request_id"] == (
        "req-from-the-web-1"
    )


def test_enqueue_against_an_unreachable_broker_leaves_no_record(
    base_env: dict[str, str], settings: Settings
) -> None:
    unreachable = env_settings(base_env, redis_url=closed_redis_url())
    client = make_celery_client(unreachable)
    try:
        with pytest.raises(BrokerUnavailable) as caught:
            jobs.enqueue(database(settings.database_url), client, "maintenance.cleanup")
    finally:
        client.close()

    assert isinstance(caught.value, TransientError)
    assert caught.value.status == 503
    assert count_records(database(settings.database_url)) == 0


def test_get_record_of_an_unknown_id_is_not_found(settings: Settings) -> None:
    with pytest.raises(NotFound):
        jobs.get_record(database(settings.database_url), str(uuid.uuid4()))


def test_mark_started_retry_and_finished(settings: Settings) -> None:
    db = database(settings.database_url)
    task_id = new_record(db)

    task_lifecycle.mark_started(db, task_id)
    started = jobs.get_record(db, task_id)
    assert started.state == "STARTED"
    assert started.started_at is not None and started.finished_at is None

    task_lifecycle.mark_retry(db, task_id, TimeoutError("drive timed out"))
    retrying = jobs.get_record(db, task_id)
    assert retrying.state == "RETRY"
    assert retrying.retries == 1
    assert retrying.error == {"type": "TimeoutError", "message": "drive timed out"}

    task_lifecycle.mark_started(db, task_id)  # the retry runs
    again = jobs.get_record(db, task_id)
    assert again.state == "STARTED"
    assert again.error is None
    assert again.started_at == started.started_at, "the first start is kept"

    task_lifecycle.mark_finished(db, task_id, "SUCCESS", result=3)
    done = jobs.get_record(db, task_id)
    assert done.state == "SUCCESS"
    assert done.result == {"value": 3}
    assert done.error is None
    assert done.finished_at is not None and done.finished_at >= done.started_at


def test_mark_finished_with_failure_keeps_type_and_message_only(settings: Settings) -> None:
    db = database(settings.database_url)
    task_id = new_record(db)

    try:
        raise ValueError("bad input " + "x" * 3000)
    except ValueError as error:
        task_lifecycle.mark_finished(db, task_id, "FAILURE", error=error)

    record = jobs.get_record(db, task_id)
    assert record.state == "FAILURE"
    assert record.error is not None
    assert record.error["type"] == "ValueError"
    assert record.error["message"].startswith("bad input x")
    assert len(record.error["message"]) == 2000
    assert "Traceback" not in json.dumps(record.error)


@contextlib.contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    # The first word of every statement the process's engine for `db_url` sends.
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2].split()[0])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_a_start_and_a_finish_are_one_write_each(settings: Settings) -> None:
    db = database(settings.database_url)
    task_id = new_record(db)

    with _statements(db) as statements:
        assert task_lifecycle.mark_started(db, task_id) is True
        assert statements == ["UPDATE"]
        task_lifecycle.mark_finished(db, task_id, "SUCCESS", result={"n": 1})
        assert statements == ["UPDATE", "UPDATE"]
    record = jobs.get_record(db, task_id)
    assert (record.state, record.result, record.active_key) == ("SUCCESS", {"n": 1}, None)
    assert record.updated_at >= record.started_at  # type: ignore[operator]


def test_a_canceled_record_is_not_started(settings: Settings) -> None:
    db = database(settings.database_url)
    task_id = new_record(db, state="REVOKED")

    assert task_lifecycle.mark_started(db, task_id) is False
    record = jobs.get_record(db, task_id)
    assert (record.state, record.started_at) == ("REVOKED", None)
    assert task_lifecycle.mark_started(db, str(uuid.uuid4())) is True, (
        "no record: nothing says stop"
    )


def test_marks_on_an_unknown_id_do_nothing(settings: Settings) -> None:
    ghost = str(uuid.uuid4())

    task_lifecycle.mark_started(database(settings.database_url), ghost)
    task_lifecycle.mark_retry(database(settings.database_url), ghost, None)
    task_lifecycle.mark_finished(database(settings.database_url), ghost, "SUCCESS", result={})

    assert count_records(database(settings.database_url)) == 0


def test_progress_is_throttled_and_the_end_always_written(settings: Settings) -> None:
    db = database(settings.database_url)
    task_id = new_record(db)
    task_lifecycle.mark_started(db, task_id)
    report = task_lifecycle.ProgressReporter(db, task_id, interval=0.3)

    assert report(1, 10, "one") is True
    assert report(2, 10, "two") is False
    assert report(3, 10, "three") is False
    assert jobs.get_record(db, task_id).progress == {
        "current": 1,
        "total": 10,
        "percent": 10.0,
        "message": "one",
    }
    time.sleep(0.35)
    assert report(4, 10, "four") is True
    assert jobs.get_record(db, task_id).progress["current"] == 4  # type: ignore[index]
    assert report(10, 10, "done") is True, "the final report is never throttled"

    record = jobs.get_record(db, task_id)
    assert record.state == "PROGRESS"
    assert record.progress == {"current": 10, "total": 10, "percent": 100.0, "message": "done"}


def test_progress_without_a_total_has_no_percent(settings: Settings) -> None:
    db = database(settings.database_url)
    task_id = new_record(db)

    assert task_lifecycle.ProgressReporter(db, task_id, interval=0)(5, None, "counting") is True

    assert jobs.get_record(db, task_id).progress == {
        "current": 5,
        "total": None,
        "percent": None,
        "message": "counting",
    }


def test_progress_never_reopens_a_finished_task(settings: Settings) -> None:
    db = database(settings.database_url)
    task_id = new_record(db)
    task_lifecycle.mark_finished(db, task_id, "REVOKED")

    task_lifecycle.ProgressReporter(db, task_id, interval=0)(9, 10, "late")

    record = jobs.get_record(db, task_id)
    assert record.state == "REVOKED"
    assert record.progress is None


def test_cancel_a_pending_task(quiet_settings: Settings, quiet_celery: Celery) -> None:
    db = database(quiet_settings.database_url)
    record = jobs.enqueue(db, quiet_celery, "maintenance.cleanup")

    canceled = jobs.cancel(db, quiet_celery, record.id)

    assert canceled.state == "REVOKED"
    stored = jobs.get_record(db, record.id)
    assert stored.state == "REVOKED"
    assert stored.finished_at is not None
    assert stored.error == {"type": "Revoked", "message": "Canceled by request."}
    assert jobs.is_revoked(db, record.id) is True


def test_cancel_a_running_task(quiet_settings: Settings, quiet_celery: Celery) -> None:
    db = database(quiet_settings.database_url)
    task_id = new_record(db)
    task_lifecycle.mark_started(db, task_id)

    assert jobs.cancel(db, quiet_celery, task_id).state == "REVOKED"
    assert jobs.is_revoked(db, task_id) is True


@pytest.mark.parametrize("state", sorted(jobs.FINISHED))
def test_cancel_a_finished_task_conflicts(
    quiet_settings: Settings, quiet_celery: Celery, state: str
) -> None:
    db = database(quiet_settings.database_url)
    task_id = new_record(db, state=state)

    with pytest.raises(Conflict):
        jobs.cancel(db, quiet_celery, task_id)

    assert jobs.get_record(db, task_id).state == state


def test_cancel_an_unknown_task_is_not_found(
    quiet_settings: Settings, quiet_celery: Celery
) -> None:
    with pytest.raises(NotFound):
        jobs.cancel(database(quiet_settings.database_url), quiet_celery, str(uuid.uuid4()))


def test_is_revoked_of_unknown_and_pending(settings: Settings) -> None:
    task_id = new_record(database(settings.database_url))

    assert jobs.is_revoked(database(settings.database_url), task_id) is False
    assert jobs.is_revoked(database(settings.database_url), str(uuid.uuid4())) is False


def test_ensure_record_is_idempotent(settings: Settings) -> None:
    db = database(settings.database_url)
    task_id = str(uuid.uuid4())

    jobs.ensure_record(db, task_id, "maintenance.cleanup", {"a": 1}, "req-1")
    task_lifecycle.mark_started(db, task_id)
    jobs.ensure_record(db, task_id, "maintenance.cleanup", {"a": 2}, "req-2")

    assert count_records(db) == 1
    record = jobs.get_record(db, task_id)
    assert (record.state, record.args, record.request_id) == ("STARTED", {"a": 1}, "req-1")


def test_error_dict_never_carries_a_traceback() -> None:
    from core.base.errors import UpstreamTimeout

    assert task_lifecycle.error_dict(UpstreamTimeout("Drive took too long.")) == {
        "type": "UpstreamTimeout",
        "message": "Drive took too long.",
    }
    assert task_lifecycle.error_dict(KeyError()) == {"type": "KeyError", "message": "KeyError"}


def test_records_default_to_utc_timestamps_set_per_row(settings: Settings) -> None:
    db = database(settings.database_url)
    first = new_record(db)
    time.sleep(0.01)
    second = new_record(db)

    a, b = jobs.get_record(db, first), jobs.get_record(db, second)
    assert a.created_at < b.created_at <= utcnow()
    assert a.created_at.utcoffset() == timedelta(0)
