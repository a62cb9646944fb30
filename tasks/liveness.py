"""Worker liveness and the reaper: the messages of dead workers go back to their queue.

The broker's visibility timeout must outlast the longest task, so it cannot be what brings back
the work of a worker that died (SIGKILL, OOM, a machine gone). Instead a thread in each worker's
main process writes, every WORKER_LIVENESS_INTERVAL_S, which deliveries this worker instance
holds (running, reserved and ETA/countdown messages alike: kombu's unacknowledged set of the
task channel plus Celery's request lists), valid for WORKER_LIVENESS_TTL_S. An instance is the
node name plus pid plus a random boot id, so a worker restarted under the same name is new.

Every round, one worker (whoever takes a short Redis lock) reaps: an unacknowledged message that
no live instance claims and that was delivered more than a TTL ago is handed back to the head of
its queue. The delivery age keeps a message just taken, and not yet in its worker's next
liveness write, from being stolen; the claim keeps a live task, however long or silent, from
being delivered twice. The same round re-sends single-instance tasks whose message is gone.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from typing import Any

import redis
from celery import signals
from celery.worker import state

from core.base.services import Services
from core.base.settings import Settings
from core.downloads import dispatch, reconcile
from core.jobs import leases, liveness, unacked
from core.jobs import records as jobs
from tasks.app import app, services

log = logging.getLogger(__name__)

_stop = threading.Event()
_instance: dict[str, str] = {}


def held_tags(consumer: Any) -> tuple[set[str], set[str]]:
    """Delivery tags this worker holds (its task channel's unacked set and every request) and
    the task ids of its requests."""
    channel = getattr(getattr(consumer, "task_consumer", None), "channel", None)
    tags = unacked.held_tags(channel)
    task_ids: set[str] = set()
    # celery.worker.state's request sets (celery-types' stub omits scheduled_requests).
    sets = ("active_requests", "reserved_requests", "scheduled_requests")
    for requests in (getattr(state, name) for name in sets):
        for request in _copy(requests):
            tag = _tag_of(request)
            if tag:
                tags.add(tag)
            if getattr(request, "id", None):
                task_ids.add(str(request.id))
    return tags, task_ids


def _copy(requests: Any) -> list[Any]:
    for _ in range(unacked.SNAPSHOT_TRIES):
        try:  # a WeakSet the consumer may grow while this thread copies it
            return list(requests)
        except RuntimeError:
            continue
    return []


def _tag_of(request: Any) -> str | None:
    info = getattr(request, "delivery_info", None) or {}
    message = getattr(request, "message", None)
    tag = info.get("delivery_tag") or getattr(message, "delivery_tag", None)
    return str(tag) if tag else None


@signals.worker_init.connect
def _name_worker(sender: Any = None, **_: Any) -> None:
    # Before the pool forks: its children inherit the prefix of their deliveries' owner tokens.
    leases.set_worker(getattr(sender, "hostname", None) or "worker")


@signals.worker_ready.connect
def _start(sender: Any = None, **_: Any) -> None:
    if "id" in _instance:
        return  # the consumer restarted after a broker outage: the thread runs already
    settings = services.settings
    hostname = getattr(sender, "hostname", None) or "worker"
    instance = f"{hostname}:{os.getpid()}:{secrets.token_hex(4)}"
    _instance["id"] = instance
    thread = threading.Thread(
        target=_run, args=(sender, instance, settings), name="aula-liveness", daemon=True
    )
    thread.start()
    log.info("liveness started", extra={"instance": instance})


@signals.worker_shutdown.connect
def _stop_liveness(**_: Any) -> None:
    # Runs after the consumer closed (kombu has handed its unacked messages back): this
    # instance holds nothing now.
    _stop.set()
    instance = _instance.get("id")
    if instance:
        client = services.redis()
        try:
            liveness.withdraw(client, instance)
        except redis.RedisError as error:
            log.warning("could not withdraw liveness: %s", type(error).__name__)
        finally:
            client.close()


def _run(consumer: Any, instance: str, settings: Settings) -> None:
    client = services.redis()
    reaper = Reaper(settings, instance)
    interval = settings.worker_liveness_interval_s
    about = {"host": getattr(consumer, "hostname", ""), "pid": os.getpid()}
    ttl = settings.worker_liveness_ttl_s
    while True:
        tags: set[str] = set()
        task_ids: set[str] = set()
        try:  # first, and apart: the database answers while Redis may not (an outage)
            tags, task_ids = held_tags(consumer)
            leases.renew(services.db, leases.worker_prefix(), task_ids, ttl)
        except Exception as error:
            log.warning("lease renewal failed: %s: %s", type(error).__name__, error)
        try:
            liveness.publish(client, instance, tags, ttl, task_ids, **about)
            if liveness.take_reaper_turn(client, instance, interval):
                reaper.round(client)
        except Exception as error:  # a broker outage: keep trying, the next round may work
            log.warning("liveness round failed: %s: %s", type(error).__name__, error)
            reaper.reset()
        if _stop.wait(interval):
            return


def _app_connection() -> Any:
    # The broker options the consumers use (key names, prefix).
    return app.connection_for_write()


class Reaper:
    """One round hands back the messages of dead workers and re-sends lost single tasks."""

    def __init__(self, settings: Settings, instance: str) -> None:
        self.settings = settings
        self.instance = instance
        self._connection: Any = None

    def channel(self) -> Any:
        """A kombu channel on a connection of our own (the consumer's is not thread-safe)."""
        if self._connection is None:
            self._connection = _app_connection()
        return self._connection.default_channel

    def reset(self) -> None:
        """Drop the connection after an error; the next round opens a new one."""
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception as error:
                log.debug("closing the reaper's connection failed: %s", error)
        self._connection = None

    def round(self, client: Any) -> int:
        """Hand back the messages of dead workers, then re-send lost single tasks."""
        claims = liveness.claims(client)
        channel = self.channel()
        ttl, interval = (
            self.settings.worker_liveness_ttl_s,
            self.settings.worker_liveness_interval_s,
        )
        returned = liveness.reap(channel, client, claims, ttl, interval, self.instance)
        find_and_resend_lost(services, client, channel, claims)
        try:  # waiting downloads whose window opened or whose slot freed
            dispatch.dispatch(services)
        except Exception as error:  # never at the cost of reaping: the next round tries again
            log.warning("dispatching waiting downloads failed: %s", type(error).__name__)
        return returned


def find_and_resend_lost(
    services: Services, client: Any, channel: Any, claims: liveness.Claims
) -> int:
    """Send again the single-instance tasks whose message has been nowhere for a TTL."""
    present = unacked.present_task_ids(channel, jobs.QUEUES) | claims.task_ids
    now = liveness.server_time(client)
    ttl = services.settings.worker_liveness_ttl_s
    lost = reconcile.lost_tasks(services.db, client, present, now, ttl)
    if not lost:
        return 0
    return reconcile.resend_lost(services, client, lost)
