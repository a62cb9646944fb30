"""Web metrics at /metrics: requests by URL rule, summed over gunicorn's workers, and live gauges.

Every request is timed and counted by `observe`, an after-request stage, into two metrics made
with prometheus-flask-exporter (its defaults off; label functions that bound the method and the
URL rule). The exporter's per-view wrappers are not used: they ran `inspect.getfullargspec` on each
label function on every request, about a tenth of a task poll (issue 29). Under gunicorn the
master points PROMETHEUS_MULTIPROC_DIR at a fresh folder before it forks (gunicorn.conf.py):
every worker writes its samples there and whichever worker answers a scrape serves the sum.
Without that variable (the Flask test client, `flask run`) each app keeps its own registry. The
gauges are read when scraped, by `AulaCollector`, from `core.ops.gauges`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

from core import __version__
from core.base.services import Services
from core.google import connections
from core.ops import gauges

log = logging.getLogger(__name__)
# Label values are bounded: a known method or "other", a URL rule or UNMATCHED, a status code.
# (The exporter's own default metrics label the raw method, FOOBAR and PROPFIND included, and an
# unmatched rule as "None": they stay off.)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, float("inf"))
REDIS_TIMEOUT_S = 0.5
DURATION = "flask_http_request_duration_seconds"
TOTAL = "flask_http_request_total"
METRICS_KEY = "aula.request_metrics"


@dataclass(frozen=True)
class RequestMetrics:
    """The exporter that made them, and the two metrics `observe` writes."""

    exporter: PrometheusMetrics
    duration: Histogram
    total: Counter
    # (method, rule, status) -> the two labelled children: `labels()` checks and orders its
    # arguments on every call; the label values are bounded, and so is this.
    children: dict[tuple[str, str, str], tuple[Histogram, Counter]] = field(default_factory=dict)

    def labelled(self, method: str, rule: str, status: str) -> tuple[Histogram, Counter]:
        """The duration histogram and the request counter for these label values."""
        key = (method, rule, status)
        found = self.children.get(key)
        if found is None:
            found = self.children[key] = (
                self.duration.labels(method=method, url_rule=rule, status=status),
                self.total.labels(method=method, status=status),
            )
        return found


_process_metrics: dict[int, RequestMetrics] = {}


def multiprocess_dir() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR, the folder shared by the processes of one server, if set."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _method() -> str:
    return request.method if request.method in METHODS else "other"


def _rule() -> str:
    return request.url_rule.rule if request.url_rule is not None else UNMATCHED


def _status(response: Response) -> str:
    return str(response.status_code)


class _KeepingRegistry(CollectorRegistry):
    """Keeps what the exporter registers, so `observe` writes into the very same metrics."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[Collector] = []

    def register(self, collector: Collector) -> None:
        super().register(collector)
        self.kept.append(collector)


def _request_metrics(registry: _KeepingRegistry, multiprocess: bool) -> RequestMetrics:
    # The Gunicorn class (multiprocess mode) with no endpoint of its own: /metrics is ours, as
    # the exporter's scrape could not add the gauges that AulaCollector reads at scrape time.
    exporter: PrometheusMetrics = (
        GunicornInternalPrometheusMetrics(app=None, path=None, export_defaults=False,
                                          registry=registry)
        if multiprocess
        else PrometheusMetrics(app=None, path=None, export_defaults=False, registry=registry)
    )  # fmt: skip
    exporter.histogram(
        DURATION,
        "Time to answer a request (until its headers, for a streamed body), by URL rule.",
        labels={"method": _method, "url_rule": _rule, "status": _status},
        buckets=BUCKETS,
    )
    exporter.counter(
        TOTAL, "Requests answered, by method and status.",
        labels={"method": _method, "status": _status},
    )  # fmt: skip
    made = registry.kept
    return RequestMetrics(
        exporter,
        next(metric for metric in made if isinstance(metric, Histogram)),
        next(metric for metric in made if isinstance(metric, Counter)),
    )


def _shared_metrics(folder: str) -> RequestMetrics:
    # One set per process: every app of a worker process writes to that process's files.
    pid = os.getpid()
    if pid not in _process_metrics:
        Path(folder).mkdir(parents=True, exist_ok=True)
        if values.ValueClass.__name__ != "MmapedValue":
            # prometheus_client was imported before the folder was set: switch to files now.
            values.ValueClass = values.get_value_class()
        _process_metrics.clear()
        _process_metrics[pid] = _request_metrics(_KeepingRegistry(), multiprocess=True)
    return _process_metrics[pid]


def instrument(app: Flask, services: Services) -> None:
    """Serve /metrics; `observe` (a pipeline stage) times and counts every request."""
    folder = multiprocess_dir()
    registry: _KeepingRegistry | None = None
    if folder:
        metrics = _shared_metrics(folder)
    else:
        registry = _KeepingRegistry()
        metrics = _request_metrics(registry, multiprocess=False)
        registry.register(AulaCollector(services))

    app.extensions[METRICS_KEY] = metrics
    app.add_url_rule("/metrics", "metrics", _scrape_view(services, registry))


def observe(response: Response) -> Response:
    """Count and time a request, from the clock api.security.start_request started until its
    headers: views, 404 and 405 from routing, Flask's own OPTIONS answer and early answers of a
    request pipeline stage (401, 413, 429...) alike."""
    metrics: RequestMetrics = current_app.extensions[METRICS_KEY]
    method, rule, status = _method(), _rule(), _status(response)
    began = g.get("started")
    elapsed = time.perf_counter() - began if began is not None else 0.0
    duration, total = metrics.labelled(method, rule, status)
    duration.observe(elapsed)
    total.inc()
    return response


def _scrape_view(services: Services, registry: CollectorRegistry | None) -> Callable[[], Response]:
    def scrape() -> Response:
        if registry is not None:
            body = generate_latest(registry)
        else:
            # A fresh registry per scrape: the files of every worker, dead ones included.
            merged = CollectorRegistry()
            MultiProcessCollector(merged)
            merged.register(AulaCollector(services))
            body = generate_latest(merged)
        return Response(body, mimetype=None, content_type=CONTENT_TYPE_LATEST)

    return scrape


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


class AulaCollector(Collector):
    """Gauges read at scrape time; a source that fails (Redis, database) is left out, not raised."""

    def __init__(self, services: Services) -> None:
        self.settings = services.settings
        self.db = services.db

    def collect(self) -> Iterator[Metric]:
        info = _gauge("aula_web_info", "Aula web process; the value is always 1.", ["version"])
        info.add_metric([__version__], 1)
        yield info
        yield from self._database()
        yield from self._broker()
        yield from self._disk()

    def _database(self) -> Iterator[Metric]:
        up = _gauge("aula_database_up", "1 if the database answered this scrape's queries.")
        try:
            downloads = gauges.downloads_by_state(self.db)
            items = gauges.catalog_items_by_source(self.db)
            ages = gauges.last_success_ages(self.db)
        except Exception as error:
            log.warning("metrics: database unavailable: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _labelled("aula_downloads", "Downloads by state.", "state", downloads)
        yield _labelled("aula_catalog_items", "Catalog items by source.", "source", items)
        yield _labelled(
            "aula_google_connections", "Google connections by status.", "status",
            connections.counts_by_status(self.db),
        )  # fmt: skip
        yield _labelled(
            "aula_last_success_age_seconds",
            "Seconds since the task last succeeded (absent if it never did).",
            "task",
            ages,
        )

    def _broker(self) -> Iterator[Metric]:
        up = _gauge("aula_broker_up", "1 if Redis answered this scrape's reads.")
        client = gauges.redis_client(self.settings.redis_url, REDIS_TIMEOUT_S)
        try:
            depths = gauges.queue_depths(client)
            heartbeat = gauges.beat_heartbeat(client)
        except Exception as error:
            log.warning("metrics: broker unavailable: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        finally:
            client.close()
        up.add_metric([], 1)
        yield up
        yield _labelled(
            "aula_queue_depth", "Messages waiting in each Celery queue.", "queue", depths
        )
        yield from _heartbeat(heartbeat)

    def _disk(self) -> Iterator[Metric]:
        try:
            free, floor = gauges.disk_free(
                self.settings.download_dir, self.settings.disk_free_floor_mb
            )
        except OSError as error:
            log.warning("metrics: disk unreadable: %s", type(error).__name__)
            return
        yield _single("aula_disk_free_bytes", "Free bytes on DOWNLOAD_DIR's filesystem.", free)
        yield _single(
            "aula_disk_free_floor_bytes", "Free space below which downloads are refused.", floor
        )


def _labelled(name: str, documentation: str, label: str, numbers: dict[str, Any]) -> Metric:
    family = _gauge(name, documentation, [label])
    for value, number in numbers.items():
        family.add_metric([value], float(number))
    return family


def _single(name: str, documentation: str, number: float) -> Metric:
    family = _gauge(name, documentation)
    family.add_metric([], float(number))
    return family


def _heartbeat(heartbeat: gauges.Heartbeat | None) -> Iterator[Metric]:
    # Declared even without a sample, so a scrape always names what it can export.
    age = _gauge("aula_beat_heartbeat_age_seconds", "Seconds since beat last wrote its heartbeat.")
    interval = _gauge(
        "aula_beat_heartbeat_interval_seconds",
        "The heartbeat period beat announced with its last heartbeat.",
    )
    if heartbeat is not None:
        age.add_metric([], heartbeat.age_s)
        if heartbeat.interval_s is not None:
            interval.add_metric([], heartbeat.interval_s)
    yield age
    yield interval
