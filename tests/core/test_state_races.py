"""Issue 23's races, each forced deterministically: the competing writer commits just before the
victim's write (tests/core/races.py), on SQLite and PostgreSQL alike. Every state change is one
guarded UPDATE, so the victim's write finds the row moved and changes nothing."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

from core import downloads
from core.base.db import Database, database
from core.base.errors import Conflict
from core.base.models import Delivery, Download, TaskRecord
from core.base.services import Services
from core.base.settings import Settings
from core.downloads import reconcile, run
from core.downloads.engine import Fetched
from core.jobs import records as jobs
from core.jobs import task_lifecycle
from core.notify import notifications
from tests.core.races import broadcasts, just_before


@pytest.fixture
def services(quiet_settings: Settings, quiet_celery: Celery) -> Iterator[Services]:
    built = Services.build(quiet_settings, broker=quiet_celery)
    yield built
    built.redis_pool.disconnect()


def _download(db: Database, at: str, **fields: Any) -> int:
    values: dict[str, Any] = {"url": f"https://example.org/{uuid.uuid4().hex}", "kind": "ytdlp"}
    values |= {"dedupe_key": uuid.uuid4().hex if at in ("queued", "running") else None}
    with db.session() as session:
        row = Download(state=at, **(values | fields))
        session.add(row)
        session.flush()
        return int(row.id)


def _row(db: Database, download_id: int) -> Download:
    with db.session() as session:
        return session.get_one(Download, download_id)


def _record(db: Database, state: str = "PENDING", key: str | None = None) -> str:
    task_id = str(uuid.uuid4())
    with db.session() as session:
        session.add(TaskRecord(id=task_id, name="catalog.sync", state=state, active_key=key))
    return task_id


def _task(db: Database, task_id: str) -> TaskRecord:
    return jobs.get_record(db, task_id)


# ---------------------------------------------------------------- 1. downloads: cancel undone


def test_a_cancel_inside_the_workers_begin_stays_canceled(services: Services) -> None:
    db = services.db
    download_id = _download(db, "queued")
    with just_before(db, "UPDATE downloads", lambda: downloads.cancel(services, download_id)) as f:
        job = run.begin(services, download_id, "task-1")
    assert f, "the cancel did not run between the worker's read and its write"
    assert job is None, "the worker must not fetch a canceled download"
    row = _row(db, download_id)
    assert (row.state, row.dedupe_key, row.deliveries) == ("canceled", None, 0)


def _fetched(settings: Settings, name: str) -> Fetched:
    path = settings.download_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"lesson")
    return Fetched(path, 6, hashlib.sha256(b"lesson").hexdigest(), "Lesson")


def test_a_cancel_inside_succeed_leaves_canceled_without_the_file(services: Services) -> None:
    db, settings = services.db, services.settings
    download_id = _download(db, "running")
    fetched = _fetched(settings, f"lesson-{download_id}.mp4")
    with just_before(db, "UPDATE downloads", lambda: downloads.cancel(services, download_id)) as f:
        run.succeed(services, download_id, fetched)
    assert f
    row = _row(db, download_id)
    assert (row.state, row.dedupe_key, row.file_path) == ("canceled", None, None)
    assert not fetched.path.exists(), "a canceled download keeps no file"
    with db.session() as session:
        assert session.query(Delivery).count() == 0, "no download.succeeded for a canceled one"


def test_a_succeed_inside_a_cancel_conflicts_and_keeps_the_success(services: Services) -> None:
    db, settings = services.db, services.settings
    download_id = _download(db, "running")
    key = _row(db, download_id).dedupe_key
    fetched = _fetched(settings, f"lesson-{download_id}.mp4")
    succeed = lambda: run.succeed(services, download_id, fetched)  # noqa: E731
    with (
        just_before(db, "UPDATE downloads", succeed),
        pytest.raises(Conflict, match="already ended"),
    ):
        downloads.cancel(services, download_id)
    row = _row(db, download_id)
    assert (row.state, row.dedupe_key) == ("succeeded", key), "the success keeps its dedupe key"
    assert fetched.path.exists()


# ---------------------------------------------------------------- 2. jobs.cancel races the worker


def test_a_cancel_that_read_pending_before_the_worker_started_terminates_it(
    services: Services, quiet_redis: redis.Redis
) -> None:
    db = services.db
    task_id = _record(db, key="catalog.sync:drive")
    with broadcasts(quiet_redis) as received:
        with just_before(
            db, "UPDATE task_records", lambda: task_lifecycle.begin_delivery(db, task_id)
        ) as fired:
            jobs.cancel(db, services.broker, task_id)
        sent = received()
    assert fired
    revokes = [m["arguments"] for m in sent if m.get("method") == "revoke"]
    assert revokes == [{"task_id": task_id, "terminate": True, "signal": "SIGTERM"}]
    record = _task(db, task_id)
    assert record.state == "REVOKED"
    assert record.active_key == "catalog.sync:drive", "the key is held until the task ends"
    twin = jobs.enqueue(db, services.broker, "catalog.sync", {}, single="catalog.sync:drive")
    assert twin.active_key == "catalog.sync:drive:next", "a follow-up, never a twin that runs"

    # The terminated task ends (its worker's signal): it stays REVOKED, and the key passes on.
    released = task_lifecycle.mark_finished(db, task_id, "SUCCESS", result={"n": 1})
    assert released == "catalog.sync:drive"
    assert (_task(db, task_id).state, _task(db, task_id).result) == ("REVOKED", None)
    assert jobs.start_follow_up(db, services.broker, released) == twin.id
    assert _task(db, twin.id).active_key == "catalog.sync:drive"


def test_a_cancel_that_read_started_before_success_conflicts(services: Services) -> None:
    db = services.db
    task_id = _record(db, "STARTED")
    finish = lambda: task_lifecycle.mark_finished(db, task_id, "SUCCESS", result={"n": 1})  # noqa: E731
    with (
        just_before(db, "UPDATE task_records", finish) as fired,
        pytest.raises(Conflict, match="already ended in state SUCCESS"),
    ):
        jobs.cancel(db, services.broker, task_id)
    assert fired
    record = _task(db, task_id)
    assert (record.state, record.result, record.error) == ("SUCCESS", {"n": 1}, None)


# ---------------------------------------------------------------- 3. records never move backwards


def test_a_progress_report_never_overwrites_a_cancel(services: Services) -> None:
    db = services.db
    task_id = _record(db, "STARTED")
    reporter = task_lifecycle.ProgressReporter(db, task_id, interval=0)
    cancel = lambda: jobs.cancel(db, services.broker, task_id)  # noqa: E731
    with just_before(db, "UPDATE task_records", cancel) as fired:
        reporter(1, 10, "listing")
    assert fired
    assert _task(db, task_id).state == "REVOKED"


@pytest.mark.parametrize("ended", ["REVOKED", "FAILURE", "SUCCESS"])
def test_progress_retry_and_redelivery_never_reopen_an_ended_record(
    settings: Settings, ended: str
) -> None:
    db = database(settings.database_url)
    task_id = _record(db, ended)
    task_lifecycle.ProgressReporter(db, task_id, interval=0)(1, 2, "late")
    task_lifecycle.mark_retry(db, task_id, TimeoutError("late"))
    assert task_lifecycle.begin_delivery(db, task_id) is None, "a redelivery must not run"
    task_lifecycle.mark_released(db, task_id)
    record = _task(db, task_id)
    assert (record.state, record.progress, record.retries) == (ended, None, 0)


def test_a_reconcilers_failure_is_not_overwritten_by_progress(settings: Settings) -> None:
    db = database(settings.database_url)
    task_id = _record(db, "STARTED")
    lost = lambda: task_lifecycle.mark_finished(db, task_id, "FAILURE", error=OSError("lost"))  # noqa: E731
    with just_before(db, "UPDATE task_records", lost) as fired:
        task_lifecycle.ProgressReporter(db, task_id, interval=0)(3, 4, "late")
    assert fired
    assert _task(db, task_id).state == "FAILURE"


def test_a_redelivered_success_keeps_its_finish(settings: Settings) -> None:
    db = database(settings.database_url)
    task_id = _record(db, "STARTED")
    task_lifecycle.mark_finished(db, task_id, "SUCCESS", result={"n": 1})
    finished_at = _task(db, task_id).finished_at
    assert task_lifecycle.mark_started(db, task_id) is False
    record = _task(db, task_id)
    assert (record.state, record.finished_at) == ("SUCCESS", finished_at)


# ---------------------------------------------------------------- 4. one download fetched twice


def test_of_two_racing_retries_one_conflicts(services: Services, quiet_redis: redis.Redis) -> None:
    db = services.db
    download_id = _download(db, "failed", error="boom")
    other = lambda: downloads.retry(services, download_id)  # noqa: E731
    with (
        just_before(db, "UPDATE downloads", other) as f,
        pytest.raises(Conflict) as refused,
    ):
        downloads.retry(services, download_id)
    assert f and refused.value.status == 409 and refused.value.code == "conflict"
    assert quiet_redis.llen("downloads") == 1, "one fetch sent, not two"
    assert _row(db, download_id).state == "queued"


def test_two_overlapping_cleanups_send_a_stuck_download_once(
    services: Services, quiet_redis: redis.Redis
) -> None:
    db = services.db
    download_id = _download(db, "running", task_id=_record(db, "STARTED"))
    other = lambda: reconcile.reconcile_downloads(services, set(), grace_s=0)  # noqa: E731
    with just_before(db, "UPDATE downloads", other) as fired:
        first = reconcile.reconcile_downloads(services, set(), grace_s=0)
    assert fired
    assert first["downloads_requeued"] == 0, "the other cleanup claimed it first"
    assert quiet_redis.llen("downloads") == 1
    assert _row(db, download_id).state == "queued"


# ---------------------------------------------------------------- 6. smaller


def test_enqueue_when_the_holder_ends_between_the_insert_and_the_look(
    services: Services, quiet_redis: redis.Redis
) -> None:
    db = services.db
    holder = _record(db, "STARTED", key="classroom.sync")
    end = lambda: task_lifecycle.mark_finished(db, holder, "SUCCESS")  # noqa: E731
    with just_before(db, "SELECT task_records", end) as fired:
        record = jobs.enqueue(db, services.broker, "classroom.sync", {}, single="classroom.sync")
    assert fired, "the holder did not end between the failed INSERT and the lookup"
    assert record.id != holder and record.active_key == "classroom.sync"
    assert quiet_redis.llen("default") == 1


def test_a_late_webhook_twin_does_not_lose_an_attempt(services: Services) -> None:
    db = services.db
    with db.session() as session:
        row = Delivery(
            event_id="e1", event="download.failed", subject="download:1", target="t",
            host="example.org", body="{}",
        )  # fmt: skip
        session.add(row)
        session.flush()
        delivery_id = int(row.id)
    twin = lambda: notifications._begin(db, delivery_id)  # noqa: E731
    with just_before(db, "UPDATE deliveries", twin) as fired:
        notifications._begin(db, delivery_id)
    assert fired
    with db.session() as session:
        assert session.get_one(Delivery, delivery_id).attempts == 2
