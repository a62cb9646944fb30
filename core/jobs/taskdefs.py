"""The task contract, defined once: every task name, the queue it runs on, and beat's schedule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.base.settings import Settings
from core.base.sources import Source


class QueueName(StrEnum):
    """The Celery queues (each a Redis list of that name, see core.jobs.unacked)."""

    DEFAULT = "default"
    DOWNLOADS = "downloads"  # long downloads on their own, so they never block a catalog sync
    MEDIA = "media"  # ffmpeg conversions: a long transcode never delays downloads or syncs


class TaskName(StrEnum):
    """The tasks a worker runs in production, by the name they are sent with."""

    CATALOG_REBUILD = "catalog.rebuild"
    CATALOG_SYNC = "catalog.sync"
    DOWNLOADS_FETCH = "downloads.fetch"
    CLASSROOM_SYNC = "classroom.sync"
    MAINTENANCE_CLEANUP = "maintenance.cleanup"
    NOTIFICATIONS_DELIVER = "notifications.deliver"
    MEDIA_CONVERT = "media.convert"


class TaskState(StrEnum):
    """Where a task record is in its life (Celery's state names, and our PROGRESS)."""

    PENDING = "PENDING"
    STARTED = "STARTED"
    PROGRESS = "PROGRESS"
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVOKED = "REVOKED"


class TestTaskName(StrEnum):
    """Test-only tasks: registered when ENABLE_TEST_TASKS is set, never in production."""

    __test__ = False  # not a pytest test class

    SLEEP = "testing.sleep"
    FFMPEG = "testing.ffmpeg"
    KILL_WORKER = "testing.kill_worker"


# Every task not named here runs on the default queue.
QUEUE_OF: Mapping[str, QueueName] = {
    TaskName.DOWNLOADS_FETCH: QueueName.DOWNLOADS,
    TaskName.MEDIA_CONVERT: QueueName.MEDIA,
}

DRIVE = {"source": Source.DRIVE.value}  # catalog.sync's kwargs: the Drive changes feed
LOCAL = {"source": Source.LOCAL.value}  # catalog.rebuild's kwargs: the media roots


@dataclass(frozen=True)
class BeatEntry:
    """One entry of beat's schedule: `task` every `interval` seconds (a Settings field)."""

    name: str
    task: TaskName
    interval: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    zero_turns_off: bool = False
    only_if: str | None = None  # a Settings field that must be non-empty for the entry to run


BEAT_ENTRIES = (
    BeatEntry("catalog.sync", TaskName.CATALOG_SYNC, "catalog_sync_interval_s", DRIVE),
    BeatEntry("maintenance.cleanup", TaskName.MAINTENANCE_CLEANUP, "cleanup_interval_s"),
    BeatEntry(
        "classroom.sync", TaskName.CLASSROOM_SYNC, "classroom_sync_interval_s", zero_turns_off=True
    ),
    # Not catalog.sync, which the contract defines as Drive's changes feed: a rebuild of source
    # local already leaves the catalog holding exactly what the roots hold, and is incremental.
    BeatEntry(
        "catalog.rebuild.local",
        TaskName.CATALOG_REBUILD,
        "local_scan_interval_s",
        LOCAL,
        zero_turns_off=True,
        only_if="media_roots",  # no roots, nothing to rescan: no task record every period
    ),
)


# Tasks of which one runs at a time per key (CONTRACT 8.6: a request shares a waiting one, or
# gets the one follow-up of a running one); the key from the task's name and kwargs.
SINGLE_INSTANCE = frozenset(
    {
        TaskName.CATALOG_REBUILD,
        TaskName.CATALOG_SYNC,
        TaskName.CLASSROOM_SYNC,
        TaskName.MAINTENANCE_CLEANUP,
    }
)


def single_key(name: str, kwargs: Mapping[str, Any] | None = None) -> str | None:
    """The single-instance key of task `name` sent with `kwargs` (None: any number may run)."""
    if name not in SINGLE_INSTANCE:
        return None
    source = (kwargs or {}).get("source")
    if name == TaskName.CATALOG_REBUILD:
        return f"{name}:{source or 'all'}"
    if name == TaskName.CATALOG_SYNC:
        return f"{name}:{source or 'drive'}"
    return str(name)


def queue_for(name: str) -> QueueName:
    """The queue a task name is routed to."""
    return QUEUE_OF.get(name, QueueName.DEFAULT)


def task_routes() -> dict[str, dict[str, str]]:
    """Celery's `task_routes`: every task off the default queue, by exact name."""
    return {
        str(name): {"queue": str(queue), "routing_key": str(queue)}
        for name, queue in QUEUE_OF.items()
    }


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's `beat_schedule` under `settings`; an entry whose interval is 0 (off), or whose
    `only_if` setting is empty, is left out."""
    schedule: dict[str, dict[str, Any]] = {}
    for entry in BEAT_ENTRIES:
        interval = getattr(settings, entry.interval)
        if (entry.zero_turns_off and not interval) or (
            entry.only_if and not getattr(settings, entry.only_if)
        ):
            continue
        item: dict[str, Any] = {"task": str(entry.task), "schedule": float(interval)}
        if entry.kwargs:
            item["kwargs"] = dict(entry.kwargs)
        schedule[entry.name] = item
    return schedule
