"""Test helpers: settings from an env dict, a broker database no worker consumes, a dead broker."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from core.settings import Settings, load_settings
from tests.helpers import free_port

# The session's `worker` fixture consumes the broker's database 0; messages sent to this one stay
# in their Redis list whatever other tests started, so their queue can be inspected.
QUIET_REDIS_DB = 13


def quiet_redis_url(redis_url: str) -> str:
    """`redis_url` moved to a Redis database that no worker listens on."""
    return urlsplit(redis_url)._replace(path=f"/{QUIET_REDIS_DB}").geturl()


def closed_redis_url() -> str:
    """A Redis URL on a loopback port nothing listens on."""
    return f"redis://127.0.0.1:{free_port()}/0"


def env_settings(env: dict[str, str], **extra: Any) -> Settings:
    """Settings built from an environment dict, plus overrides."""
    values: dict[str, Any] = {key.lower(): value for key, value in env.items()}
    values.update(extra)
    return load_settings(**values)
