"""Leases on a real Redis: one holder at a time, renewed and released only by their holder."""

from __future__ import annotations

import redis

from core.base.locks import Lease, redis_lock
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


def test_redis_lock_is_taken_once_and_never_frees_a_later_holder(redis_url):
    url = private_redis_db(redis_url)
    client = redis.Redis.from_url(url)
    client.delete("aula:lock:test.once")
    try:
        # 1 s: the test proves the token check only
        with redis_lock(client, "test.once", 1) as taken:
            assert taken and client.get("aula:lock:test.once") is not None
            with redis_lock(client, "test.once", 1) as again:
                assert not again  # someone holds it
            assert client.get("aula:lock:test.once") is not None  # the loser freed nothing
            wait_for(
                lambda: client.get("aula:lock:test.once") is None, 5, what="the lock to expire"
            )
            client.set("aula:lock:test.once", "later", ex=30)  # another worker takes it meanwhile
        assert client.get("aula:lock:test.once") == b"later"  # ours ran out: theirs stays
        with redis_lock(client, "test.once", 1) as taken_after:
            assert not taken_after
        client.delete("aula:lock:test.once")
        with redis_lock(client, "test.once", 1) as free:
            assert free
        assert client.get("aula:lock:test.once") is None  # released on exit
    finally:
        client.delete("aula:lock:test.once")
        client.close()
