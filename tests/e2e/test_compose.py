"""docker-compose.yml runs what the Procfile runs, with health checks and the right start order."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ("web", "worker", "beat", "flower")


def procfile() -> dict[str, str]:
    """The Procfile's lines by process name."""
    lines = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            lines[name.strip()] = command.strip()
    return lines


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dict(compose["services"])


def argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_procfile_has_the_contract_processes() -> None:
    assert set(PROCESSES) <= set(procfile())


@pytest.mark.parametrize("name", PROCESSES)
def test_service_runs_the_procfile_command(services: dict[str, Any], name: str) -> None:
    service = services[name]
    assert argv(service["command"]) == shlex.split(procfile()[name])
    assert "entrypoint" not in service


@pytest.mark.parametrize("name", [*PROCESSES, "redis", "postgres"])
def test_long_running_services_have_health_checks(services: dict[str, Any], name: str) -> None:
    test = services[name]["healthcheck"]["test"]
    assert test and test[0] in ("CMD", "CMD-SHELL")


@pytest.mark.parametrize("name", PROCESSES)
def test_processes_wait_for_migrations_and_healthy_backends(
    services: dict[str, Any], name: str
) -> None:
    depends = services[name]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["postgres"]["condition"] == "service_healthy"


def test_migrate_runs_the_migrations(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert "python -m core migrate" in " ".join(argv(migrate["command"]))
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("restart") == "no"


@pytest.mark.parametrize("name", [*PROCESSES, "migrate"])
def test_aula_services_share_settings_and_data(services: dict[str, Any], name: str) -> None:
    service = services[name]
    env = service["environment"]
    assert env["DATABASE_URL"] == "postgresql://aula:aula@postgres:5432/aula"
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["DOWNLOAD_DIR"].startswith(env["DATA_DIR"])
    assert any(volume.endswith(f":{env['DATA_DIR']}") for volume in service["volumes"])
    assert service["env_file"] == "${AULA_ENV_FILE:-.env}"
    assert service["build"] == "."


def test_redis_is_append_only_on_a_volume(services: dict[str, Any]) -> None:
    redis = services["redis"]
    assert "--appendonly" in argv(redis["command"])
    assert argv(redis["command"])[argv(redis["command"]).index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def compose_commands() -> list[list[str]]:
    """The Compose commands installed here: v2 (`docker compose`), 1.29 (`docker-compose`)."""
    found = []
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        version = subprocess.run(
            [*command, "version", "--short"], capture_output=True, text=True, check=False
        )
        if version.returncode == 0 and version.stdout.strip():
            found.append(command)
    return found


@pytest.mark.parametrize("command", [["docker", "compose"], ["docker-compose"]], ids=["v2", "v1"])
def test_docker_compose_accepts_the_file(command: list[str]) -> None:
    if command not in compose_commands():
        pytest.skip(f"no {' '.join(command)} here; the YAML checks above still ran")
    done = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        # Both versions need the env file to exist: the documented example stands in for .env.
        env={**os.environ, "AULA_ENV_FILE": ".env.example"},
    )
    assert done.returncode == 0, done.stderr


# --- monitoring profile, volumes, ports, scaling -------------------------------------------------
MONITORING = ("prometheus", "grafana")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def binds(service: dict[str, Any]) -> dict[str, str]:
    """A service's bind mounts: container path by host path (relative to the repository)."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            found[source] = target
    return found


def test_monitoring_runs_only_under_its_profile(services: dict[str, Any]) -> None:
    for name, service in services.items():
        expected = ["monitoring"] if name in MONITORING else None
        assert service.get("profiles") == expected, name


@pytest.mark.parametrize("name", MONITORING)
def test_monitoring_services_have_health_checks_and_loopback_ports(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    assert service["ports"] and all(port.startswith("127.0.0.1:") for port in service["ports"])
    assert service["restart"] == "unless-stopped"


def test_every_mounted_repository_path_exists(services: dict[str, Any]) -> None:
    mounted = {source for service in services.values() for source in binds(service)}

    assert {"./deploy/prometheus", "./deploy/grafana/provisioning"} <= mounted
    for source in mounted:
        assert (ROOT / source).exists(), source


def test_prometheus_reads_the_repository_config(services: dict[str, Any]) -> None:
    prometheus = services["prometheus"]
    config_dir = binds(prometheus)["./deploy/prometheus"]

    assert f"--config.file={config_dir}/prometheus.yml" in prometheus["command"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    for rule_file in config["rule_files"]:  # relative to the config file, so mounted with it
        assert (ROOT / "deploy/prometheus" / rule_file).is_file()
    assert any(volume.startswith("prometheus-data:") for volume in prometheus["volumes"])


def test_prometheus_scrapes_the_services_on_their_ports(services: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    env = services["web"]["environment"]

    assert jobs["aula-web"]["static_configs"][0]["targets"] == [f"web:{env['PORT']}"]
    assert jobs["flower"]["static_configs"][0]["targets"] == [f"flower:{env['FLOWER_PORT']}"]
    worker = jobs["aula-worker"]["dns_sd_configs"][0]
    assert worker["names"] == ["worker"]
    assert worker["port"] == int(services["worker"]["environment"]["WORKER_METRICS_PORT"])


def test_grafana_is_provisioned_from_the_repository(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    mounts = binds(grafana)
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/aula.yml").read_text()
    )["providers"][0]

    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert any(volume.startswith("grafana-data:") for volume in grafana["volumes"])


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = {
        volume.split(":")[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if not volume.startswith((".", "/", "$"))  # bind mounts, also ${VAR:-./dir}
    }

    assert used <= declared
    assert {"redis-data", "postgres-data", "aula-data", "prometheus-data", "grafana-data"} <= used


def test_host_ports_listen_on_loopback_only(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_the_worker_scales(services: dict[str, Any]) -> None:
    worker = services["worker"]
    env = worker["environment"]

    assert "container_name" not in worker
    assert "ports" not in worker  # no fixed host port: replicas would collide
    assert str(env["WORKER_METRICS_PORT"]) in [str(port) for port in worker["expose"]]
    # Replicas share /data: their metrics folder must be their own.
    assert not env["PROMETHEUS_MULTIPROC_DIR"].startswith(env["DATA_DIR"])


def test_services_not_in_a_profile_have_env_file_or_are_backends(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name in (*PROCESSES, "migrate"):
            assert service["env_file"] == "${AULA_ENV_FILE:-.env}", name
        elif name not in (*MONITORING, "redis", "postgres", "proxy"):
            pytest.fail(f"unexpected service {name}")
