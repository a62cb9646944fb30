"""An ADMIN_TOKEN under 24 characters stops every process at start with one line naming it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from core.base.errors import ConfigurationError
from core.base.setting_values import MIN_ADMIN_TOKEN
from core.base.settings import Settings, load_settings
from tests.helpers import ROOT, VENV_BIN, process_env

SHORT = "short-admin-token-23chr"  # 23 characters: one too few


def test_the_minimum_is_24() -> None:
    assert len(SHORT) == MIN_ADMIN_TOKEN - 1 == 23
    with pytest.raises(ConfigurationError) as caught:
        load_settings(admin_token=SHORT)
    assert str(caught.value).startswith("configuration error: ADMIN_TOKEN: must be at least 24")
    assert SHORT not in str(caught.value)
    assert load_settings(admin_token=SHORT + "x").admin_token is not None
    assert load_settings(admin_token="").admin_token is None  # empty is unset


@pytest.mark.parametrize(
    "name", ["admin_token", "media_link_secret", "webhook_secret", "google_client_secret",
             "flower_basic_auth"],
)  # fmt: skip
def test_an_empty_optional_secret_is_unset(name: str) -> None:
    # deploy/k8s/base/secret.env.example lists each as NAME= (off): the pods must start with it.
    assert getattr(load_settings(**{name: ""}), name) is None


@pytest.mark.parametrize(
    "command",
    [
        ["python", "-m", "core", "check-config"],
        ["celery", "-A", "tasks", "worker", "--pool", "solo"],
        ["celery", "-A", "tasks", "beat"],
    ],
    ids=["check-config", "worker", "beat"],
)
def test_every_process_refuses_a_short_token(command: list[str], tmp_path: Path) -> None:
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in process_env({}).items() if k.upper() not in names}
    env.update({"DATA_DIR": str(tmp_path), "ADMIN_TOKEN": SHORT})
    result = subprocess.run(
        [str(VENV_BIN / command[0]), *command[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("configuration error: ADMIN_TOKEN: must be at least 24 characters")
    assert SHORT not in result.stderr + result.stdout
