"""Settings: defaults, parsing, one-line errors naming the variable, and no secret ever shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from core.base.errors import ConfigurationError
from core.base.settings import Settings, load_settings
from tests.helpers import ROOT, process_env


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No Aula variable in the environment, and no `.env` or `var/encryption.key` in reach."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def config_error() -> str:
    """The one-line ConfigurationError that loading the settings raises."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    line = str(caught.value)
    assert "\n" not in line
    return line


def test_defaults_follow_the_contract(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()

    # Relative defaults, made absolute against the repository (no `.env` in the working folder).
    assert settings.database_url == f"sqlite:///{ROOT}/var/aula.db"
    assert settings.redis_url.startswith("redis://")
    assert settings.data_dir == ROOT / "var"
    assert settings.media_roots == []
    assert settings.download_dir == ROOT / "var/downloads"
    assert settings.drive_api_url == "https://www.googleapis.com"
    assert settings.classroom_api_url == "https://classroom.googleapis.com"
    assert settings.google_token_url == "https://oauth2.googleapis.com/token"
    assert settings.drive_folder_ids == ["root"]
    assert settings.encryption_key is None
    assert settings.fernet_keys == []
    assert settings.admin_token is None
    assert (settings.log_format, settings.log_level) == ("text", "INFO")
    assert settings.cors_origins == []
    assert settings.download_allow_private_hosts is False
    assert (settings.http_connect_timeout, settings.http_read_timeout) == (5.0, 30.0)
    assert settings.http_retries == 4
    assert (settings.catalog_sync_interval_s, settings.cleanup_interval_s) == (300, 3600)
    assert settings.max_content_length == 16777216
    assert settings.broker_visibility_timeout_s > settings.task_time_limit_s
    assert settings.temp_dir == ROOT / "var/tmp"


BAD_VALUES = [
    ("HTTP_READ_TIMEOUT", "abc"),
    ("HTTP_CONNECT_TIMEOUT", "-1"),
    ("HTTP_RETRIES", "many"),
    ("MAX_CONTENT_LENGTH", "12kb"),
    ("DATABASE_URL", "mysql://x"),
    ("DATABASE_URL", "var/aula.db"),
    ("REDIS_URL", "http://x"),
    ("LOG_LEVEL", "LOUD"),
    ("LOG_FORMAT", "xml"),
    ("DRIVE_API_URL", "ftp://x"),
    ("CLASSROOM_API_URL", "classroom.googleapis.com"),
    ("GOOGLE_TOKEN_URL", "file:///etc/passwd"),
    ("CORS_ORIGINS", "https://ok.example,ftp://bad.example"),
    ("DOWNLOAD_ALLOW_PRIVATE_HOSTS", "perhaps"),
    ("CATALOG_SYNC_INTERVAL_S", "0"),
]


@pytest.mark.parametrize(("variable", "value"), BAD_VALUES)
def test_a_bad_value_stops_with_one_line_naming_the_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)

    line = config_error()

    assert line.startswith("configuration error: ")
    assert variable in line


def test_a_bad_encryption_key_is_named_but_never_shown(clean_env: pytest.MonkeyPatch) -> None:
    bad_key = "nope-this-is-no-fernet-key-but-still-secret"
    clean_env.setenv("ENCRYPTION_KEY", bad_key)

    line = config_error()

    assert "ENCRYPTION_KEY" in line
    assert bad_key not in line
    assert "nope" not in line


def test_one_bad_key_among_several_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ENCRYPTION_KEY", f"{Fernet.generate_key().decode()},nope")

    assert "ENCRYPTION_KEY" in config_error()


def test_visibility_timeout_must_exceed_the_task_time_limit(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TASK_TIME_LIMIT_S", "600")
    clean_env.setenv("BROKER_VISIBILITY_TIMEOUT_S", "600")

    line = config_error()

    assert "BROKER_VISIBILITY_TIMEOUT_S" in line
    assert "TASK_TIME_LIMIT_S" in line
    clean_env.setenv("BROKER_VISIBILITY_TIMEOUT_S", "601")
    assert load_settings().broker_visibility_timeout_s == 601


def test_the_beat_lock_outlives_several_renewals(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BEAT_LOCK_TTL_S", "10")
    clean_env.setenv("BEAT_HEARTBEAT_INTERVAL_S", "5")

    line = config_error()

    assert "BEAT_LOCK_TTL_S" in line and "BEAT_HEARTBEAT_INTERVAL_S" in line
    clean_env.setenv("BEAT_HEARTBEAT_INTERVAL_S", "3")
    assert load_settings().beat_lock_ttl_s == 10


def test_a_worker_outlives_several_missed_liveness_writes(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("WORKER_LIVENESS_TTL_S", "20")
    clean_env.setenv("WORKER_LIVENESS_INTERVAL_S", "10")

    line = config_error()

    assert "WORKER_LIVENESS_TTL_S" in line and "WORKER_LIVENESS_INTERVAL_S" in line
    clean_env.setenv("WORKER_LIVENESS_INTERVAL_S", "5")
    assert load_settings().worker_liveness_ttl_s == 20


def test_secrets_set_alongside_a_bad_value_stay_out_of_the_line(
    clean_env: pytest.MonkeyPatch,
) -> None:
    token = "admin-token-that-must-not-leak"
    key = Fernet.generate_key().decode()
    clean_env.setenv("ADMIN_TOKEN", token)
    clean_env.setenv("ENCRYPTION_KEY", key)
    clean_env.setenv("FLOWER_BASIC_AUTH", "flower:flower-password-xyz")
    clean_env.setenv("HTTP_READ_TIMEOUT", "abc")

    line = config_error()

    assert "HTTP_READ_TIMEOUT" in line
    for secret in (token, key, "flower-password-xyz"):
        assert secret not in line


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://aula:db-password-123@db.example/aula"),
        ("REDIS_URL", "http://:redis-password-123@cache.example:6379/0"),
    ],
)
def test_a_password_in_a_bad_url_stays_out_of_the_line(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)

    line = config_error()

    assert variable in line
    assert "password-123" not in line


def test_public_settings_hold_no_secret(clean_env: pytest.MonkeyPatch) -> None:
    keys = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]
    clean_env.setenv("ADMIN_TOKEN", "public-admin-token-abc-0123456789")
    clean_env.setenv("ENCRYPTION_KEY", ",".join(keys))
    clean_env.setenv("FLOWER_BASIC_AUTH", "flower:flower-pass-abc")
    clean_env.setenv("DATABASE_URL", "postgresql://aula:pg-pass-abc@db.example:5432/aula")
    clean_env.setenv("REDIS_URL", "redis://:redis-pass-abc@cache.example:6379/0")

    settings = load_settings()
    public = settings.public()
    text = json.dumps(public)

    assert settings.fernet_keys == keys
    for secret in (*keys, "public-admin-token-abc-0123456789", "flower-pass-abc", "pg-pass-abc"):
        assert secret not in text
    assert "redis-pass-abc" not in text
    assert public["admin_token"] == "set"
    assert public["encryption_key"] == "set"
    assert public["flower_basic_auth"] == "set"
    assert public["database_url"] == "postgresql+psycopg://aula:***@db.example:5432/aula"
    assert public["redis_url"] == "redis://:***@cache.example:6379/0"
    assert public["log_format"] == "text"


def test_public_settings_say_none_for_unset_secrets(clean_env: pytest.MonkeyPatch) -> None:
    public = load_settings().public()

    assert public["admin_token"] is None
    assert public["encryption_key"] is None


def test_lists_are_split_by_their_separators(clean_env: pytest.MonkeyPatch) -> None:
    sep = os.pathsep
    clean_env.setenv("MEDIA_ROOTS", f"/srv/a{sep}/srv/b c{sep}{sep} /srv/d ")
    clean_env.setenv("DRIVE_FOLDER_IDS", "abc, def,,ghi ")
    clean_env.setenv("CORS_ORIGINS", "http://a.example, https://b.example:8443/")

    settings = load_settings()

    assert settings.media_roots == [Path("/srv/a"), Path("/srv/b c"), Path("/srv/d")]
    assert settings.drive_folder_ids == ["abc", "def", "ghi"]
    assert settings.cors_origins == ["http://a.example", "https://b.example:8443"]


def test_postgres_urls_get_the_psycopg_driver(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DATABASE_URL", "postgres://aula@db.example/aula")

    assert load_settings().database_url == "postgresql+psycopg://aula@db.example/aula"


def test_values_are_case_insensitive_where_they_should_be(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LOG_LEVEL", "debug")
    clean_env.setenv("DOWNLOAD_ALLOW_PRIVATE_HOSTS", "true")

    settings = load_settings()

    assert settings.log_level == "DEBUG"
    assert settings.download_allow_private_hosts is True


def test_encryption_key_is_read_from_the_data_dir_when_unset(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = Fernet.generate_key().decode()
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "encryption.key").write_text(f"{key}\n")
    clean_env.setenv("DATA_DIR", str(tmp_path / "keys"))

    settings = load_settings()

    assert settings.fernet_keys == [key]
    Fernet(settings.fernet_keys[0])  # usable as is


def test_the_environment_wins_over_the_key_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from_file, from_env = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    (tmp_path / "encryption.key").write_text(from_file)
    clean_env.setenv("DATA_DIR", str(tmp_path))
    clean_env.setenv("ENCRYPTION_KEY", from_env)

    assert load_settings().fernet_keys == [from_env]


def test_a_bad_key_file_is_named(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "encryption.key").write_text("not-a-key-from-the-file\n")
    clean_env.setenv("DATA_DIR", str(tmp_path))

    line = config_error()

    assert "not-a-key-from-the-file" not in line
    assert "ENCRYPTION_KEY" in line or "encryption.key" in line


def run_check_config(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    names = {name.upper() for name in Settings.model_fields}
    child_env = {k: v for k, v in process_env({}).items() if k.upper() not in names}
    child_env.update({"DATA_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "-m", "core", "check-config"],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_config_prints_one_line_and_exits_2_on_a_bad_value(tmp_path: Path) -> None:
    result = run_check_config(
        {"HTTP_READ_TIMEOUT": "abc", "ADMIN_TOKEN": "cli-token-xyz-0123456789abcdef"}, tmp_path
    )

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "HTTP_READ_TIMEOUT" in lines[0]
    assert "cli-token-xyz" not in result.stderr
    assert result.stdout == ""


def test_check_config_hides_a_bad_secret(tmp_path: Path) -> None:
    result = run_check_config({"ENCRYPTION_KEY": "nope-secret-key-value"}, tmp_path)

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "ENCRYPTION_KEY" in result.stderr
    assert "nope-secret-key-value" not in result.stderr


def test_check_config_accepts_a_good_environment(tmp_path: Path) -> None:
    result = run_check_config({"DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "configuration ok"
