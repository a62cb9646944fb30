"""Every metric the alerts and the dashboard use is one that web, a worker or Flower exports."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import flower.events
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.extensions import make_celery_client
from core.base.db import database
from core.jobs import records as jobs
from tests.conftest import settings_from_env
from tests.deploy.promql import alert_rules, dashboard_exprs, metric_names
from tests.e2e.web_process import start_web
from tests.helpers import free_port, private_redis_db, stop_process_group, wait_for
from tests.workers import running_worker

# Prometheus writes `up` for every target itself.
SYNTHETIC = {"up"}
SUFFIXES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def exported(text: str) -> set[str]:
    """The sample names a scrape can hold, also for families that have no sample yet."""
    found: set[str] = set()
    for family in text_string_to_metric_families(text):
        found.add(family.name)
        found.update(sample.name for sample in family.samples)
        if family.type == "counter":
            found.add(f"{family.name}_total")
        elif family.type == "histogram":
            found.update(family.name + suffix for suffix in SUFFIXES["histogram"])
    return found


def flower_names() -> set[str]:
    """Flower's metric names, read from its source (flower/events.py)."""
    source = Path(flower.events.__file__).read_text()
    found: set[str] = set()
    pattern = r"(PrometheusCounter|Counter|Gauge|Histogram)\(\s*['\"]([a-z_:]+)['\"]"
    for kind, name in re.findall(pattern, source):
        kind = "counter" if kind.endswith("Counter") else kind.lower()
        found.update(name + suffix for suffix in SUFFIXES[kind])
    return found


@pytest.fixture(scope="module")
def scrapes(
    base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """One scrape of a live web (gunicorn) and one of a live worker that ran a task."""
    logs = tmp_path_factory.mktemp("names")
    port = free_port()
    env = {
        **base_env,
        "WORKER_METRICS_PORT": str(port),
        "REDIS_URL": private_redis_db(base_env["REDIS_URL"]),
    }
    settings = settings_from_env(env)
    with running_worker(env, logs / "worker.log", "-Q", "default"):
        web = start_web(env, logs / "web.log")
        celery = make_celery_client(settings)
        try:
            record = jobs.enqueue(
                database(settings.database_url), celery, "testing.sleep", {"seconds": 0.1}
            )
            wait_for(
                lambda: (
                    jobs.get_record(database(settings.database_url), record.id).state == "SUCCESS"
                ),
                30,
                what="the task",
            )
            url = f"http://127.0.0.1:{port}/metrics"

            def worker_scrape() -> str:
                with urllib.request.urlopen(url, timeout=5) as response:
                    return str(response.read().decode())

            text = wait_for(
                lambda: "celery_task_duration_seconds_count" in (t := worker_scrape()) and t,
                10,
                what="the task's duration",
            )
            yield web.scrape(), text
        finally:
            stop_process_group(web.process)
            celery.close()


def test_flower_names_are_read_from_its_source() -> None:
    names = flower_names()

    assert {"flower_events_total", "flower_worker_online"} <= names
    assert "flower_task_runtime_seconds_bucket" in names


def test_the_scrapes_hold_the_contract_names(scrapes: tuple[str, str]) -> None:
    web, worker = (exported(text) for text in scrapes)

    assert {"flask_http_request_total", "flask_http_request_duration_seconds_bucket"} <= web
    contract = {
        "download_jobs_total",
        "download_bytes_total",
        "download_duration_seconds_bucket",
        "active_downloads",
        "celery_task_duration_seconds_bucket",
    }
    assert contract <= worker


def test_alerts_and_dashboard_use_only_exported_metrics(scrapes: tuple[str, str]) -> None:
    known = exported(scrapes[0]) | exported(scrapes[1]) | flower_names() | SYNTHETIC
    used = {f"alert {rule['alert']}": metric_names(rule["expr"]) for rule in alert_rules()} | {
        f"dashboard {name}": metric_names(expr) for name, expr in dashboard_exprs()
    }

    unknown = {where: names - known for where, names in used.items() if names - known}

    assert not unknown, unknown
    assert all(used.values()), [where for where, names in used.items() if not names]
