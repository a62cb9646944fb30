"""Test helpers: settings from an env dict, a dead broker."""

from __future__ import annotations

import socket
from typing import Any

from core.base.settings import Settings, load_settings

# Bound and never listening: a connection there is refused, and no server that another test (or
# another xdist worker) starts on a "free" port can take it meanwhile.
_CLOSED: list[socket.socket] = []


def closed_redis_url() -> str:
    """A Redis URL on a loopback port nothing listens on (held for the rest of the session)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _CLOSED.append(sock)
    return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


def env_settings(env: dict[str, str], **extra: Any) -> Settings:
    """Settings built from an environment dict, plus overrides."""
    values: dict[str, Any] = {key.lower(): value for key, value in env.items()}
    values.update(extra)
    return load_settings(**values)
