"""Leases on a real Redis: one holder at a time, renewed and released only by their holder."""

from __future__ import annotations

import redis

from core.locks import Lease
from tests.helpers import private_redis_db, wait_for


def _pair(redis_url, key):
    client = redis.Redis.from_url(private_redis_db(redis_url))
    client.delete(key)
    return client, Lease(client, key, 0.5, "a"), Lease(client, key, 0.5, "b")


def test_one_holder_at_a_time_and_only_it_releases(redis_url):
    client, a, b = _pair(redis_url, "test:lease:one")
    try:
        assert a.hold() and not b.hold()
        assert a.holder() == "a"
        assert not b.release() and client.get("test:lease:one") == b"a"  # not b's to free
        assert a.hold()  # renewing keeps it
        assert a.release() and a.holder() is None
        assert b.hold() and b.holder() == "b"
    finally:
        client.delete("test:lease:one")
        client.close()


def test_an_expired_lease_goes_to_the_next_and_the_old_holder_cannot_extend_it(redis_url):
    client, a, b = _pair(redis_url, "test:lease:expiry")
    try:
        assert a.hold()
        wait_for(lambda: b.hold(), 5, interval=0.05, what="a's lease to run out")
        assert not a.hold()  # a's renewal compares the token: b keeps the lock
        assert not a.release() and b.holder() == "b"
        assert 0 < client.pttl("test:lease:expiry") <= 500
    finally:
        client.delete("test:lease:expiry")
        client.close()
