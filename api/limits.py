"""Rate limits on mutations (RATE_LIMIT_MUTATIONS per client address), counted in Redis."""

from __future__ import annotations

import math
import time

from flask import Flask, Response, g, request
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit

from api.errors import envelope
from api.security import MUTATING, run_early

KEY_PREFIX = "aula-ratelimit"


def _client_address() -> str:
    # With TRUSTED_PROXIES set, ProxyFix has already put the real client's address here.
    return request.remote_addr or "unknown"


def storage_uri(redis_url: str) -> str:
    """REDIS_URL as the `limits` library names it (kombu's unix:// and redis+socket:// differ)."""
    scheme, _, rest = redis_url.partition("://")
    return f"redis+unix://{rest}" if scheme in ("unix", "redis+socket") else redis_url


def _remember_breach(limit: RequestLimit) -> None:
    g.rate_limit = limit


def _too_many(error: RateLimitExceeded) -> Response:
    limit: RequestLimit | None = g.get("rate_limit")
    retry_after = 1
    if limit is not None:
        # When a slot frees up again (RequestLimit.reset_at adds a second on top of this).
        retry_after = max(1, math.ceil(limit.window[0] - time.time()))
    response = envelope(
        429,
        "rate_limited",
        f"Too many changes from this address ({error.description}); retry later.",
        {"limit": error.description, "retry_after_s": retry_after},
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def make_limiter(app: Flask) -> Limiter | None:
    """The limiter for this app, or None when RATE_LIMIT_MUTATIONS disables it."""
    config = app.extensions["aula.settings"]
    if not config.rate_limit_mutations:
        return None
    return Limiter(
        _client_address,
        application_limits=[config.rate_limit_mutations],
        storage_uri=storage_uri(config.redis_url),
        storage_options={"socket_connect_timeout": 1, "socket_timeout": 1},
        key_prefix=KEY_PREFIX,
        strategy="sliding-window-counter",
        # Count every mutation attempt, routed or not (Flask-Limiter skips requests without one).
        request_identifier=lambda: request.endpoint or "unrouted",
        on_breach=_remember_breach,
        headers_enabled=False,
        # Redis down: count in this process's memory (a warning is logged once) until it is back,
        # rather than failing every mutation.
        in_memory_fallback_enabled=True,
        in_memory_fallback=[config.rate_limit_mutations],
    )


def register_limits(app: Flask) -> None:
    """Limit mutations per client address; reads and streams are never limited."""
    limiter = make_limiter(app)
    if limiter is None:
        return
    limiter.request_filter(lambda: request.method not in MUTATING)
    limiter.init_app(app)
    # Moved before the admin check so failed token guesses count too (the hook Flask-Limiter
    # registers; pinned version, and test_guessing_the_token_is_limited_too guards it).
    run_early(app, limiter._check_request_limit)
    app.register_error_handler(RateLimitExceeded, _too_many)
    app.extensions["aula.limiter"] = limiter
