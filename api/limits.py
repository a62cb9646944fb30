"""Rate limits per client address, counted in Redis: authorised mutations (RATE_LIMIT_MUTATIONS)
and failed authentications (RATE_LIMIT_AUTH_FAILURES), with the `limits` library directly."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass, field

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from api.errors import envelope
from api.extensions import settings

KEY_PREFIX = "aula-ratelimit"
# Failed sign-ins per username (CONTRACT 8.2), whatever the address: a slow spread-out guess at
# one account stops here, and the real user waits 15 minutes at most, never forever.
SIGN_IN_FAILURES = "5/15minutes"
RECHECK_S = 10.0  # while Redis is unreachable, try it again this often
# In a request's WSGI environ: this mutation was counted under RATE_LIMIT_MUTATIONS already,
# within the limit (api/fast_progress.py counted it, then left the answer to Flask).
COUNTED = "aula.mutation_counted"
log = logging.getLogger(__name__)


def _client_address() -> str:
    # Behind TRUSTED_PROXIES, api.headers has already put the real client's address here.
    return request.remote_addr or "unknown"


def storage_uri(redis_url: str) -> str:
    """REDIS_URL as the `limits` library names it (kombu's unix:// and redis+socket:// differ)."""
    scheme, _, rest = redis_url.partition("://")
    return f"redis+unix://{rest}" if scheme in ("unix", "redis+socket") else redis_url


@dataclass
class Limits:
    """Both limits on one shared storage, falling back to this process's memory while Redis is
    unreachable (a warning is logged once per outage) rather than failing every mutation."""

    storage: Storage
    mutations: list[RateLimitItem]
    auth_failures: list[RateLimitItem]
    _memory: SlidingWindowCounterRateLimiter = field(
        default_factory=lambda: SlidingWindowCounterRateLimiter(MemoryStorage())
    )
    _down: bool = False
    _checked_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._shared = SlidingWindowCounterRateLimiter(self.storage)

    def _limiter(self) -> SlidingWindowCounterRateLimiter:
        if self._down and time.monotonic() - self._checked_at > RECHECK_S:
            self._checked_at = time.monotonic()
            if self._reachable():
                log.warning("rate limit storage reachable again: counting in Redis")
                self._down = False
        return self._memory if self._down else self._shared

    def _reachable(self) -> bool:
        try:
            return bool(self.storage.check())
        except Exception:  # whatever the client raises, it is still down
            return False

    def _call(self, hit: bool, item: RateLimitItem, key: str) -> bool:
        limiter = self._limiter()
        try:
            return (
                limiter.hit(item, KEY_PREFIX, key) if hit else limiter.test(item, KEY_PREFIX, key)
            )
        except StorageError as error:
            with self._lock:
                if not self._down:
                    log.warning(
                        "rate limit storage unreachable (%s): counting in this process's memory",
                        type(error.storage_error).__name__,
                    )
                self._down, self._checked_at = True, time.monotonic()
            return self._call(hit, item, key)

    def retry_after(self, item: RateLimitItem, key: str) -> int:
        """Seconds until `key` may try again under `item` (at least one)."""
        try:
            reset = self._limiter().get_window_stats(item, KEY_PREFIX, key).reset_time
        except StorageError:
            reset = time.time() + item.get_expiry()
        return max(1, min(item.get_expiry(), math.ceil(reset - time.time())))

    def over(self, items: list[RateLimitItem], key: str, *, hit: bool) -> RateLimitItem | None:
        """The first of `items` that `key` is past (counting this request when `hit`)."""
        for item in items:
            if not self._call(hit, item, key):
                return item
        return None


def _too_many(
    limits_: Limits, item: RateLimitItem, key: str, what: str, where: str = "from this address"
) -> Response:
    retry_after = limits_.retry_after(item, key)
    described = str(item)
    response = envelope(
        429,
        "rate_limited",
        f"Too many {what} {where} ({described}); retry later.",
        {"limit": described, "retry_after_s": retry_after},
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def _limits() -> Limits:
    found: Limits = current_app.extensions["aula.limiter"]
    return found


def configured(app: Flask) -> bool:
    """Whether this app has limits (the pipeline installs the stages below only then)."""
    return "aula.limiter" in app.extensions


def refuse_after_failures() -> Response | None:
    """429 once this address is past RATE_LIMIT_AUTH_FAILURES (the pipeline: MUTATING only)."""
    # Runs before the token check: once past the limit no token is checked at all. Without
    # people or ADMIN_TOKEN no credential is checked, so none can fail: no Redis round trip
    # (under load it was most of a progress save's time, issue 26).
    limits_ = _limits()
    if not limits_.auth_failures or not (g.get("people") or settings().admin_token):
        return None
    key = "auth:" + _client_address()
    item = limits_.over(limits_.auth_failures, key, hit=False)
    return _too_many(limits_, item, key, "failed authentications") if item else None


def count_mutation() -> Response | None:
    """Count a mutation; 429 past RATE_LIMIT_MUTATIONS (the pipeline: MUTATING only)."""
    # Runs after the admin check: only mutations that passed it are counted here.
    limits_ = _limits()
    if not limits_.mutations or request.environ.get(COUNTED):
        return None
    key = "mutation:" + _client_address()
    item = limits_.over(limits_.mutations, key, hit=True)
    return _too_many(limits_, item, key, "changes") if item else None


def count_failure(response: Response) -> Response:
    """Count a 401 towards RATE_LIMIT_AUTH_FAILURES (the pipeline: MUTATING only)."""
    limits_ = _limits()
    if response.status_code == 401 and limits_.auth_failures:
        limits_.over(limits_.auth_failures, "auth:" + _client_address(), hit=True)
    return response


def _sign_in_key(username: str) -> str:
    # Hashed: a username of any length or alphabet makes one short key.
    return "sign-in:" + hashlib.sha256(username.lower().encode()).hexdigest()


def sign_in_refused(username: str) -> Response | None:
    """429 once `username` has had SIGN_IN_FAILURES failed sign-ins (any address)."""
    limits_: Limits = current_app.extensions["aula.sign_in_limits"]
    key = _sign_in_key(username)
    item = limits_.over(limits_.auth_failures, key, hit=False)
    return _too_many(limits_, item, key, "failed sign-ins", "for this username") if item else None


def count_sign_in_failure(username: str) -> None:
    """Count one failed sign-in of `username`."""
    limits_: Limits = current_app.extensions["aula.sign_in_limits"]
    limits_.over(limits_.auth_failures, _sign_in_key(username), hit=True)


def _storage(redis_url: str) -> Storage:
    storage = storage_from_string(
        storage_uri(redis_url),
        socket_connect_timeout=1,
        socket_timeout=1,
        wrap_exceptions=True,
    )
    if not isinstance(storage, Storage):  # storage_uri() names a synchronous storage
        raise TypeError(f"{type(storage).__name__} is not a synchronous limits storage")
    return storage


def make_limits(app: Flask) -> Limits | None:
    """The limits of this app, or None when both settings disable them."""
    config = app.extensions["aula.settings"]
    if not config.rate_limit_mutations and not config.rate_limit_auth_failures:
        return None
    storage = _storage(config.redis_url)
    return Limits(
        storage,
        parse_many(config.rate_limit_mutations) if config.rate_limit_mutations else [],
        parse_many(config.rate_limit_auth_failures) if config.rate_limit_auth_failures else [],
    )


def register_limits(app: Flask) -> None:
    """Keep this app's limits, if any; the pipeline (api/pipeline.py) runs the counting stages,
    for mutations only: reads and streams are never counted."""
    limits_ = make_limits(app)
    if limits_ is not None:
        app.extensions["aula.limiter"] = limits_
    config = app.extensions["aula.settings"]
    app.extensions["aula.sign_in_limits"] = Limits(
        _storage(config.redis_url), [], parse_many(SIGN_IN_FAILURES)
    )
