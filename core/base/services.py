"""A process's services, built once where the process starts (its composition root)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import redis

from core.base.db import Database, database
from core.base.settings import Settings


class TaskBroker(Protocol):
    """What enqueuing needs from a Celery app, without importing Celery."""

    @property
    def control(self) -> Any: ...

    def send_task(self, name: str, *args: Any, **kwargs: Any) -> Any: ...


# Commands to the broker are short: a Redis that stops answering fails the call, never hangs it.
REDIS_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Services:
    """Settings, the database, the broker client and a Redis pool, shared by one process.

    `create_app()` builds one for the web process, tasks.app one for a worker or beat. Engines
    and the pool open their connections on first use; a forked child resets the engines
    (`reset_engines`), and redis-py's pool notices the new pid and opens its own connections.
    """

    settings: Settings
    db: Database
    broker: TaskBroker
    redis_pool: redis.ConnectionPool

    @classmethod
    def build(cls, settings: Settings, broker: TaskBroker) -> Services:
        """The services of a process configured by `settings`, sending tasks through `broker`."""
        pool = redis.ConnectionPool.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        return cls(settings, database(settings.database_url), broker, pool)

    def redis(self) -> redis.Redis:
        """A Redis client on the shared pool (closing it returns its connection to the pool)."""
        return redis.Redis(connection_pool=self.redis_pool)
