"""No secret reaches the logs: web (gunicorn), a worker and beat as real processes at DEBUG, JSON.

Credentials and cookies go in through the API, a Drive rebuild runs against the fake Google, a
download uses the cookies, requests carry the token; then every captured line of every process
is searched for every secret value the test used, and for the access tokens the fake issued.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet

from tests.fakes import FakeGoogle
from tests.fakes.media import MediaServer
from tests.helpers import (
    ROOT,
    STARTUP_TIMEOUT_S,
    VENV_BIN,
    free_port,
    process_env,
    start_worker,
    stop_process_group,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

ADMIN_TOKEN = "redaction-admin-token-7f3c9a1e5b"
FLOWER_PASSWORD = "flower-password-c41d2b"
COOKIE_VALUE = "cookie-secret-9e8d7c6b5a"


@pytest.fixture
def media() -> Iterator[MediaServer]:
    with MediaServer("127.0.0.1") as server:
        yield server


def _start(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command, cwd=ROOT, env=process_env(env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


@pytest.fixture
def stack(
    base_env: dict[str, str], e2e_redis: str, tmp_path: Path, settings: Any
) -> Iterator[dict[str, Any]]:
    """web, worker and beat on a private Redis, logging JSON at DEBUG into one file each."""
    port = free_port()
    env = {
        **base_env,
        "REDIS_URL": e2e_redis,
        "DATA_DIR": str(tmp_path / "data"),
        "DOWNLOAD_DIR": str(tmp_path / "downloads"),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "DEBUG",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "REQUIRE_AUTH_FOR_READS": "true",
        "ENCRYPTION_KEY": f"{Fernet.generate_key().decode()},{base_env['ENCRYPTION_KEY']}",
        "FLOWER_BASIC_AUTH": f"admin:{FLOWER_PASSWORD}",
        "RATE_LIMIT_MUTATIONS": "60/minute",
        "DOWNLOAD_ALLOW_PRIVATE_HOSTS": "true",
        "CLEANUP_INTERVAL_S": "2",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
    }
    logs = {name: tmp_path / f"{name}.log" for name in ("web", "worker", "beat")}
    gunicorn = [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"]
    processes = {"web": _start(gunicorn, env, logs["web"])}
    processes["worker"] = start_worker(env, logs["worker"])
    processes["beat"] = _start([str(VENV_BIN / "celery"), "-A", "tasks", "beat"], env, logs["beat"])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: requests.get(f"{base}/api/health", timeout=1).ok,
            STARTUP_TIMEOUT_S,
            what="gunicorn",
        )
        yield {"base": base, "env": env, "logs": logs, "processes": processes}
    finally:
        for process in processes.values():
            stop_process_group(process)


def _call(base: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{base}{path}", headers=headers, timeout=15, **kwargs)


def _wait_task(base: str, task_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = _call(base, "GET", f"/api/tasks/{task_id}").json()
        return body if body["state"] in ("SUCCESS", "FAILURE", "REVOKED") else None

    result: dict[str, Any] = wait_for(finished, 90, interval=0.3, what=f"task {task_id}")
    return result


def _lines(path: Path) -> list[dict[str, Any]]:
    parsed = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append({"message": line, "not_json": True})
    return parsed


def _use_every_secret(base: str, fake: FakeGoogle, media: MediaServer) -> dict[str, Any]:
    google = _call(base, "PUT", "/api/credentials/google", json=fake.credentials())
    assert google.status_code == 200, google.text
    cookies = f"# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tSID\t{COOKIE_VALUE}\n"
    stored = _call(base, "PUT", "/api/credentials/cookies", data=cookies,
                   headers={"Content-Type": "text/plain"})  # fmt: skip
    assert stored.status_code == 200, stored.text
    fake.add_file("aula secreta.mp4", content=media.video)
    rebuild = _call(base, "POST", "/api/catalog/rebuild", json={"source": "drive"})
    assert _wait_task(base, rebuild.json()["task_id"])["state"] == "SUCCESS"
    created = _call(base, "POST", "/api/downloads", json={"url": f"{media.base_url}/video.mp4"})
    assert created.status_code == 202, created.text
    download = _wait_task(base, created.json()["task_id"])
    assert download["state"] == "SUCCESS", download
    assert any(c and COOKIE_VALUE in c for c in media.cookies), "the download used the cookies"
    body = _call(base, "GET", f"/api/downloads/{created.json()['download']['id']}").json()
    signed = requests.get(f"{base}{body['file']['url']}", timeout=15)
    assert signed.status_code == 200 and signed.content == media.video
    items = _call(base, "GET", "/api/catalog/items?source=drive").json()["items"]
    assert [item["title"] for item in items] == ["aula secreta.mp4"]
    thumbnail = requests.get(f"{base}{items[0]['thumbnail_url']}", timeout=15)
    assert thumbnail.status_code == 200
    assert _call(base, "GET", "/api/credentials", headers={"X-Admin-Token": ADMIN_TOKEN}).ok
    bad = requests.get(f"{base}/api/tasks", headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert bad.status_code == 401
    return body


def test_no_secret_reaches_any_log(
    stack: dict[str, Any], drive: FakeGoogle, media: MediaServer
) -> None:
    base, env, logs = stack["base"], stack["env"], stack["logs"]
    download = _use_every_secret(base, drive, media)
    wait_for(lambda: "maintenance.cleanup" in logs["beat"].read_text(), 30, what="beat to send")
    time.sleep(1)  # the worker's last lines for the cleanup it was sent
    for process in stack["processes"].values():
        stop_process_group(process)

    credentials = drive.credentials()
    signature = download["file"]["url"].split("sig=", 1)[1]
    secrets = {
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "FLOWER_BASIC_AUTH": env["FLOWER_BASIC_AUTH"],
        "flower password": FLOWER_PASSWORD,
        "client_secret": credentials["client_secret"],
        "refresh_token": credentials["refresh_token"],
        "cookie": COOKIE_VALUE,
        "media signature": signature,
        **{f"ENCRYPTION_KEY {n}": key for n, key in enumerate(env["ENCRYPTION_KEY"].split(","))},
        **{f"access token {n}": token for n, token in enumerate(drive.issued_tokens)},
    }
    assert any(name.startswith("access token") for name in secrets), "the fake issued a token"
    texts = {name: path.read_text(errors="replace") for name, path in logs.items()}
    found = [
        f"{name} in {process}.log"
        for process, text in texts.items()
        for name, value in secrets.items()
        if value in text
    ]
    assert found == []
    _assert_the_logs_are_real(logs)


def _assert_the_logs_are_real(logs: dict[str, Path]) -> None:
    """Each log has the lines the search above went through: JSON, DEBUG, the work done."""
    web, worker, beat = (_lines(logs[name]) for name in ("web", "worker", "beat"))
    for lines in (web, worker, beat):
        # Stray non-JSON lines (billiard's note on a pool child killed with the group) were
        # searched all the same.
        assert len([line for line in lines if not line.get("not_json")]) >= 5
    assert any(line.get("path") == "/api/credentials/google" for line in web)
    assert any(line.get("status_code") == 401 for line in web)
    tasks = {line.get("task_name") for line in worker}
    assert {"catalog.rebuild", "downloads.fetch"} <= tasks
    assert any(line.get("level") == "DEBUG" for line in worker + beat)
    assert any("maintenance.cleanup" in line.get("message", "") for line in beat)
