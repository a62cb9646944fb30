"""deploy/prometheus: promtool accepts the config and the alerts; their unit tests pass."""

from __future__ import annotations

from typing import Any

import yaml

from tests.deploy.promql import PROMETHEUS, alert_rules, run_promtool

ALERTS = {
    "AulaNoWorker",
    "AulaTaskFailureRatioHigh",
    "AulaDownloadFailuresHigh",
    "AulaBeatSilent",
    "AulaDiskBelowFloor",
    "AulaQueueGrowing",
    "AulaWebhookDeliveriesFailing",
}


def test_promtool_accepts_the_scrape_config_and_its_rule_files() -> None:
    done = run_promtool("check", "config", PROMETHEUS / "prometheus.yml")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 7 rules found" in done.stdout + done.stderr


def test_promtool_accepts_the_alert_rules() -> None:
    done = run_promtool("check", "rules", PROMETHEUS / "alerts.yml")

    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alert_unit_tests_pass() -> None:
    done = run_promtool("test", "rules", PROMETHEUS / "alerts_test.yml")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_six_alerts_have_severity_summary_and_description() -> None:
    rules = alert_rules()

    assert {rule["alert"] for rule in rules} == ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert len(rule["annotations"]["description"]) > 40, rule["alert"]
    durations = {rule["alert"]: rule.get("for") for rule in rules}
    assert durations["AulaNoWorker"] == "2m"
    assert durations["AulaQueueGrowing"] == "15m"
    assert "[15m]" in next(r["expr"] for r in rules if r["alert"] == "AulaDownloadFailuresHigh")


def _rule_tests() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())
    assert document["rule_files"] == ["alerts.yml"]
    return [case for test in document["tests"] for case in test.get("alert_rule_test", [])]


def test_every_alert_is_tested_firing_and_silent() -> None:
    cases = _rule_tests()

    for alert in ALERTS:
        mine = [case for case in cases if case["alertname"] == alert]
        assert any(case["exp_alerts"] for case in mine), f"{alert} is never shown firing"
        assert any(not case["exp_alerts"] for case in mine), f"{alert} is never shown silent"


def test_a_broken_rule_fails_the_unit_tests(tmp_path) -> None:
    # The unit tests can fail: with the disk alert's comparison turned around they must.
    broken = (
        (PROMETHEUS / "alerts.yml")
        .read_text()
        .replace(
            "aula_disk_free_bytes < aula_disk_free_floor_bytes",
            "aula_disk_free_bytes > aula_disk_free_floor_bytes",
        )
    )
    (tmp_path / "alerts.yml").write_text(broken)
    (tmp_path / "alerts_test.yml").write_text((PROMETHEUS / "alerts_test.yml").read_text())

    done = run_promtool("test", "rules", tmp_path / "alerts_test.yml")

    assert done.returncode != 0
    assert "AulaDiskBelowFloor" in done.stdout + done.stderr


def _jobs() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_web_every_worker_and_flower_are_scraped() -> None:
    jobs = _jobs()

    assert jobs["aula-web"]["static_configs"][0]["targets"] == ["web:8000"]
    worker = jobs["aula-worker"]["dns_sd_configs"][0]
    assert (worker["names"], worker["type"], worker["port"]) == (["worker"], "A", 9808)
    assert jobs["flower"]["static_configs"][0]["targets"] == ["flower:5555"]
    for name in ("aula-web", "aula-worker", "flower"):
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics"
