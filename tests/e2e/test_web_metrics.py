"""Web /metrics under the Procfile's gunicorn with two workers: one scrape counts every request."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from tests.api.metrics_text import value
from tests.helpers import ROOT, VENV_BIN, free_port, process_env, stop_process_group, wait_for

HEALTH = {"method": "GET", "url_rule": "/api/health", "status": "200"}


@dataclass
class Web:
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def workers(self) -> set[int]:
        return {child.pid for child in psutil.Process(self.process.pid).children()}

    def health_count(self) -> float:
        response = requests.get(f"{self.base}/metrics", timeout=10)
        assert response.status_code == 200
        return value(response.text, "flask_http_request_duration_seconds_count", **HEALTH) or 0.0


def start_web(env: dict[str, str], log: Path) -> Web:
    port = free_port()
    full = process_env({**env, "PORT": str(port), "WEB_CONCURRENCY": "2"})
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=full, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    web = Web(f"http://127.0.0.1:{port}", process, log)
    wait_for(lambda: requests.get(f"{web.base}/api/health", timeout=2).ok, 30, what="gunicorn")
    wait_for(lambda: len(web.workers()) == 2, 30, what="two gunicorn workers")
    return web


def hit(base: str, count: int) -> None:
    """`count` health requests, eight at a time, each on a new connection."""

    def one(_: int) -> int:
        return requests.get(f"{base}/api/health", timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(count))) == {200}


def sample_pids(folder: Path) -> set[int]:
    """The processes that wrote request samples into the multiprocess folder."""
    return {
        int(match.group(1))
        for path in folder.glob("histogram_*.db")
        if (match := re.fullmatch(r"histogram_(\d+)\.db", path.name))
    }


@pytest.fixture
def web_with_folder(base_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Web, Path]]:
    folder = tmp_path / "web-metrics"
    folder.mkdir()
    (folder / "counter_424242.db").write_bytes(b"samples of an earlier run")
    web = start_web({**base_env, "PROMETHEUS_MULTIPROC_DIR": str(folder)}, tmp_path / "web.log")
    try:
        yield web, folder
    finally:
        stop_process_group(web.process)


def test_requests_spread_over_both_workers_are_all_counted_in_one_scrape(
    web_with_folder: tuple[Web, Path],
) -> None:
    web, folder = web_with_folder
    assert not (folder / "counter_424242.db").exists()  # the master started from empty
    before = web.health_count()
    sent = 0
    while len(sample_pids(folder) & web.workers()) < 2 and sent < 2000:
        hit(web.base, 40)
        sent += 40

    assert sample_pids(folder) & web.workers() == web.workers()
    # Whichever worker answers the scrape, it serves the sum over both.
    assert {web.health_count() - before for _ in range(6)} == {sent}


def test_a_killed_worker_keeps_its_counts_and_its_replacement_adds_to_them(
    web_with_folder: tuple[Web, Path],
) -> None:
    web, folder = web_with_folder
    before = web.health_count()
    sent = 0
    while len(sample_pids(folder) & web.workers()) < 2 and sent < 2000:
        hit(web.base, 40)
        sent += 40
    victim = min(web.workers())

    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(web.workers()) == 2 and victim not in web.workers(), 30, what="respawn")
    hit(web.base, 40)
    sent += 40

    assert victim in sample_pids(folder)  # its counter files stay, summed with the others
    assert {web.health_count() - before for _ in range(6)} == {sent}


def test_without_a_folder_the_master_makes_one_and_removes_it(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {key: item for key, item in base_env.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    web = start_web({**env, "TMPDIR": str(temp)}, tmp_path / "web.log")
    try:
        before = web.health_count()
        hit(web.base, 30)
        made = list(temp.glob("aula-web-metrics-*"))
        assert len(made) == 1 and sample_pids(made[0]) <= web.workers()
        assert web.health_count() - before == 30
    finally:
        stop_process_group(web.process)

    assert not made[0].exists()
