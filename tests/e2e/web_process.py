"""The Procfile's web command (gunicorn, gunicorn.conf.py) started for a test, and load for it."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from tests.helpers import ROOT, STARTUP_TIMEOUT_S, VENV_BIN, free_port, process_env, wait_for


@dataclass
class Web:
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def workers(self) -> set[int]:
        """The pids of gunicorn's worker processes."""
        return {child.pid for child in psutil.Process(self.process.pid).children()}

    def scrape(self) -> str:
        response = requests.get(f"{self.base}/metrics", timeout=10)
        assert response.status_code == 200
        return response.text


def _answers(web: Web) -> bool:
    if web.process.poll() is not None:  # pytest.fail is no Exception: it ends wait_for's wait
        pytest.fail(f"gunicorn exited with {web.process.returncode}: see {web.log}")
    return requests.get(f"{web.base}/api/health", timeout=5).ok


def start_web(env: dict[str, str], log: Path, workers: int = 2) -> Web:
    """gunicorn with `env` on a free port and `workers` workers, once it answers."""
    port = free_port()
    full = process_env({**env, "PORT": str(port), "WEB_CONCURRENCY": str(workers)})
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=full, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    web = Web(f"http://127.0.0.1:{port}", process, log)
    # A master that died ends the wait.
    wait_for(lambda: _answers(web), STARTUP_TIMEOUT_S, what="gunicorn")
    wait_for(lambda: len(web.workers()) == workers, STARTUP_TIMEOUT_S, what="gunicorn's workers")
    return web


def hit(base: str, count: int, path: str = "/api/health") -> None:
    """`count` GET requests, eight at a time, each on a new connection; all must answer 200."""

    def one(_: int) -> int:
        return requests.get(f"{base}{path}", timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(count))) == {200}
