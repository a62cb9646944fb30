"""Redis locks: short ones (SET NX EX) where two workers could race, and renewed leases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
_EXTEND = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then"
    " return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)


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


class Lease:
    """A lock held for as long as its holder keeps renewing it (SET NX PX with a token).

    Extending and releasing compare the token first (one Lua script each), so a holder whose
    lease ran out can never extend or free the lock that someone else took meanwhile.
    """

    def __init__(self, client: redis.Redis, key: str, ttl_s: float, token: str) -> None:
        self.client, self.key, self.token = client, key, token
        self.ttl_ms = max(int(ttl_s * 1000), 1)

    def hold(self) -> bool:
        """Extend the lease if it is ours, else try to take it; True while we hold it."""
        if self.client.eval(_EXTEND, 1, self.key, self.token, self.ttl_ms):
            return True
        return bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def release(self) -> bool:
        """Delete the lock if we still hold it; True if it was ours."""
        return bool(self.client.eval(_RELEASE, 1, self.key, self.token))

    def holder(self) -> str | None:
        """The token of whoever holds the lock now (None if free)."""
        value = self.client.get(self.key)
        return value.decode(errors="replace") if isinstance(value, bytes) else None
