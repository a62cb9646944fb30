"""A bad setting stops web, worker and beat at start with one clear line naming the variable."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import ROOT, VENV_BIN, free_port, process_env

COMMANDS = {
    "web": [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
    "worker": [str(VENV_BIN / "celery"), "-A", "tasks", "worker"],
    "beat": [str(VENV_BIN / "celery"), "-A", "tasks", "beat"],
}
BAD_VALUES = [
    ("HTTP_READ_TIMEOUT", "abc"),
    ("ENCRYPTION_KEY", "not-a-fernet-key"),
    ("DATABASE_URL", "mysql://db/aula"),
    ("CLEANUP_INTERVAL_S", "-5"),
    ("WEBHOOK_URLS", "https://hooks.example.org/ok,ftp://hooks.example.org/t0ken"),
]


@pytest.mark.parametrize("process", sorted(COMMANDS))
@pytest.mark.parametrize(("variable", "value"), BAD_VALUES)
def test_bad_setting_stops_the_process_with_one_line(process, variable, value, tmp_path):
    env = process_env({"DATA_DIR": str(tmp_path), "PORT": str(free_port()), variable: value})
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        COMMANDS[process], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"configuration error: {variable}")
    if variable in ("ENCRYPTION_KEY", "WEBHOOK_URLS"):  # webhook URLs may carry tokens
        assert value not in lines[0] and "t0ken" not in lines[0], "a secret value was echoed"
