"""At start a worker removes cookies files its killed predecessors left; its metrics listen on
WORKER_METRICS_ADDRESS, and `make run` keeps metrics and Flower on this machine."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from api.extensions import make_celery_client
from core.downloads.cookies import COOKIES_PREFIX, cookies_file, remove_stale_cookies
from tests.conftest import settings_from_env
from tests.helpers import (
    ROOT,
    STARTUP_TIMEOUT_S,
    free_port,
    own_worker_env,
    start_worker,
    stop_process_group,
    wait_for,
)
from tests.services import services_of


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _orphans(temp_dir: Path) -> dict[str, Path]:
    temp_dir.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    files = {
        "killed": temp_dir / f"{COOKIES_PREFIX}{host}-{_dead_pid()}-k1ll3d.txt",
        "alive": temp_dir / f"{COOKIES_PREFIX}{host}-{os.getpid()}-l1v3.txt",
        "elsewhere": temp_dir / f"{COOKIES_PREFIX}other-host-{_dead_pid()}-h0st.txt",
        "ancient": temp_dir / f"{COOKIES_PREFIX}other-host-1-anc13nt.txt",
    }
    for path in files.values():
        path.write_text("SID\tvalue")
    old = time.time() - 7 * 24 * 3600
    os.utime(files["ancient"], (old, old))
    return files


def test_stale_cookies_files_are_removed(settings: Any) -> None:
    files = _orphans(settings.temp_dir)

    assert remove_stale_cookies(settings) >= 2
    assert not files["killed"].exists() and not files["ancient"].exists()
    assert files["alive"].exists() and files["elsewhere"].exists()
    for path in files.values():
        path.unlink(missing_ok=True)


def test_cookie_values_are_redacted_once_a_task_reads_them(settings: Any) -> None:
    from core.base.logging import redact
    from core.base.vault import Vault

    value = "bare-cookie-value-5d4c3b2a"
    raw = f".example.com\tTRUE\t/\tTRUE\t0\tSID\t{value}\n".encode()
    services = services_of(settings)
    Vault(services.db, settings.fernet_keys).put("cookies", raw)

    with cookies_file(services) as path:
        assert path is not None
        assert path.name.startswith(f"{COOKIES_PREFIX}{socket.gethostname()}-{os.getpid()}-")
        remove_stale_cookies(settings)  # its own worker's file, in use: kept
        assert path.exists()
    assert value not in redact(f"yt-dlp sent SID={value}; other=1")


def test_a_starting_worker_cleans_up_and_binds_metrics_where_told(
    base_env: dict[str, str], settings: Any, tmp_path: Path
) -> None:
    port = free_port()
    env = own_worker_env(base_env, worker_metrics_port=port, worker_metrics_address="127.0.0.1")
    files = _orphans(settings.temp_dir)
    client = make_celery_client(settings_from_env(env))
    process = start_worker(env, tmp_path / "worker.log")
    try:
        wait_for(lambda: client.control.ping(timeout=0.5), STARTUP_TIMEOUT_S, what="the worker")
        assert not files["killed"].exists()
        assert files["alive"].exists()
        listening = wait_for(
            lambda: [
                c.laddr
                for c in psutil.Process(process.pid).net_connections("inet")
                if c.status == psutil.CONN_LISTEN and c.laddr.port == port
            ],
            20,
            what="the metrics port",
        )
        assert [address.ip for address in listening] == ["127.0.0.1"]
    finally:
        stop_process_group(process)
        client.close()
        for path in files.values():
            path.unlink(missing_ok=True)


def _child_env(monkeypatch: pytest.MonkeyPatch, **variables: str) -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("aula_run", ROOT / "scripts" / "run.py")
    assert spec is not None and spec.loader is not None
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    for name in ("FLOWER_BASIC_AUTH", "FLOWER_ADDRESS", "WORKER_METRICS_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    env: dict[str, str] = run.child_env()
    return env


def test_make_run_keeps_metrics_and_an_open_flower_on_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = _child_env(monkeypatch)
    assert plain["WORKER_METRICS_ADDRESS"] == "127.0.0.1"
    assert plain["FLOWER_ADDRESS"] == "127.0.0.1"
    with_auth = _child_env(monkeypatch, FLOWER_BASIC_AUTH="admin:flower-pass-0123")
    assert "FLOWER_ADDRESS" not in with_auth
    chosen = _child_env(monkeypatch, FLOWER_ADDRESS="0.0.0.0", WORKER_METRICS_ADDRESS="0.0.0.0")
    assert chosen["FLOWER_ADDRESS"] == "0.0.0.0" and chosen["WORKER_METRICS_ADDRESS"] == "0.0.0.0"
