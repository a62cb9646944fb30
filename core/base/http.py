"""Outbound HTTP: one session factory with timeouts and urllib3 retries, and a rate pacer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from core.base.settings import Settings

RETRY_STATUSES = (429, 500, 502, 503, 504)


class TimeoutSession(requests.Session):
    """A session whose requests always carry a (connect, read) timeout."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def make_retry(total: int, methods: Iterable[str] = ("GET", "HEAD", "OPTIONS")) -> Retry:
    """Exponential backoff on connection errors, 429 and 5xx, honouring Retry-After."""
    return Retry(
        total=total,
        connect=total,
        read=total,
        status=total,
        other=0,
        backoff_factor=0.5,
        backoff_max=30,
        backoff_jitter=0.25,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset(methods),
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def make_session(
    settings: Settings, *, methods: Iterable[str] = ("GET", "HEAD", "OPTIONS"), pool: int = 16
) -> requests.Session:
    """A session with the configured timeouts and retries (idempotent methods by default)."""
    session = TimeoutSession((settings.http_connect_timeout, settings.http_read_timeout))
    adapter = HTTPAdapter(
        max_retries=make_retry(settings.http_retries, methods),
        pool_connections=pool,
        pool_maxsize=pool,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "aula/0.1 (+https://github.com/aula)"
    return session


class Pacer:
    """Spaces calls at least 1/rate seconds apart (thread-safe), like rclone's pacer."""

    def __init__(self, rate_per_s: float) -> None:
        self.interval = 1.0 / rate_per_s
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until the next call may start; return how long it waited."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        delay = start - now
        if delay > 0:
            time.sleep(delay)
        return delay
