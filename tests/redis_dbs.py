"""Redis databases for tests that need their own: taken from a pool, given back after the test."""

from __future__ import annotations

import redis

# The test Redis starts with 64 databases (tests/helpers.py start_redis); 0 is the shared one.
DATABASES = 64


class RedisDatabases:
    """Hands out database numbers 1-63, each to one holder at a time.

    The autouse fixture in tests/conftest.py marks where a test starts and gives back what the
    test (its body and its function-scoped fixtures) took; a module- or session-scoped fixture
    takes its database before the mark, so it keeps it for the rest of the session.
    """

    def __init__(self, count: int = DATABASES) -> None:
        self._count = count
        self._free = list(range(count - 1, 0, -1))  # pop() hands out 1 first
        self._taken: list[int] = []

    def take(self, db: int | None = None) -> int:
        """A free database (or `db` itself, if nobody holds it)."""
        if db is None:
            if not self._free:
                raise RuntimeError(f"all {self._count - 1} private Redis databases are taken")
            db = self._free.pop()
        elif db in self._free:
            self._free.remove(db)
        else:
            raise RuntimeError(f"Redis database {db} is already taken (or out of range)")
        self._taken.append(db)
        return db

    def mark(self) -> int:
        """Where the current test starts: pass it to `give_back_since` when the test ends."""
        return len(self._taken)

    def give_back_since(self, mark: int) -> None:
        """Give back every database taken after `mark`."""
        self._free.extend(reversed(self._taken[mark:]))
        del self._taken[mark:]


POOL = RedisDatabases()


def private_redis_db(url: str) -> str:
    """The same Redis server, a database of this test's own from the pool, emptied first: a
    worker there shares no queue with others and finds nothing an earlier test left in it."""
    base, _, _ = url.rpartition("/")
    private = f"{base}/{POOL.take()}"
    client = redis.Redis.from_url(private)
    try:
        client.flushdb()
    finally:
        client.close()
    return private
