"""classroom.sync on a real worker: skipped without credentials or while another runs, retried."""

from __future__ import annotations

import redis

from core.base.db import database
from core.base.locks import redis_lock
from core.jobs import records as jobs
from tests.fakes.google import youtube
from tests.helpers import wait_for


def _finish(settings, task_id):
    def done():
        record = jobs.get_record(database(settings.database_url), task_id)
        return record if record.state in ("SUCCESS", "FAILURE") else None

    return wait_for(done, 90, what="the task")


def test_without_google_credentials_the_sync_is_skipped(settings, celery_client, worker):
    record = jobs.enqueue(database(settings.database_url), celery_client, "classroom.sync")
    done = _finish(settings, record.id)
    assert done.state == "SUCCESS"
    assert done.result == {"skipped": "no Google credentials are configured"}


def test_only_one_sync_runs_at_a_time(settings, celery_client, classroom, worker):
    with redis_lock(redis.Redis.from_url(settings.redis_url), "classroom.sync", 60) as taken:
        assert taken
        record = jobs.enqueue(database(settings.database_url), celery_client, "classroom.sync")
        done = _finish(settings, record.id)
    assert done.result == {"skipped": "another Classroom sync is running"}


def test_a_transient_outage_is_retried(settings, celery_client, classroom, worker):
    course = classroom.add_course("Música")
    classroom.add_coursework(course, "Ritmo", [youtube("m1", "Ritmo")])
    classroom.fail_next(5, "503", match="/v1/courses?")  # more than one attempt's retries
    record = jobs.enqueue(database(settings.database_url), celery_client, "classroom.sync")
    done = _finish(settings, record.id)
    assert done.state == "SUCCESS", done.error
    assert done.retries >= 1
    assert done.result["items"] == 1
