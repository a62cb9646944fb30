"""Issue 23, finding 5: the reaper after a Redis outage, driven round by round. A reaper that has
just reconnected hands back nothing until its own entry is live again, and a dead instance's
deliveries go back only once its entry was seen expired in two rounds in a row. Time is never
waited for: how long a delivery was seen unclaimed is written into the reaper's own record
(as earlier rounds would have), so every step is one call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kombu import Connection, Exchange, Queue

from api.extensions import make_celery_client
from core.jobs import liveness
from tests.conftest import settings_from_env
from tests.helpers import private_redis_db

QUEUE = Queue("default", Exchange("default"), routing_key="default")
TTL, INTERVAL = 30.0, 10.0  # the defaults: nothing here waits for them
REAPER, OWNER = "reaper@host:1:aa", "owner@host:2:bb"


class Rounds:
    """One owner's delivery, held on a connection of its own, and a reaper's rounds over it."""

    def __init__(self, client: redis.Redis, held: Any, own: Any, tag: str) -> None:
        self.client, self.held, self.channel, self.tag = client, held, own.default_channel, tag

    def seen_unclaimed_for(self, seconds: float) -> None:
        """Earlier rounds, a round apart, saw the delivery unclaimed for `seconds` until now."""
        now = liveness.server_time(self.client)
        first = json.dumps([now - seconds, now - 1])
        self.client.hset(liveness.UNCLAIMED_KEY, self.tag, first)

    def publish(self, instance: str, tags: list[str], ttl: float = TTL) -> None:
        liveness.publish(self.client, instance, tags, ttl)

    def round(self, instance: str | None = REAPER) -> int:
        claims = liveness.claims(self.client)
        return liveness.reap(self.channel, self.client, claims, TTL, INTERVAL, instance)

    def delivered(self) -> bool:
        return bool(self.client.hexists(self.channel.unacked_key, self.tag))


@pytest.fixture
def rounds(base_env: dict[str, str]) -> Iterator[Rounds]:
    settings = settings_from_env({**base_env, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])})
    client = redis.Redis.from_url(settings.redis_url)
    celery = make_celery_client(settings)
    celery.send_task("testing.sleep", queue="default")
    celery.close()
    with Connection(settings.redis_url) as held, Connection(settings.redis_url) as own:
        message = QUEUE(held.default_channel).get(no_ack=False)
        yield Rounds(client, held, own, str(message.delivery_tag))
    client.close()


def test_a_reaper_whose_own_entry_is_not_back_hands_back_nothing(rounds: Rounds) -> None:
    # Redis is back; the owner's entry expired during the outage and so did the reaper's own.
    rounds.publish(OWNER, [rounds.tag], ttl=-1)
    rounds.publish(REAPER, [], ttl=-1)
    rounds.seen_unclaimed_for(2 * TTL)
    for _ in range(3):
        assert rounds.round() == 0, "a reaper not yet published again judged the others"
    assert rounds.delivered()
    rounds.publish(REAPER, [])  # its heartbeat is published again: now it judges, afresh
    assert rounds.round() == 0, "its rounds before it was back do not count"
    assert rounds.round() == 1, "then a dead owner's delivery goes back"
    assert not rounds.delivered()


def test_a_dead_owner_must_be_seen_expired_in_two_rounds_in_a_row(rounds: Rounds) -> None:
    rounds.publish(REAPER, [])
    rounds.publish(OWNER, [rounds.tag], ttl=-1)
    rounds.seen_unclaimed_for(2 * TTL)  # unclaimed long enough by the old rule alone
    assert rounds.round() == 0, "one round's sight of an expired entry is not enough"
    assert rounds.delivered()
    assert rounds.round() == 1, "the second round in a row hands it back"
    assert not rounds.delivered()


def test_an_owner_that_republishes_between_the_rounds_keeps_its_delivery(rounds: Rounds) -> None:
    rounds.publish(REAPER, [])
    rounds.publish(OWNER, [rounds.tag], ttl=-1)
    rounds.seen_unclaimed_for(2 * TTL)
    assert rounds.round() == 0
    rounds.publish(OWNER, [rounds.tag])  # its liveness thread got through to Redis again
    assert rounds.round() == 0
    rounds.publish(OWNER, [rounds.tag], ttl=-1)  # expired again: the streak starts over
    assert rounds.round() == 0, "a streak broken by a live entry starts again"
    assert rounds.delivered()


def test_rounds_stopped_by_an_outage_start_the_streak_again(rounds: Rounds) -> None:
    rounds.publish(REAPER, [])
    rounds.publish(OWNER, [rounds.tag], ttl=-1)
    rounds.seen_unclaimed_for(2 * TTL)
    assert rounds.round() == 0  # round one saw it expired
    now = liveness.server_time(rounds.client)
    long_ago = json.dumps([1, now - 2 * TTL])  # ...and then no round ran for two TTLs
    rounds.client.hset(liveness.EXPIRED_KEY, OWNER, long_ago)
    rounds.seen_unclaimed_for(2 * TTL)
    assert rounds.round() == 0, "a streak across an outage is not two rounds in a row"
    assert rounds.delivered()
    assert rounds.round() == 1


def test_a_delivery_no_entry_lists_keeps_the_ttl_rule(rounds: Rounds) -> None:
    # Taken by a worker that died before its first liveness write (or whose entry is long
    # forgotten): no instance to judge, so it goes back once unclaimed for a TTL, as before.
    rounds.publish(REAPER, [])
    rounds.seen_unclaimed_for(TTL / 2)
    assert rounds.round() == 0
    rounds.seen_unclaimed_for(2 * TTL)
    assert rounds.round() == 1


def test_the_streaks_of_instances_alive_again_are_dropped(rounds: Rounds) -> None:
    rounds.publish(REAPER, [])
    rounds.publish(OWNER, [rounds.tag], ttl=-1)
    rounds.round()
    assert rounds.client.hexists(liveness.EXPIRED_KEY, OWNER)
    rounds.publish(OWNER, [rounds.tag])
    rounds.round()
    assert not rounds.client.hexists(liveness.EXPIRED_KEY, OWNER)
