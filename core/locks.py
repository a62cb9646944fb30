"""Short Redis locks (SET NX EX) where two workers could race on the same work."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


@contextmanager
def redis_lock(redis_url: str, name: str, ttl_s: int) -> Iterator[bool]:
    """Yield True if the lock `name` was taken (released on exit), False if someone holds it."""
    client = redis.Redis.from_url(redis_url)
    token = uuid.uuid4().hex
    key = f"aula:lock:{name}"
    taken = bool(client.set(key, token, nx=True, ex=ttl_s))
    try:
        yield taken
    finally:
        if taken:
            client.eval(_RELEASE, 1, key, token)
        client.close()
