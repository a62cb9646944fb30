"""Celery configuration: broker, queues, routes, reliability, time limits and the beat schedule."""

from __future__ import annotations

from typing import Any

from kombu import Queue

from core.base.settings import Settings, get_settings
from core.jobs import taskdefs
from core.jobs.taskdefs import QueueName


def make_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for `settings`: the worker's app and the API's client app both use this."""
    transport = {
        # Unacked messages return to the queue after this long: it must exceed the longest task.
        "visibility_timeout": settings.broker_visibility_timeout_s,
    }
    broker_transport = {
        **transport,
        # Look for messages of dead workers every interval (kombu's default is every 100 s).
        "unacked_restore_interval": settings.broker_restore_interval_s,
        "unacked_restore_throttle": 1,
    }
    return {
        "broker_url": settings.redis_url,
        # Kept: Flower's REST API (/api/task/result, apply, abort) reads it; nothing else does.
        "result_backend": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": broker_transport,
        "result_backend_transport_options": transport,
        "result_expires": settings.result_expires_s,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "task_queues": tuple(Queue(str(queue), routing_key=str(queue)) for queue in QueueName),
        "task_default_queue": str(QueueName.DEFAULT),
        "task_default_routing_key": str(QueueName.DEFAULT),
        "task_routes": taskdefs.task_routes(),
        # Acknowledged only once run: a worker that dies hands its task back.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_track_started": True,
        "task_time_limit": settings.task_time_limit_s,
        "task_soft_time_limit": max(settings.task_time_limit_s - 30, 5),
        "worker_concurrency": settings.worker_concurrency,
        # A pool child is replaced only once a task has left its peak resident size above 512 MiB:
        # replacing one every 200 tasks held the next task up to 3 s while its successor started.
        "worker_max_memory_per_child": 512 * 1024,  # KiB
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "beat_schedule": taskdefs.beat_schedule(settings),
        "beat_schedule_filename": str(settings.data_dir / "celerybeat-schedule"),
        # One beat runs the schedule (the holder of a Redis lock; others stand by), ticking at
        # least every heartbeat interval so it renews its lock and writes its heartbeat.
        "beat_scheduler": "tasks.beat_guard:GuardedScheduler",
        "beat_max_loop_interval": settings.beat_heartbeat_interval_s,
    }


# `app.config_from_object("celeryconfig")` reads these module attributes.
globals().update(make_config(get_settings()))
