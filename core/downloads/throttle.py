"""A token bucket for the byte streams Aula copies itself (Drive, direct links): yt-dlp has its
own `ratelimit`. It starts empty, so a transfer of N bytes takes at least N / rate seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

from core.downloads.progress import Progress

MIN_CHUNK = 16 * 1024


class TokenBucket:
    """`take(n)` returns once n bytes fit in `rate` bytes per second (bursts up to `burst`)."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(rate / 8, MIN_CHUNK))
        self.clock, self.sleep = clock, sleep
        self.tokens = 0.0
        self.stamp = clock()

    def take(self, count: int) -> None:
        """Spend `count` tokens, sleeping first for those missing (a debt is paid by waiting)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= count
        if self.tokens < 0:
            wait = -self.tokens / self.rate
            self.sleep(wait)
            self.stamp += wait
            self.tokens = 0.0


def chunk_for(rate: int | None, default: int) -> int:
    """A read size that keeps a capped stream smooth: about an eighth of a second of it."""
    return default if not rate else max(MIN_CHUNK, min(default, rate // 8))


def limited(on_progress: Progress, rate: int | None) -> Progress:
    """`on_progress`, which first waits as long as the bytes since its last call need at `rate`
    (unchanged without a rate): caps any engine that reports after each chunk it writes."""
    if not rate:
        return on_progress
    bucket = TokenBucket(rate)
    seen: list[int | None] = [None]

    def report(done: int, total: int | None, speed: float | None, eta: float | None) -> bool:
        last = seen[0]
        if last is not None and done > last:
            bucket.take(done - last)
        seen[0] = done
        return on_progress(done, total, speed, eta)

    return report
