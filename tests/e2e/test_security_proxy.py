"""FORCE_HTTPS under real gunicorn: X-Forwarded-Proto counts only with TRUSTED_PROXIES (gunicorn's
own trust of loopback is off), loopback probes still answer, and 429 has Retry-After."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import (
    ROOT,
    STARTUP_TIMEOUT_S,
    VENV_BIN,
    free_port,
    process_env,
    stop_process_group,
    wait_for,
)

TOKEN = "e2e-proxy-admin-token-0123456789"
Web = Callable[..., str]


@pytest.fixture
def start_web(base_env: dict[str, str], e2e_redis: str, tmp_path: Path) -> Iterator[Web]:
    """Start gunicorn with extra settings; its base URL. Stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**settings: str) -> str:
        port = free_port()
        env = {**base_env, "REDIS_URL": e2e_redis, "PORT": str(port), "WEB_CONCURRENCY": "1",
               "ADMIN_TOKEN": TOKEN, **{k.upper(): v for k, v in settings.items()}}  # fmt: skip
        command = [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"]
        with (tmp_path / f"web-{port}.log").open("ab") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=process_env(env), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: requests.get(f"{base}/api/health", timeout=1).ok,
            STARTUP_TIMEOUT_S,
            what="gunicorn",
        )
        return base

    yield start
    for process in started:
        stop_process_group(process)


def _get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=5, allow_redirects=False)


def test_forwarded_proto_needs_trusted_proxies(start_web: Web) -> None:
    untrusted = start_web(force_https="true")
    trusted = start_web(force_https="true", trusted_proxies="127.0.0.1")

    # A loopback client claiming https is not believed without TRUSTED_PROXIES.
    claimed = _get(f"{untrusted}/api/tasks?limit=1", **{"X-Forwarded-Proto": "https"})
    assert claimed.status_code == 308
    assert claimed.headers["Location"] == f"https://{untrusted.split('://')[1]}/api/tasks?limit=1"
    behind = _get(f"{trusted}/api/tasks", **{"X-Forwarded-Proto": "https"})
    assert behind.status_code == 200
    assert behind.headers["Strict-Transport-Security"] == "max-age=31536000"
    relayed = _get(
        f"{trusted}/api/tasks",
        **{"X-Forwarded-Proto": "http", "X-Forwarded-Host": "aula.example.org"},
    )
    assert relayed.status_code == 308
    assert relayed.headers["Location"] == "https://aula.example.org/api/tasks"
    for base in (untrusted, trusted):
        assert _get(f"{base}/api/health").status_code == 200
        assert _get(f"{base}/metrics").status_code == 200


def test_a_429_from_gunicorn_carries_retry_after(start_web: Web) -> None:
    base = start_web(rate_limit_mutations="2/minute")
    auth = {"X-Admin-Token": TOKEN, "Content-Type": "text/plain"}
    body = "# Netscape HTTP Cookie File\n.example.com\tTRUE\t/\tFALSE\t0\tSID\tv\n"

    answers = [
        requests.put(f"{base}/api/credentials/cookies", data=body, headers=auth, timeout=5)
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "rate_limited"
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    assert answers[2].headers["Content-Security-Policy"].startswith("default-src 'self'")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("REQUIRE_AUTH_FOR_READS", "true"), ("RATE_LIMIT_MUTATIONS", "lots/minute"),
     ("TRUSTED_PROXIES", "many"), ("TRUSTED_PROXIES", "1"), ("MEDIA_URL_TTL_S", "5"),
     ("ADMIN_TOKEN", "short-token")],
)  # fmt: skip
def test_web_refuses_to_start_half_secured(variable: str, value: str, tmp_path: Path) -> None:
    env = process_env({"DATA_DIR": str(tmp_path), "PORT": str(free_port()), variable: value})
    for name in ("REDIS_URL", "ADMIN_TOKEN"):
        if name != variable:
            env.pop(name, None)
    command = [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"configuration error: {variable}")
    assert variable != "ADMIN_TOKEN" or value not in lines[0]
