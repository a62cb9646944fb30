"""Web /metrics under the Procfile's gunicorn with two workers: one scrape counts every request."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.metrics_text import value
from tests.e2e.web_process import Web, hit, start_web
from tests.helpers import STARTUP_TIMEOUT_S, stop_process_group, wait_for

HEALTH = {"method": "GET", "url_rule": "/api/health", "status": "200"}


def health_count(web: Web) -> float:
    return value(web.scrape(), "flask_http_request_duration_seconds_count", **HEALTH) or 0.0


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
    before = health_count(web)
    sent = 0
    while len(sample_pids(folder) & web.workers()) < 2 and sent < 2000:
        hit(web.base, 40)
        sent += 40

    assert sample_pids(folder) & web.workers() == web.workers()
    # Whichever worker answers the scrape, it serves the sum over both.
    assert {health_count(web) - before for _ in range(6)} == {sent}


def test_a_killed_worker_keeps_its_counts_and_its_replacement_adds_to_them(
    web_with_folder: tuple[Web, Path],
) -> None:
    web, folder = web_with_folder
    before = health_count(web)
    sent = 0
    while len(sample_pids(folder) & web.workers()) < 2 and sent < 2000:
        hit(web.base, 40)
        sent += 40
    victim = min(web.workers())

    os.kill(victim, signal.SIGKILL)
    wait_for(
        lambda: len(web.workers()) == 2 and victim not in web.workers(),
        STARTUP_TIMEOUT_S,
        what="respawn",
    )
    hit(web.base, 40)
    sent += 40

    assert victim in sample_pids(folder)  # its counter files stay, summed with the others
    assert {health_count(web) - before for _ in range(6)} == {sent}


def test_without_a_folder_the_master_makes_one_and_removes_it(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {key: item for key, item in base_env.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    web = start_web({**env, "TMPDIR": str(temp)}, tmp_path / "web.log")
    try:
        before = health_count(web)
        hit(web.base, 30)
        made = list(temp.glob("aula-web-metrics-*"))
        assert len(made) == 1 and sample_pids(made[0]) <= web.workers()
        assert health_count(web) - before == 30
    finally:
        stop_process_group(web.process)

    assert not made[0].exists()
