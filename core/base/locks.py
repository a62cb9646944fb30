"""Redis locks (redis-py's `Lock`): short ones where two workers could race, and renewed leases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import redis
from redis.exceptions import LockError, LockNotOwnedError
from redis.lock import Lock


@contextmanager
def redis_lock(
    client: redis.Redis, name: str, ttl_s: int, *, wait_s: float = 0.0
) -> Iterator[bool]:
    """Yield True if the lock `name` was taken (released on exit), False if someone holds it
    (after waiting up to `wait_s` for them to let it go)."""
    lock = Lock(client, f"aula:lock:{name}", timeout=ttl_s, thread_local=False)
    taken = bool(lock.acquire(blocking=wait_s > 0, blocking_timeout=wait_s or None))
    try:
        yield taken
    finally:
        if taken:
            with suppress(LockNotOwnedError):  # it ran out and someone else holds it now
                lock.release()


class Lease:
    """A lock held for as long as its holder keeps renewing it (SET NX PX with a token).

    Renewing and releasing compare the token first (redis-py's Lua scripts), so a holder whose
    lease ran out can never extend or free the lock that someone else took meanwhile.
    """

    def __init__(self, client: redis.Redis, key: str, ttl_s: float, token: str) -> None:
        self.client, self.key, self.token = client, key, token
        self._lock = Lock(client, key, timeout=max(ttl_s, 0.001), thread_local=False)

    def hold(self) -> bool:
        """Extend the lease if it is ours, else try to take it; True while we hold it."""
        if self._lock.local.token is not None:
            with suppress(LockNotOwnedError):
                return self._lock.reacquire()
        return bool(self._lock.acquire(blocking=False, token=self.token))

    def release(self) -> bool:
        """Delete the lock if we still hold it; True if it was ours."""
        try:
            self._lock.release()
        except LockError:  # never taken, or it ran out and someone else holds it now
            return False
        return True

    def holder(self) -> str | None:
        """The token of whoever holds the lock now (None if free)."""
        value = self.client.get(self.key)
        return value.decode(errors="replace") if isinstance(value, bytes) else None
