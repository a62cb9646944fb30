"""Drives docker-compose.yml for the compose run tests: up, health, exec, the API on loopback."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.helpers import free_port, wait_for
from tests.media import make_video

ROOT = Path(__file__).resolve().parents[2]
# Another name lets two checkouts run the compose test on one Docker engine at once.
PROJECT = os.environ.get("AULA_COMPOSE_PROJECT", "aulae2e")
TOKEN = "compose-test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LONG_RUNNING = ("redis", "postgres", "web", "worker", "beat", "flower", "proxy")
# Waits bound by what a loaded 2-core machine needs, not by what the stack should take.
HEALTH_TIMEOUT_S = 300
TASK_TIMEOUT_S = 120
# The test's own settings, the rest as a user gets them: a token (so mutations and, with
# REQUIRE_AUTH_FOR_READS, reads and signed media URLs are checked through the proxy), private
# hosts for the media server on the compose network, and cleanup every 15 s instead of hourly
# so beat sends within the test (its schedule is what `restart redis` must keep).
ENV_FILE = f"""\
ADMIN_TOKEN={TOKEN}
REQUIRE_AUTH_FOR_READS=true
DOWNLOAD_ALLOW_PRIVATE_HOSTS=true
CLEANUP_INTERVAL_S=15
LOG_FORMAT=json
"""


@dataclass
class Stack:
    """One compose project of docker-compose.yml plus tests/e2e/compose.test.yml."""

    workdir: Path
    project: str = PROJECT
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.media = self.workdir / "media"
        self.serve = self.workdir / "serve"
        for folder in (self.media, self.serve):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o755)  # the mount's root as containers see it (pytest's tmp is 0700)
        (self.workdir / "aula.env").write_text(ENV_FILE)
        self.ports = {name: free_port() for name in ("web", "proxy", "flower", "prometheus")}

    @property
    def env(self) -> dict[str, str]:
        """The environment docker-compose substitutes into the file."""
        return {
            **os.environ,
            "AULA_ENV_FILE": str(self.workdir / "aula.env"),
            "AULA_MEDIA_DIR": str(self.media),
            "AULA_TEST_SERVE_DIR": str(self.serve),
            **{f"AULA_{name.upper()}_PORT": str(port) for name, port in self.ports.items()},
        }

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        """Run `docker-compose <args>` on the project; its stdout."""
        command = [
            "docker-compose", "-p", self.project, "-f", "docker-compose.yml",
            "-f", "tests/e2e/compose.test.yml", *args,
        ]  # fmt: skip
        done = subprocess.run(
            command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    def containers(self, service: str) -> list[str]:
        """The ids of a service's containers, running or not."""
        return self.compose("ps", "-q", service).split()

    def inspect(self, container: str) -> dict[str, Any]:
        """`docker inspect` of one container."""
        out = subprocess.run(
            ["docker", "inspect", container], capture_output=True, text=True, check=True
        ).stdout
        found: dict[str, Any] = json.loads(out)[0]
        return found

    def health(self) -> dict[str, list[str]]:
        """Each long-running service's container health states."""
        return {
            name: [self.inspect(c)["State"].get("Health", {}).get("Status", "none")
                   for c in self.containers(name)]
            for name in LONG_RUNNING
        }  # fmt: skip

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT_S) -> None:
        """Until every long-running service's containers are all healthy."""
        wait_for(
            lambda: all(states and set(states) == {"healthy"} for states in self.health().values()),
            timeout,
            interval=2,
            what=f"every service healthy (last: {self.health()})",
        )

    def redis_cli(self, *args: str) -> str:
        """A redis-cli command in the redis container."""
        (container,) = self.containers("redis")
        return subprocess.run(
            ["docker", "exec", container, "redis-cli", *args],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()  # fmt: skip

    def url(self, path: str, service: str = "proxy") -> str:
        """A URL of the proxy (or of web directly) on loopback."""
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def get(self, path: str, service: str = "proxy", **kwargs: Any) -> requests.Response:
        """GET through the proxy with the admin token unless `headers` says otherwise."""
        kwargs.setdefault("headers", AUTH)
        return requests.get(self.url(path, service), timeout=30, **kwargs)

    def post(self, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        """POST JSON through the proxy with the admin token."""
        return requests.post(self.url(path), json=body or {}, headers=AUTH, timeout=30)

    def task(self, task_id: str, states: tuple[str, ...] = ("SUCCESS",)) -> dict[str, Any]:
        """The task's record once in one of `states`; fails early on FAILURE."""

        def reached() -> dict[str, Any] | None:
            record: dict[str, Any] = self.get(f"/api/tasks/{task_id}").json()
            assert record["state"] != "FAILURE" or "FAILURE" in states, record
            return record if record["state"] in states else None

        found: dict[str, Any] = wait_for(reached, TASK_TIMEOUT_S, interval=1, what=task_id)
        return found

    def download(self, download_id: int, timeout: float = TASK_TIMEOUT_S) -> dict[str, Any]:
        """The download once it succeeded; fails early if it failed."""

        def done() -> dict[str, Any] | None:
            found: dict[str, Any] = self.get(f"/api/downloads/{download_id}").json()
            assert found["state"] not in ("failed", "canceled"), found
            return found if found["state"] == "succeeded" else None

        result: dict[str, Any] = wait_for(done, timeout, interval=1, what="download")
        return result


def rebuild_local(stack: Stack) -> dict[str, dict[str, Any]]:
    """Index the media folder; its items by file name."""
    answer = stack.post("/api/catalog/rebuild", {"source": "local"})
    assert answer.status_code == 202, answer.text
    stack.task(answer.json()["task_id"])
    items = stack.get("/api/catalog/items?source=local&limit=200").json()["items"]
    return {item["source_id"]: item for item in items}


def add_video(folder: Path, name: str, seconds: float = 3.0) -> Path:
    """A real small video in `folder`, readable by the containers' users."""
    path = make_video(folder / name, seconds=seconds)
    path.chmod(0o644)
    return path


def exit_codes_after_stop(stack: Stack) -> dict[str, int]:
    """`docker-compose stop`, then each long-running container's exit code by service."""
    ids = {name: stack.containers(name) for name in LONG_RUNNING}
    stack.compose("stop", timeout=300)
    codes = {}
    for name, containers in ids.items():
        for container in containers:
            state = stack.inspect(container)["State"]
            assert not state["Running"], name
            codes[name] = state["ExitCode"]
    return codes
