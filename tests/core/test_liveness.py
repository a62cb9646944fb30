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
    with Connection(settings.redis_url) as held, Connection(settings.redis_url) as dead:
        live_id = celery.send_task("testing.sleep", queue="default").id
        live = QUEUE(held.default_channel).get(no_ack=False)
        dead_id = celery.send_task("testing.sleep", queue="default").id
        lost = QUEUE(dead.default_channel).get(no_ack=False)
        assert (live.headers["id"], lost.headers["id"]) == (live_id, dead_id)
        ttl = settings.worker_liveness_ttl_s

        def reap() -> int:
            with Connection(settings.redis_url) as own:  # the reaper's own connection
                return liveness.reap(own.default_channel, liveness.claims(client), ttl)

        liveness.publish(client, "live", [live.delivery_tag], 30)
        assert reap() == 0, "a delivery younger than the TTL is never taken"
        time.sleep(1.2)
        assert reap() == 1
        assert client.llen("default") == 1
        again = QUEUE(held.default_channel).get(no_ack=False)
        assert again.headers["id"] == dead_id
        assert reap() == 0, "the live instance's delivery stays where it is"
        liveness.withdraw(client, "live")
        liveness.publish(client, "live", [again.delivery_tag], 30)
        assert reap() == 1  # the live one's first delivery is unclaimed now
    client.close()
    celery.close()
