"""Single-instance keys (CONTRACT 8.6) on the records and a real broker no worker consumes:
share a task waiting to start, else one follow-up sent when the running one ends."""

from __future__ import annotations

import json

import redis
from celery import Celery

from core.base.db import database
from core.base.settings import Settings
from core.jobs import records as jobs
from core.jobs import task_lifecycle

KEY = "catalog.rebuild:local"
NAME = "catalog.rebuild"


def _sent(client: redis.Redis) -> list[str]:
    """Ids of the messages waiting in the default queue, oldest first (kombu LPUSHes)."""
    raws = client.lrange("default", 0, -1)
    return [json.loads(raw)["headers"]["id"] for raw in reversed(raws)]


def test_a_request_while_one_waits_to_start_shares_it(
    quiet_settings: Settings, quiet_celery: Celery, quiet_redis: redis.Redis
) -> None:
    db = database(quiet_settings.database_url)
    first = jobs.enqueue(db, quiet_celery, NAME, {"source": "local"}, single=KEY)
    again = jobs.enqueue(db, quiet_celery, NAME, {"source": "local"}, single=KEY)
    assert again.id == first.id
    assert _sent(quiet_redis) == [first.id]


def test_a_request_while_one_runs_gets_one_follow_up_sent_when_it_ends(
    quiet_settings: Settings, quiet_celery: Celery, quiet_redis: redis.Redis
) -> None:
    db = database(quiet_settings.database_url)
    running = jobs.enqueue(db, quiet_celery, NAME, {"source": "local"}, single=KEY)
    assert task_lifecycle.begin_delivery(db, running.id) == 1

    follow_up = jobs.enqueue(db, quiet_celery, NAME, {"source": "local"}, single=KEY)
    third = jobs.enqueue(db, quiet_celery, NAME, {"source": "local"}, single=KEY)
    assert follow_up.id != running.id and third.id == follow_up.id
    assert jobs.get_record(db, follow_up.id).state == "PENDING"
    assert _sent(quiet_redis) == [running.id], "the follow-up waits, unsent, for the running one"

    released = task_lifecycle.mark_finished(db, running.id, "SUCCESS", result={"n": 1})
    assert released == KEY
    assert jobs.start_follow_up(db, quiet_celery, released) == follow_up.id
    assert _sent(quiet_redis) == [running.id, follow_up.id]
    assert jobs.get_record(db, follow_up.id).active_key == KEY
    assert jobs.start_follow_up(db, quiet_celery, KEY) is None, "sent once"
    fourth = jobs.enqueue(db, quiet_celery, NAME, {"source": "local"}, single=KEY)
    assert fourth.id == follow_up.id, "the follow-up waits to start: shared"


def test_a_follow_up_asked_after_the_running_one_ended_starts_at_once(
    quiet_settings: Settings, quiet_celery: Celery, quiet_redis: redis.Redis
) -> None:
    db = database(quiet_settings.database_url)
    running = jobs.enqueue(db, quiet_celery, NAME, {"source": "local"}, single=KEY)
    task_lifecycle.begin_delivery(db, running.id)
    # The holder ends but its worker died before starting a follow-up: none was waiting yet.
    task_lifecycle.mark_finished(db, running.id, "SUCCESS")
    after = jobs.enqueue(db, quiet_celery, NAME, {"source": "local"}, single=KEY)
    assert after.id != running.id
    assert _sent(quiet_redis) == [running.id, after.id]
    assert jobs.get_record(db, after.id).active_key == KEY


def test_canceling_a_queued_holder_frees_its_key_and_starts_the_follow_up(
    quiet_settings: Settings, quiet_celery: Celery, quiet_redis: redis.Redis
) -> None:
    db = database(quiet_settings.database_url)
    running = jobs.enqueue(db, quiet_celery, NAME, {"source": "local"}, single=KEY)
    task_lifecycle.begin_delivery(db, running.id)
    follow_up = jobs.enqueue(db, quiet_celery, NAME, {"source": "local"}, single=KEY)
    task_lifecycle.mark_released(db, running.id)  # a stopping worker handed it back

    assert jobs.cancel(db, quiet_celery, running.id).active_key is None
    assert jobs.get_record(db, follow_up.id).active_key == KEY
    assert _sent(quiet_redis) == [running.id, follow_up.id]


def test_a_follow_up_whose_holder_ended_without_starting_it_is_started_by_the_reconciler(
    quiet_settings: Settings, quiet_celery: Celery, quiet_redis: redis.Redis
) -> None:
    from core.base.services import Services
    from core.downloads import reconcile

    db = database(quiet_settings.database_url)
    services = Services.build(quiet_settings, broker=quiet_celery)
    running = jobs.enqueue(db, quiet_celery, NAME, {"source": "local"}, single=KEY)
    task_lifecycle.begin_delivery(db, running.id)
    follow_up = jobs.enqueue(db, quiet_celery, NAME, {"source": "local"}, single=KEY)
    assert jobs.waits_for(follow_up.active_key) == KEY and jobs.waits_for(KEY) is None
    lost = [jobs.get_record(db, follow_up.id)]
    assert reconcile.resend_lost(services, quiet_redis, lost) == 0, "its holder still runs"
    task_lifecycle.mark_finished(db, running.id, "SUCCESS")  # its worker died right after
    assert reconcile.resend_lost(services, quiet_redis, lost) == 1
    assert _sent(quiet_redis) == [running.id, follow_up.id]
    assert jobs.get_record(db, follow_up.id).active_key == KEY
    services.redis_pool.disconnect()
