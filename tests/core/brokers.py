"""Test helpers: settings from an env dict, a dead broker."""

from __future__ import annotations

from typing import Any

from core.base.settings import Settings, load_settings
from tests.helpers import free_port


def closed_redis_url() -> str:
    """A Redis URL on a loopback port nothing listens on."""
    return f"redis://127.0.0.1:{free_port()}/0"


def env_settings(env: dict[str, str], **extra: Any) -> Settings:
    """Settings built from an environment dict, plus overrides."""
    values: dict[str, Any] = {key.lower(): value for key, value in env.items()}
    values.update(extra)
    return load_settings(**values)
