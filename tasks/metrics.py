"""Worker metrics, summed over the prefork pool's processes (prometheus_client multiprocess mode).

`start()` runs in the worker's main process before the pool forks: it points
PROMETHEUS_MULTIPROC_DIR at a fresh folder before any metric exists, so every child writes its
samples there and the main process serves their sum on WORKER_METRICS_PORT.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from core.jobs.records import TASK_NAMES
from core.jobs.taskdefs import TaskState

log = logging.getLogger(__name__)
_started: dict[str, float] = {}
_metrics: dict[str, Any] = {}
_children: dict[tuple[str, ...], Any] = {}


def start(data_dir: Path, port: int, address: str) -> None:
    """Prepare the multiprocess folder, define the metrics and serve them on `address`:`port`
    (port 0 = off)."""
    _prepare_folder(data_dir)
    _define_metrics()
    if port:
        _serve(port, address)


def _prepare_folder(data_dir: Path) -> None:
    # Host and pid: worker containers sharing one DATA_DIR volume often have the same pid.
    own = data_dir / "metrics" / f"worker-{socket.gethostname()}-{os.getpid()}"
    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or own)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    from prometheus_client import values

    # Celery's command line may have imported prometheus_client already (Flower's command
    # plugin does): pick the value class again now that the folder is set.
    values.ValueClass = values.get_value_class()


def _define_metrics() -> None:
    from prometheus_client import Counter, Gauge, Histogram

    _children.clear()
    _metrics["duration"] = Histogram(
        "celery_task_duration_seconds",
        "Wall time of a task run, by task name.",
        ["task"],
        buckets=(0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200, float("inf")),
    )
    _metrics["jobs"] = Counter("download_jobs_total", "Download runs by outcome.", ["state"])
    _metrics["bytes"] = Counter("download_bytes_total", "Bytes fetched by downloads.")
    _metrics["download_duration"] = Histogram(
        "download_duration_seconds",
        "Wall time of one download run.",
        buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 21600, float("inf")),
    )
    _metrics["active"] = Gauge(
        "active_downloads", "Downloads running now.", multiprocess_mode="livesum"
    )
    _metrics["runs"] = Counter(
        "celery_task_runs_total", "Task runs by name and outcome.", ["task", "state"]
    )
    _metrics["deliveries"] = Counter(
        "webhook_deliveries_total",
        "Webhook delivery attempts by outcome: delivered, retry, failed (final), waiting.",
        ["state"],
    )
    # Outcomes start at zero, so that increase() and the alerts see a first failure (a series
    # born at 1 shows no increase) and a scrape names every metric before any task ran.
    for state in ("succeeded", "failed", "retried", "canceled"):
        _metrics["jobs"].labels(state=state)
    for outcome in ("delivered", "retry", "failed"):
        _metrics["deliveries"].labels(state=outcome)
    for name in TASK_NAMES:
        for outcome in (TaskState.SUCCESS, TaskState.FAILURE):
            _metrics["runs"].labels(task=name, state=outcome)


def _serve(port: int, address: str) -> None:
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    try:
        start_http_server(port, addr=address, registry=registry)
        log.info("worker metrics on %s port %d", address, port)
    except OSError as error:
        log.warning("worker metrics port %d unavailable: %s", port, error)


def task_started(task_id: str) -> None:
    _started[task_id] = time.monotonic()


def task_finished(task_id: str, name: str, state: str | None) -> None:
    """Observe the run's duration and count its outcome."""
    began = _started.pop(task_id, None)
    if not _metrics:
        return
    if began is not None:
        _child("duration", name).observe(time.monotonic() - began)
    _child("runs", name, state or "UNKNOWN").inc()


def _child(metric: str, *labels: str) -> Any:
    """The labelled child of `metric`, looked up once per process (labels() takes a lock and
    checks its arguments on every call: per task, that was a part of the worker's overhead)."""
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = _metrics[metric].labels(*labels)
    return child


def process_exited(pid: int) -> None:
    """Forget live gauges of a pool child that exited."""
    if _metrics:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def download_started() -> None:
    if _metrics:
        _metrics["active"].inc()


def download_finished() -> None:
    if _metrics:
        _metrics["active"].dec()


def download_bytes(count: int) -> None:
    if _metrics:
        _metrics["bytes"].inc(count)


def download_ended(state: str, seconds: float) -> None:
    """Count a download run's outcome and time it."""
    if _metrics:
        _metrics["jobs"].labels(state=state).inc()
        _metrics["download_duration"].observe(seconds)


def delivery_ended(outcome: str) -> None:
    """Count one webhook delivery attempt by outcome."""
    if _metrics and outcome in ("delivered", "retry", "failed", "waiting"):
        _metrics["deliveries"].labels(state=outcome).inc()
