"""Liveness entries and the reaper's rule, against a real Redis and kombu's real unacked set."""

from __future__ import annotations

import time

import pytest
import redis
from kombu import Connection, Exchange, Queue

from api.extensions import make_celery_client
from core.jobs import liveness
from tests.conftest import settings_from_env
from tests.helpers import private_redis_db, wait_for

QUEUE = Queue("default", Exchange("default"), routing_key="default")


@pytest.fixture
def env(base_env):
    # A short TTL: these tests check the reaper's rule, not how long a worker is given.
    return {
        **base_env,
        "REDIS_URL": private_redis_db(base_env["REDIS_URL"]),
        "WORKER_LIVENESS_INTERVAL_S": "0.2",
        "WORKER_LIVENESS_TTL_S": "1",
    }


def test_claims_hold_until_the_ttl_passes(env):
    client = redis.Redis.from_url(env["REDIS_URL"])
    liveness.publish(client, "a@host:1:x", ["t1", "t2"], 0.5)
    liveness.publish(client, "b@host:2:y", ["t3"], 30, ["task-3"], host="host", pid=2)
    claims = liveness.claims(client)
    assert claims.tags == {"t1", "t2", "t3"} and set(claims.live) == {"a@host:1:x", "b@host:2:y"}
    time.sleep(0.7)
    claims = liveness.claims(client)
    assert claims.tags == {"t3"} and claims.dead == ("a@host:1:x",)
    assert claims.task_ids == {"task-3"}
    liveness.withdraw(client, "b@host:2:y")
    assert liveness.claims(client).tags == frozenset()
    client.close()


def test_one_reaper_per_round(env):
    client = redis.Redis.from_url(env["REDIS_URL"])
    assert liveness.take_reaper_turn(client, "a", 0.5)
    assert not liveness.take_reaper_turn(client, "b", 0.5)
    wait_for(lambda: liveness.take_reaper_turn(client, "b", 0.5), 5, what="the next round")
    client.close()


def test_the_reaper_hands_back_only_unclaimed_old_deliveries(env):
    settings = settings_from_env(env)
    celery = make_celery_client(settings)
    client = redis.Redis.from_url(settings.redis_url)
    ttl, interval = settings.worker_liveness_ttl_s, settings.worker_liveness_interval_s
    with Connection(settings.redis_url) as held, Connection(settings.redis_url) as dead:
        live_id = celery.send_task("testing.sleep", queue="default").id
        live = QUEUE(held.default_channel).get(no_ack=False)
        dead_id = celery.send_task("testing.sleep", queue="default").id
        lost = QUEUE(dead.default_channel).get(no_ack=False)
        assert (live.headers["id"], lost.headers["id"]) == (live_id, dead_id)

        def reap() -> int:
            with Connection(settings.redis_url) as own:  # the reaper's own connection
                return liveness.reap(
                    own.default_channel, client, liveness.claims(client), ttl, interval
                )

        liveness.publish(client, "live", [live.delivery_tag], 30)
        assert reap() == 0, "a delivery seen unclaimed for less than the TTL is never taken"
        # Rounds every 0.1 s (as the workers' rounds): the unclaimed one goes once a TTL passed.
        assert wait_for(reap, 10, what="the unclaimed delivery handed back") == 1
        assert client.llen("default") == 1
        again = QUEUE(held.default_channel).get(no_ack=False)
        assert again.headers["id"] == dead_id
        assert reap() == 0, "the live instance's delivery stays where it is"
        liveness.withdraw(client, "live")
        liveness.publish(client, "live", [again.delivery_tag], 30)
        assert wait_for(reap, 10, what="the first delivery, unclaimed now") == 1
    client.close()
    celery.close()


def _one_delivery(settings, held):
    celery = make_celery_client(settings)
    celery.send_task("testing.sleep", queue="default")
    celery.close()
    return QUEUE(held.default_channel).get(no_ack=False)


def test_a_consumer_whose_clock_is_behind_does_not_lose_its_fresh_delivery(env):
    # Issue 23 item 5: kombu stamps a delivery with the consuming host's clock; a host 20 s
    # behind made a fresh delivery look a TTL old to a reaper on another host.
    settings = settings_from_env(env)
    client = redis.Redis.from_url(settings.redis_url)
    ttl, interval = settings.worker_liveness_ttl_s, settings.worker_liveness_interval_s
    with Connection(settings.redis_url) as held, Connection(settings.redis_url) as own:
        message = _one_delivery(settings, held)
        channel = own.default_channel
        client.zadd(channel.unacked_index_key, {message.delivery_tag: time.time() - 20}, xx=True)
        assert liveness.reap(channel, client, liveness.claims(client), ttl, interval) == 0
        assert client.hexists(channel.unacked_key, message.delivery_tag), "still delivered"
    client.close()


def test_after_an_outage_longer_than_the_ttl_the_count_starts_again(env):
    # The rounds stopped (Redis unreachable) for longer than a TTL: every worker's entry expired
    # meanwhile. The first round after it must not hand back work whose owner has not yet
    # republished; it judges afresh, and the owner's next write saves it.
    settings = settings_from_env(env)
    client = redis.Redis.from_url(settings.redis_url)
    ttl, interval = settings.worker_liveness_ttl_s, settings.worker_liveness_interval_s
    with Connection(settings.redis_url) as held, Connection(settings.redis_url) as own:
        message = _one_delivery(settings, held)
        channel = own.default_channel
        now = liveness.server_time(client)
        before_outage = now - 10 * ttl  # last seen unclaimed long ago, then no rounds ran
        client.hset(
            liveness.UNCLAIMED_KEY, message.delivery_tag, f"[{before_outage}, {before_outage}]"
        )
        assert liveness.reap(channel, client, liveness.claims(client), ttl, interval) == 0
        liveness.publish(client, "owner", [message.delivery_tag], ttl)  # the owner is back
        assert liveness.reap(channel, client, liveness.claims(client), ttl, interval) == 0
        assert client.hexists(channel.unacked_key, message.delivery_tag)
        assert not client.hexists(liveness.UNCLAIMED_KEY, message.delivery_tag)
    client.close()
