"""kombu's Redis layout as core.jobs.unacked reads it: fails when kombu changes keys or restore."""

from __future__ import annotations

import json
import time

import pytest
import redis
from kombu import Connection, Exchange, Queue
from kombu.transport import redis as kombu_redis

from api.extensions import make_celery_client
from core.downloads import reconcile
from core.jobs import unacked
from tests.conftest import settings_from_env
from tests.helpers import private_redis_db

QUEUE = Queue("default", Exchange("default"), routing_key="default")


@pytest.fixture
def broker(base_env):
    env = {**base_env, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])}
    settings = settings_from_env(env)
    celery = make_celery_client(settings)
    with Connection(settings.redis_url) as consumer, Connection(settings.redis_url) as other:
        yield celery, consumer.default_channel, other.default_channel, settings.redis_url
    celery.close()


def _send(celery, name="testing.sleep"):
    return celery.send_task(name, kwargs={"seconds": 0}, queue="default").id


def test_a_delivered_message_is_found_claimed_and_handed_back(broker):
    celery, channel, other, url = broker
    task_id = _send(celery)
    assert unacked.present_task_ids(other, ["default", "downloads"]) == {task_id}

    message = QUEUE(channel).get(no_ack=False)  # delivered, not acknowledged
    tag = message.delivery_tag
    raw = redis.Redis.from_url(url)
    # The layout this adapter reads: a hash and a sorted set named by kombu, keyed by the tag.
    assert raw.hexists("unacked", tag) and raw.zscore("unacked_index", tag) is not None
    assert raw.llen("default") == 0
    assert unacked.held_tags(channel) == {tag}
    assert unacked.held_tags(other) == set()
    assert unacked.delivered_before(other, time.time() + 1) == [tag]
    assert unacked.delivered_before(other, time.time() - 60) == []
    assert unacked.task_id_of(other, tag) == task_id
    assert unacked.present_task_ids(other, ["default"]) == {task_id}

    unacked.hand_back(other, tag)
    assert not raw.hexists("unacked", tag) and raw.zscore("unacked_index", tag) is None
    assert raw.llen("default") == 1
    assert unacked.task_id_of(other, tag) is None
    again = QUEUE(other).get(no_ack=False)
    assert again.delivery_tag == tag and again.headers["id"] == task_id
    assert again.delivery_info["redelivered"] is True
    again.ack()
    assert unacked.present_task_ids(other, ["default"]) == set()
    unacked.hand_back(other, tag)  # already acknowledged: nothing comes back
    assert raw.llen("default") == 0
    raw.close()


def test_priority_queues_are_read_too(broker):
    celery, _channel, other, url = broker
    task_id = celery.send_task("testing.sleep", queue="default", priority=5).id
    raw = redis.Redis.from_url(url)
    assert raw.llen("default") == 0 and any(
        json.loads(m)["headers"]["id"] == task_id
        for key in raw.keys("default*")
        for m in raw.lrange(key, 0, -1)
    )
    assert unacked.present_task_ids(other, ["default"]) == {task_id}
    raw.close()


def test_the_plain_client_names_are_kombus() -> None:
    # Readers without a kombu channel (metrics scrapes, cleanup) use these copies of its names.
    channel_class = kombu_redis.Channel
    assert channel_class.unacked_key == unacked.UNACKED_KEY
    assert channel_class.sep == unacked.PRIORITY_SEPARATOR
    assert tuple(kombu_redis.PRIORITY_STEPS) == unacked.PRIORITY_STEPS
    assert unacked.queue_keys("downloads") == [
        "downloads",
        "downloads\x06\x163",
        "downloads\x06\x166",
        "downloads\x06\x169",
    ]


def test_what_kombu_writes_is_what_the_plain_client_reads(base_env):
    """Messages Celery publishes at every priority, on both queues, then one taken and held:
    depths and ids read with a plain Redis client match what kombu wrote."""
    env = {**base_env, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])}
    settings = settings_from_env(env)
    celery = make_celery_client(settings)
    raw = redis.Redis.from_url(settings.redis_url)
    sent = {
        queue: [celery.send_task("testing.sleep", queue=queue, priority=p).id for p in (0, 4, 9)]
        for queue in ("default", "downloads")
    }
    try:
        assert len(raw.keys("default*")) > 1, "kombu wrote one list per priority step"
        assert unacked.queue_depths(raw) == {"default": 3, "downloads": 3, "media": 0}
        everything = {task_id for ids in sent.values() for task_id in ids}
        assert unacked.waiting_task_ids(raw, ["default", "downloads"]) == everything
        # Cleanup's reconciliation reads them all too (it read only priority 0 before).
        assert reconcile.queued_task_ids(raw) == everything
        with Connection(settings.redis_url) as connection:
            held = Queue("downloads", Exchange("downloads"), routing_key="downloads")(
                connection.default_channel
            ).get(no_ack=False)
            assert held is not None and held.headers["id"] in sent["downloads"]
            assert unacked.queue_depths(raw, ["downloads"]) == {"downloads": 2}
            # Taken but unacknowledged: still present, found in kombu's unacked hash.
            assert unacked.waiting_task_ids(raw, ["default", "downloads"]) == everything
            assert raw.hexists(unacked.UNACKED_KEY, held.delivery_tag)
            raw.rpush("default", b"not json")  # a stranger's message is skipped
            assert unacked.waiting_task_ids(raw, ["default", "downloads"]) == everything
    finally:
        raw.flushdb()
        raw.close()
        celery.close()
