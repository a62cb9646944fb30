"""Celery configuration: broker, queues and routes, reliability, time limits and the beat schedule."""

from kombu import Queue

from core.settings import get_settings

_settings = get_settings()

broker_url = _settings.redis_url
result_backend = _settings.redis_url
broker_connection_retry_on_startup = True
broker_transport_options = {
    # Unacked messages return to the queue after this long: it must exceed the longest task.
    "visibility_timeout": _settings.broker_visibility_timeout_s,
}
result_backend_transport_options = {"visibility_timeout": _settings.broker_visibility_timeout_s}
result_expires = _settings.result_expires_s

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

task_queues = (
    Queue("default", routing_key="default"),
    Queue("downloads", routing_key="downloads"),
)
task_default_queue = "default"
task_default_routing_key = "default"
# Long downloads get their own queue so they never block a catalog sync.
task_routes = {"downloads.*": {"queue": "downloads", "routing_key": "downloads"}}

# A task is acknowledged only once it has run; a worker that dies hands it back.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_track_started = True
task_time_limit = _settings.task_time_limit_s
task_soft_time_limit = max(_settings.task_time_limit_s - 30, 5)
worker_concurrency = _settings.worker_concurrency
worker_max_tasks_per_child = 200
worker_hijack_root_logger = False
worker_send_task_events = True
task_send_sent_event = True

beat_schedule = {
    "maintenance.cleanup": {
        "task": "maintenance.cleanup",
        "schedule": float(_settings.cleanup_interval_s),
    },
}
beat_schedule_filename = str(_settings.data_dir / "celerybeat-schedule")
