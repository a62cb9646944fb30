"""Single-instance beat: only the beat that holds the Redis lock runs the schedule.

`celery -A tasks beat` uses GuardedScheduler (celeryconfig's `beat_scheduler`). Every tick it
renews `aula:beat:lock` (or tries to take it) and, while it holds it, writes the heartbeat and
sends what is due. A beat that cannot take the lock is a standby: it opens no schedule file
(several beats may share one DATA_DIR) and sends nothing; when the running beat dies its lock
expires and a standby takes over within about BEAT_LOCK_TTL_S. Each send is also recorded in
Redis, so the beat that takes over carries on from the last send instead of repeating it. A clean
exit (SIGTERM) releases the lock at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import redis
from celery.beat import PersistentScheduler, ScheduleEntry, SchedulingError
from celery.signals import beat_init

from core.base.locks import Lease
from core.jobs import records as jobs
from core.jobs.taskdefs import single_key
from tasks.app import services

log = logging.getLogger("aula.beat")
# Not celery-redbeat 2.4.2: measured, its standby took over 4.5 s after a SIGKILL (lock 4 s), but it
# writes no heartbeat, locks with an anonymous token under `redbeat:`-prefixed keys (no host:pid),
# and the schedule leaves the file test_beat_guard pins: we would keep most of this module anyway.
LOCK_KEY = "aula:beat:lock"
HEARTBEAT_KEY = "aula:beat:heartbeat"
LAST_RUN_KEY = "aula:beat:last_run"  # hash: schedule entry name -> unix time of its last send
RENEW_EVERY_S = 1.0  # ticks come in bursts when several entries are due: renew at most this often
HEARTBEAT_LIVES = 4  # the heartbeat key expires after this many missed writes


@beat_init.connect
def _stop_between_ticks(sender: Any = None, **_: Any) -> None:
    # Sent from Service.start, after Celery installed its own SIGTERM/SIGINT handler.
    scheduler = getattr(sender, "scheduler", None)
    if isinstance(scheduler, GuardedScheduler):
        signal.signal(signal.SIGTERM, scheduler.request_stop)
        signal.signal(signal.SIGINT, scheduler.request_stop)


class GuardedScheduler(PersistentScheduler):
    """Celery's file-backed scheduler, run only by the holder of the beat lock."""

    # Seconds, a float here: celery-types' stub says int | None, Celery itself takes any number.
    max_interval: float  # type: ignore[assignment]
    _store: Any  # PersistentScheduler's shelve, None until opened (not in celery-types' stub)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        settings = services.settings
        self.interval = settings.beat_heartbeat_interval_s
        self.lock_ttl = settings.beat_lock_ttl_s
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.leading = False
        self._lease: Lease | None = None
        self._renewed_at = float("-inf")
        self._waiting_logged = False
        self._closed = False
        self._ticking = False
        self._stop_requested = False
        super().__init__(*args, **kwargs)
        self.max_interval = min(self.max_interval, self.interval)

    def setup_schedule(self) -> None:
        """Opened only once this beat holds the lock (see `tick`): a standby touches no file."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Renew or take the lock; while held, write the heartbeat and send what is due."""
        self._ticking = True
        try:
            if not self._hold():
                return self.interval
            result: float = super().tick(*args, **kwargs)
            return min(result, self.interval)
        finally:
            self._ticking = False
            if self._stop_requested:
                raise SystemExit()

    def request_stop(self, _signum: int = 0, _frame: Any = None) -> None:
        """SIGTERM/SIGINT: stop between ticks, never inside one.

        Celery's own handler saves the schedule from inside the signal handler, which would reuse
        the Redis connection a tick may be in the middle of; here the handler only interrupts the
        sleep between ticks (or marks the tick to end the loop), and Celery's loop then closes
        the scheduler in its normal `finally`.
        """
        self._stop_requested = True
        if not self._ticking:
            raise SystemExit()

    def apply_async(
        self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        """Send a due task; a single-instance one through jobs.enqueue with its key, so beat's
        run shares a waiting one or becomes the one follow-up of a running one (CONTRACT 8.6)."""
        name, task_kwargs = str(entry.task), dict(entry.kwargs or {})
        key = single_key(name, task_kwargs)
        if key is None:
            return super().apply_async(entry, producer, advance, **kwargs)
        entry = self.reserve(entry) if advance else entry
        try:
            return jobs.enqueue(services.db, self.app, name, task_kwargs, single=key)
        except Exception as error:
            raise SchedulingError(f"Couldn't apply scheduled task {entry.name}: {error}") from None

    def reserve(self, entry: ScheduleEntry) -> Any:
        """Advance `entry` and record the send in Redis before it happens (at most once)."""
        # Celery returns the next ScheduleEntry; celery-types' stub says event_t.
        new_entry = cast(ScheduleEntry, super().reserve(entry))
        sent_at = new_entry.last_run_at
        if sent_at is None:  # next(entry) stamps the send; without a stamp there is none
            raise RuntimeError("Celery's next(entry) left last_run_at unset")
        try:
            stamp = sent_at.timestamp()
            self._client().hset(LAST_RUN_KEY, new_entry.name, repr(stamp))
        except redis.RedisError as error:  # the send itself will fail and be logged by Celery
            log.warning("beat could not record a send: %s", type(error).__name__)
        return new_entry

    def close(self) -> None:
        """Save the schedule, then release the lock at once so a standby takes over."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._store is not None:
                super().close()
        finally:
            released = self._release()
            log.info("beat stopped", extra={"released_lock": released, "pid": self.pid})

    # -- the lock -----------------------------------------------------------------------------

    def _client(self) -> redis.Redis:
        return self._lock_lease().client

    def _lock_lease(self) -> Lease:
        if self._lease is None:
            client = services.redis()
            token = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:12]}"
            self._lease = Lease(client, LOCK_KEY, self.lock_ttl, token)
        return self._lease

    def _hold(self) -> bool:
        if self.leading and time.monotonic() - self._renewed_at < RENEW_EVERY_S:
            return True
        try:
            held = self._lock_lease().hold()
        except redis.RedisError as error:
            log.warning("beat cannot reach Redis for its lock: %s", type(error).__name__)
            held = False
        if held:
            self._renewed_at = time.monotonic()
            if not self.leading:
                self._lead()
            self._heartbeat()
        elif self.leading:
            self._step_down()
        else:
            self._wait()
        return held

    def _lead(self) -> None:
        log.info("beat leading: it holds %s and runs the schedule", LOCK_KEY, extra=self._me())
        PersistentScheduler.setup_schedule(self)
        self._continue_from_last_sends()
        self._heap = None  # rebuilt from the merged entries on this tick
        self.leading, self._waiting_logged = True, False

    def _step_down(self) -> None:
        log.warning("beat lost %s: standing by and sending nothing", LOCK_KEY, extra=self._me())
        self.leading = False
        if self._store is not None:
            PersistentScheduler.close(self)
            self._store, self._heap = None, None

    def _wait(self) -> None:
        if self._waiting_logged:
            return
        self._waiting_logged = True
        holder = None
        with contextlib.suppress(redis.RedisError):
            holder = self._lock_lease().holder()
        log.info(
            "beat standby: another beat holds %s; waiting to take over",
            LOCK_KEY,
            extra={**self._me(), "holder": holder},
        )

    def _release(self) -> bool:
        was_leading, self.leading = self.leading, False
        if self._lease is None or not was_leading:
            return False
        try:
            return self._lease.release()
        except redis.RedisError:
            return False  # it expires on its own within BEAT_LOCK_TTL_S
        finally:
            self._lease.client.close()

    # -- state shared between beats -------------------------------------------------------------

    def _heartbeat(self) -> None:
        payload = {"ts": time.time(), "interval_s": float(self.interval), "pid": self.pid,
                   "host": self.host}  # fmt: skip
        ttl_ms = int(self.interval * HEARTBEAT_LIVES * 1000)
        try:
            self._client().set(HEARTBEAT_KEY, json.dumps(payload), px=ttl_ms)
        except redis.RedisError as error:
            log.warning("beat could not write its heartbeat: %s", type(error).__name__)

    def _continue_from_last_sends(self) -> None:
        """Take each entry's last send from Redis when it is newer than the file's."""
        try:
            stamps = self._client().hgetall(LAST_RUN_KEY)
        except redis.RedisError as error:
            log.warning("beat could not read the last sends: %s", type(error).__name__)
            return
        for name, entry in self.schedule.items():
            raw = stamps.get(name.encode())
            if raw is None:
                continue
            sent = datetime.fromtimestamp(float(raw), tz=UTC)
            last = entry.last_run_at
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            if last is None or last < sent:
                entry.last_run_at = sent

    def _me(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid}
