"""Reconciliation: downloads whose task was lost are sent again; dead partials are removed."""

from __future__ import annotations

from datetime import timedelta

import redis
from sqlalchemy import update

from core import downloads
from core.base.db import session_scope
from core.base.models import Download, utcnow
from core.downloads.reconcile import queued_task_ids, reconcile_downloads, remove_dead_partials
from core.jobs import records as jobs
from tests.conftest import settings_from_env
from tests.helpers import private_redis_db
from tests.services import services_of


def _quiet(base_env):
    """Settings and services (a Celery client) on a Redis database no worker consumes."""
    env = {**base_env, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])}
    settings = settings_from_env(env)
    redis.Redis.from_url(settings.redis_url).flushdb()
    return settings, services_of(settings)


def _age(settings, download_id, seconds=600):
    with session_scope(settings.database_url) as session:
        session.execute(
            update(Download)
            .where(Download.id == download_id)
            .values(updated_at=utcnow() - timedelta(seconds=seconds))
        )


def test_a_download_whose_message_was_flushed_is_sent_again(base_env, settings, drive):
    quiet, services = _quiet(base_env)
    file_id = drive.add_file("perdida.mp4")
    download, created = downloads.create(services, url=f"https://drive.google.com/file/d/{file_id}")
    queue = redis.Redis.from_url(quiet.redis_url)
    assert created and download.task_id in queued_task_ids(queue)
    _age(quiet, download.id)

    # Still in the queue: live, nothing to do.
    assert reconcile_downloads(services, queued_task_ids(queue))["downloads_requeued"] == 0

    queue.flushall()
    result = reconcile_downloads(services, queued_task_ids(queue))
    assert result["downloads_requeued"] == 1
    again = downloads.get(services.db, download.id)
    assert again.state == "queued" and again.task_id != download.task_id
    assert again.task_id in queued_task_ids(queue)
    assert jobs.get_record(services.db, download.task_id).state == "FAILURE"


def test_recent_or_finished_downloads_are_left_alone(base_env, settings, drive):
    quiet, services = _quiet(base_env)
    file_id = drive.add_file("recente.mp4")
    download, _ = downloads.create(services, url=f"https://drive.google.com/file/d/{file_id}")
    redis.Redis.from_url(quiet.redis_url).flushall()
    assert reconcile_downloads(services, set())["downloads_requeued"] == 0  # within grace
    downloads.cancel(services, download.id)
    _age(quiet, download.id)
    assert reconcile_downloads(services, set())["downloads_requeued"] == 0


def test_partials_of_dead_downloads_are_removed(base_env, settings, drive, tmp_path):
    # A download folder of its own: the live partial left here would otherwise be resumed by
    # the next test's download with the same id (ids start again after the truncation).
    quiet, services = _quiet({**base_env, "DOWNLOAD_DIR": str(tmp_path / "downloads")})
    live, _ = downloads.create(
        services, url=f"https://drive.google.com/file/d/{drive.add_file('a.mp4')}"
    )
    dead, _ = downloads.create(
        services, url=f"https://drive.google.com/file/d/{drive.add_file('b.mp4')}"
    )
    downloads.cancel(services, dead.id)
    for download in (live, dead):
        folder = downloads.partial_dir(quiet, download.id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "data.part").write_bytes(b"x" * 10)
    orphan = downloads.partial_dir(quiet, 987654)
    orphan.mkdir(parents=True)
    assert remove_dead_partials(services) == 2
    assert downloads.partial_dir(quiet, live.id).exists()
    assert not downloads.partial_dir(quiet, dead.id).exists() and not orphan.exists()


def _age_record(settings, task_id, seconds=600):
    from core.base.models import TaskRecord

    with session_scope(settings.database_url) as session:
        session.execute(
            update(TaskRecord)
            .where(TaskRecord.id == task_id)
            .values(updated_at=utcnow() - timedelta(seconds=seconds))
        )


def test_a_flushed_single_task_is_sent_again_once(base_env, settings):
    from kombu import Connection

    from core.downloads import reconcile
    from core.jobs import unacked

    quiet, services = _quiet(base_env)
    client = redis.Redis.from_url(quiet.redis_url)
    db, broker = services.db, services.broker
    single = jobs.enqueue(db, broker, "catalog.rebuild", {"source": "local"},
                          single="catalog.rebuild:local")  # fmt: skip
    plain = jobs.enqueue(db, broker, "testing.sleep", {})
    _age_record(quiet, single.id)
    _age_record(quiet, plain.id)
    with Connection(quiet.redis_url) as connection:
        channel = connection.default_channel
        present = unacked.present_task_ids(channel, jobs.QUEUES)
        assert {single.id, plain.id} <= present
        assert reconcile.lost_tasks(db, client, present, 1000.0, 30) == []

        client.flushdb()
        present = unacked.present_task_ids(channel, jobs.QUEUES)
        assert reconcile.lost_tasks(db, client, present, 1000.0, 30) == []  # first seen gone
        assert reconcile.lost_tasks(db, client, present, 1020.0, 30) == []  # not for long
        lost = reconcile.lost_tasks(db, client, present, 1031.0, 30)
        assert [r.id for r in lost] == [single.id]  # only single tasks block their kind

        assert reconcile.resend_lost(services, client, lost) == 1
        assert reconcile.resend_lost(services, client, lost) == 0  # a racing second look
        assert unacked.present_task_ids(channel, jobs.QUEUES) == {single.id}
    assert jobs.get_record(db, single.id).state == "PENDING"
    again = jobs.enqueue(db, broker, "catalog.rebuild", {"source": "local"},
                         single="catalog.rebuild:local")  # fmt: skip
    assert again.id == single.id
    client.close()
