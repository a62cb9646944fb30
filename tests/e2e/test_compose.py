"""docker-compose.yml runs what the Procfile runs, with health checks and the right start order."""

from __future__ import annotations

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
    assert {"path": ".env", "required": False} in service["env_file"]
    assert service["build"] == "."


def test_redis_is_append_only_on_a_volume(services: dict[str, Any]) -> None:
    redis = services["redis"]
    assert "--appendonly" in argv(redis["command"])
    assert argv(redis["command"])[argv(redis["command"]).index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def compose_v2() -> list[str] | None:
    """A Compose v2 command line if one is installed (v1 does not know `required: false`)."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        version = subprocess.run(
            [*command, "version", "--short"], capture_output=True, text=True, check=False
        )
        if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2"):
            return command
    return None


def test_docker_compose_accepts_the_file() -> None:
    command = compose_v2()
    if command is None:
        pytest.skip("no Docker Compose v2 here; the YAML checks above still ran")
    done = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
