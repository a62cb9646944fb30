"""deploy/grafana: a valid provisioned dashboard; every query parses; the essentials shown."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from tests.deploy.promql import (
    DEPLOY,
    as_recording_rules,
    dashboard,
    dashboard_exprs,
    dashboard_panels,
    metric_names,
    run_promtool,
)

PROVISIONING = DEPLOY / "grafana" / "provisioning"
# What an operator looks at first: requests and latency, queues, downloads, bytes, failures,
# sync ages, beat and disk.
ESSENTIAL = {
    "flask_http_request_total",
    "flask_http_request_duration_seconds_bucket",
    "aula_queue_depth",
    "aula_downloads",
    "download_bytes_total",
    "download_jobs_total",
    "celery_task_runs_total",
    "aula_last_success_age_seconds",
    "aula_beat_heartbeat_age_seconds",
    "aula_disk_free_bytes",
}


def _datasource_uid() -> str:
    document = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (source,) = document["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    uid: str = source["uid"]
    return uid


def test_the_dashboard_is_a_valid_grafana_dashboard() -> None:
    board = dashboard()
    uid = _datasource_uid()

    assert board["uid"] and len(board["uid"]) <= 40
    assert board["title"] == "Aula"
    assert isinstance(board["schemaVersion"], int)
    ids = [panel["id"] for panel in board["panels"]] + [
        nested["id"] for panel in board["panels"] for nested in panel.get("panels", [])
    ]
    assert len(ids) == len(set(ids)), Counter(ids).most_common(3)
    panels = dashboard_panels()
    assert len(panels) >= 10
    for panel in panels:
        assert panel["type"] in ("timeseries", "stat", "gauge", "bargauge", "table"), panel
        assert panel["title"].strip()
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"]), panel["title"]


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    exprs = dashboard_exprs()
    rules = tmp_path / "dashboard_rules.yml"
    rules.write_text(as_recording_rules(exprs))

    done = run_promtool("check", "rules", rules)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in done.stdout


def test_a_broken_query_is_caught(tmp_path: Path) -> None:
    rules = tmp_path / "broken.yml"
    rules.write_text(as_recording_rules([("broken", "sum by (queue (aula_queue_depth)")]))

    done = run_promtool("check", "rules", rules)

    assert done.returncode != 0


def test_the_dashboard_shows_the_essentials() -> None:
    used = set().union(*(metric_names(expr) for _, expr in dashboard_exprs()))

    assert used >= ESSENTIAL, ESSENTIAL - used


def test_grafana_loads_the_dashboards_folder() -> None:
    document = yaml.safe_load((PROVISIONING / "dashboards" / "aula.yml").read_text())
    (provider,) = document["providers"]

    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
