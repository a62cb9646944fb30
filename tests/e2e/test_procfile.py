"""The Procfile under `honcho start`: a cleanup task goes API -> broker -> worker -> SUCCESS."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import pytest

from tests.e2e.support import (
    VENV_BIN,
    Launched,
    clean_env,
    describe,
    free_port,
    honcho_lines,
    http,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

FINISHED = {"SUCCESS", "FAILURE", "REVOKED"}
JSON_PROCESSES = ("web", "worker", "beat")


class Stack:
    """honcho running the Procfile, and where its processes answer."""

    def __init__(self, launched: Launched, port: int, flower_port: int) -> None:
        self.launched = launched
        self.base = f"http://127.0.0.1:{port}"
        self.flower = f"http://127.0.0.1:{flower_port}"

    def get(self, path: str) -> tuple[int, object]:
        return http("GET", urljoin(self.base, path))


@pytest.fixture
def stack(app_tree: Path, e2e_redis: str, tmp_path: Path) -> Iterator[Stack]:
    """`honcho start` in a copy of the tree, every port free, SQLite and data in tmp_path."""
    port, flower_port = free_port(), free_port()
    data = tmp_path / "data"
    env = clean_env(
        PORT=port,
        FLOWER_PORT=flower_port,
        WORKER_METRICS_PORT=free_port(),
        DATABASE_URL=f"sqlite:///{tmp_path / 'aula.db'}",
        REDIS_URL=e2e_redis,
        DATA_DIR=data,
        DOWNLOAD_DIR=data / "downloads",
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        WEB_CONCURRENCY=1,
        WORKER_CONCURRENCY=1,
    )
    # -e os.devnull: the settings come from the environment above, not from a .env file.
    command = [str(VENV_BIN / "honcho"), "--no-colour", "-e", os.devnull, "start"]
    launched = Launched(command, app_tree, env, tmp_path / "honcho.log")
    try:
        yield Stack(launched, port, flower_port)
    finally:
        launched.kill()


def wait_for_task(stack: Stack, status_url: str, timeout: float = 60) -> dict[str, object]:
    """Poll a task resource until it has finished; return its last answer."""

    def finished() -> dict[str, object] | None:
        stack.launched.running()
        status, body = stack.get(status_url)
        assert status == 200, body
        assert isinstance(body, dict)
        return body if body["state"] in FINISHED else None

    return wait_until(finished, timeout, f"task {status_url} to finish", interval=0.5)


def test_procfile_runs_a_cleanup_task_to_success(stack: Stack) -> None:
    wait_until(
        lambda: stack.launched.running() and stack.get("/api/health")[0] == 200,
        60,
        "web to answer /api/health",
    )

    status, body = http("POST", f"{stack.base}/api/maintenance/cleanup")
    assert status == 202, body
    assert isinstance(body, dict)
    assert body["task_id"] and body["status_url"]

    task = wait_for_task(stack, body["status_url"])
    assert task["state"] == "SUCCESS", task
    assert task["id"] == body["task_id"]
    result = task["result"]
    assert isinstance(result, dict)
    assert isinstance(result["temp_files_removed"], int)
    assert isinstance(result["task_records_removed"], int)

    wait_until(
        lambda: http("GET", f"{stack.flower}/healthcheck")[0] == 200,
        40,
        "flower to answer on FLOWER_PORT",
    )

    left = stack.launched.interrupt(timeout=20)
    assert not left, f"still running after Ctrl-C: {describe(left)}"
    assert stack.launched.seen, "no process was seen under honcho"
    assert_json_logs(stack.launched.output())


def assert_json_logs(output: str) -> None:
    """Every line web, worker and beat wrote is one JSON object with the contract's keys."""
    lines = honcho_lines(output)
    for name in JSON_PROCESSES:
        assert any(proc == name for proc, _ in lines), f"{name} wrote nothing:\n{output[-3000:]}"
    bad = []
    for name, text in lines:
        if name not in JSON_PROCESSES:
            continue
        try:
            record = json.loads(text)
        except ValueError:
            bad.append(f"{name}: {text}")
            continue
        missing = {"timestamp", "level", "logger", "message"} - set(record)
        if not isinstance(record, dict) or missing:
            bad.append(f"{name} (missing {sorted(missing)}): {text}")
    assert not bad, "lines that are not JSON log records:\n" + "\n".join(bad[:20])
