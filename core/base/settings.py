"""One typed settings object, read once from the environment and `.env`."""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from core.base import setting_values as values
from core.base.errors import AulaError, ConfigurationError
from core.base.library_settings import LibrarySettings
from core.base.media_settings import MediaSettings
from core.base.paths import ENV_FILE, absolute_path, absolute_sqlite_url, base_dir
from core.base.setting_values import strip_password

CSV = Annotated[list[str], NoDecode]
PathList = Annotated[list[Path], NoDecode]
# Webhook URLs count as secrets: many carry a token in their path (Slack, Discord, ntfy).
SECRET_FIELDS = frozenset(
    {
        "encryption_key",
        "admin_token",
        "flower_basic_auth",
        "webhook_secret",
        "webhook_urls",
        "google_client_secret",
        "media_link_secret",
    }
)


class Settings(LibrarySettings, MediaSettings):
    """Everything Aula reads from its environment (CONTRACT section 2, plus operational knobs)."""

    model_config = SettingsConfigDict(env_file=ENV_FILE, extra="ignore", frozen=True)

    database_url: str = "sqlite:///var/aula.db"
    redis_url: str = "redis://127.0.0.1:6379/0"
    data_dir: Path = Path("var")
    media_roots: PathList = Field(default_factory=list)
    download_dir: Path = Path("var/downloads")
    # False once a release step (`python -m core migrate`) has run: see core.base.db.prepare_schema.
    migrate_on_start: bool = True
    drive_api_url: str = "https://www.googleapis.com"
    classroom_api_url: str = "https://classroom.googleapis.com"
    google_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105
    # How browsers reach Aula (CONTRACT 8.1; https makes session cookies Secure), and Google's
    # other OAuth endpoints.
    public_url: str = ""  # empty: http://localhost:{PORT} (see public_base)
    google_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_revoke_url: str = "https://oauth2.googleapis.com/revoke"
    google_userinfo_url: str = "https://openidconnect.googleapis.com/v1/userinfo"
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    drive_folder_ids: CSV = Field(default_factory=lambda: ["root"])
    subtitle_langs: CSV = Field(default_factory=lambda: ["en"])  # yt-dlp: subtitles and captions
    encryption_key: SecretStr | None = None
    admin_token: SecretStr | None = None
    log_format: Literal["json", "text"] = "text"
    log_level: str = "INFO"
    cors_origins: CSV = Field(default_factory=list)
    download_allow_private_hosts: bool = False
    http_connect_timeout: float = Field(5.0, gt=0)
    http_read_timeout: float = Field(30.0, gt=0)
    http_retries: int = Field(4, ge=0, le=20)
    drive_rate_per_s: float = Field(10.0, gt=0)
    catalog_sync_interval_s: int = Field(300, ge=1)
    cleanup_interval_s: int = Field(3600, ge=1)
    classroom_sync_interval_s: int = Field(900, ge=0)  # 0: beat does not run classroom.sync
    local_scan_interval_s: int = Field(300, ge=0)  # 0: beat does not rescan the media roots
    max_content_length: int = Field(16 * 1024 * 1024, ge=1024)
    # Access and HTTP hardening (README, Security).
    require_auth_for_reads: bool = False
    media_url_ttl_s: int = Field(4 * 3600, ge=60, le=7 * 24 * 3600)
    force_https: bool = False
    trusted_proxies: CSV = Field(default_factory=list)
    rate_limit_mutations: str = "600/minute"
    rate_limit_auth_failures: str = "10/minute"
    drive_live_concurrency: int = Field(4, ge=1, le=64)
    # Behind deploy/nginx: local files answered with X-Accel-Redirect (README, Docker Compose).
    accel_redirect_prefix: str = Field("", pattern=r"^(/[A-Za-z0-9_.-]+)*$")
    # Behind deploy/nginx: a video's ranges go to a URL nginx checks itself (api/media_links.py).
    media_link_secret: SecretStr | None = Field(None, min_length=16)
    # Operational knobs beyond the contract's table.
    port: int = Field(8000, ge=1, le=65535)
    # Web listens on every interface by default (CONTRACT 1); make run warns while reads are open.
    web_address: str = "0.0.0.0"  # noqa: S104  # nosec B104  # see the line above
    worker_metrics_port: int = Field(9808, ge=0, le=65535)
    # Scraped by Prometheus from other hosts; `make run` sets 127.0.0.1 (scripts/run.py).
    worker_metrics_address: str = "0.0.0.0"  # noqa: S104  # nosec B104  # see the line above
    flower_port: int = Field(5555, ge=1, le=65535)
    flower_basic_auth: SecretStr | None = None
    web_concurrency: int = Field(2, ge=1, le=64)
    web_threads: int = Field(32, ge=1, le=256)
    web_timeout_s: int = Field(60, ge=1)
    web_graceful_timeout_s: int = Field(30, ge=1, le=3600)
    worker_concurrency: int = Field(2, ge=1, le=64)
    thumbnail_cache_mb: int = Field(256, ge=1)
    task_retention_days: int = Field(30, ge=1)
    temp_max_age_s: int = Field(24 * 3600, ge=60)
    disk_free_floor_mb: int = Field(512, ge=0)
    task_time_limit_s: int = Field(6 * 3600, ge=10)
    broker_visibility_timeout_s: int = Field(12 * 3600, ge=1)
    broker_restore_interval_s: int = Field(10, ge=1)
    result_expires_s: int = Field(24 * 3600, ge=60)
    progress_interval_s: float = Field(0.5, ge=0)
    enable_test_tasks: bool = False
    # Graceful shutdown and the single-instance beat.
    worker_shutdown_grace_s: int = Field(30, ge=0, le=3600)
    beat_lock_ttl_s: int = Field(30, ge=3, le=3600)
    beat_heartbeat_interval_s: float = Field(5.0, gt=0, le=60)
    # Notifications (README, Notifications): retries double from the base up to the cap, and
    # the default attempts span 40-50 minutes, so a receiver down for minutes misses nothing.
    webhook_urls: CSV = Field(default_factory=list)
    webhook_secret: SecretStr | None = None
    webhook_retry_base_s: float = Field(5.0, gt=0, le=3600)
    webhook_retry_max_s: float = Field(600.0, gt=0, le=6 * 3600)
    webhook_max_attempts: int = Field(12, ge=1, le=100)
    # Crash recovery: workers prove they live; the tasks of those that stop are handed back.
    worker_liveness_interval_s: float = Field(10.0, gt=0, le=60)
    worker_liveness_ttl_s: float = Field(30.0, gt=0, le=600)

    @field_validator("drive_folder_ids", "cors_origins", "trusted_proxies", "webhook_urls",
                     "subtitle_langs", mode="before")  # fmt: skip
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return values.split(value, ",")

    @field_validator("media_roots", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> Any:
        return values.split(value, os.pathsep)

    @field_validator("data_dir", "download_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return absolute_path(value, base_dir())

    @field_validator("media_roots")
    @classmethod
    def _absolute_roots(cls, value: list[Path]) -> list[Path]:
        base = base_dir()
        return [absolute_path(root, base) for root in value]

    @field_validator(
        "drive_api_url",
        "classroom_api_url",
        "google_token_url",
        "google_auth_url",
        "google_revoke_url",
        "google_userinfo_url",
    )
    @classmethod
    def _urls(cls, value: str) -> str:
        return values.http_url(value)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return values.http_url(value) if value else ""

    @property
    def public_base(self) -> str:
        """How browsers reach Aula, without a trailing slash: PUBLIC_URL, else
        http://localhost:{PORT}."""
        return (self.public_url or f"http://localhost:{self.port}").rstrip("/")

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [values.http_url(origin) for origin in value]

    @field_validator("webhook_urls")
    @classmethod
    def _webhooks(cls, value: list[str]) -> list[str]:
        # Here, not in setting_values: netguard is the one check that needs more of base.
        from core.base.netguard import normalize_url

        checked = []
        for index, url in enumerate(value, 1):
            try:
                checked.append(normalize_url(url))
            except AulaError as error:  # the URL itself is not echoed: it may hold a token
                raise ValueError(f"entry {index} of {len(value)}: {error.message}") from None
        return checked

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        return absolute_sqlite_url(values.database_scheme(value), base_dir())

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str) -> str:
        return values.redis_url(value)

    @field_validator("rate_limit_mutations", "rate_limit_auth_failures")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        return values.rate_limit(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        return values.proxy_networks(value)

    @field_validator(
        "admin_token", "media_link_secret", "webhook_secret", "google_client_secret",
        "flower_basic_auth", mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # NAME= (empty) is off, as unset: deploy/k8s's secret.env.example lists each that way.
        return None if value == "" else value

    @field_validator("admin_token")
    @classmethod
    def _token_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            values.admin_token_length(value.get_secret_value())
        return value

    @field_validator("worker_metrics_address", "web_address")
    @classmethod
    def _bind_address(cls, value: str) -> str:
        return values.bind_address(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return values.log_level(value)

    @field_validator("encryption_key")
    @classmethod
    def _fernet(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not values.fernet_keys(value.get_secret_value()):
            return None
        return value

    @model_validator(mode="after")
    def _key_file(self) -> Settings:
        if self.encryption_key is None:
            path = self.data_dir / "encryption.key"
            if path.is_file():
                key = SecretStr(path.read_text().strip())
                try:
                    object.__setattr__(self, "encryption_key", self._fernet(key))
                except ValueError as error:
                    raise ValueError(f"ENCRYPTION_KEY (read from {path}) {error}") from None
        return self

    @model_validator(mode="after")
    def _intervals(self) -> Settings:
        """Each lease or timeout outlasts what it guards."""
        if self.broker_visibility_timeout_s <= self.task_time_limit_s:
            raise ValueError(
                "BROKER_VISIBILITY_TIMEOUT_S: must exceed TASK_TIME_LIMIT_S, or long tasks run"
                " twice"
            )
        if self.beat_heartbeat_interval_s * 3 > self.beat_lock_ttl_s:
            raise ValueError(
                "BEAT_LOCK_TTL_S: must be at least three BEAT_HEARTBEAT_INTERVAL_S, or the running"
                " beat may lose its lock between renewals"
            )
        if self.worker_liveness_interval_s * 3 > self.worker_liveness_ttl_s:
            raise ValueError(
                "WORKER_LIVENESS_TTL_S: must be at least three WORKER_LIVENESS_INTERVAL_S, or a"
                " live worker's tasks may be handed to another between two of its writes"
            )
        return self

    @model_validator(mode="after")
    def _read_auth(self) -> Settings:
        if self.require_auth_for_reads and self.admin_token is None:
            raise ValueError("REQUIRE_AUTH_FOR_READS: needs ADMIN_TOKEN to be set")
        if self.require_auth_for_reads and not self.fernet_keys:
            raise ValueError(
                "REQUIRE_AUTH_FOR_READS: needs ENCRYPTION_KEY (media URLs are signed with a key"
                " derived from it)"
            )
        return self

    @property
    def fernet_keys(self) -> list[str]:
        """The Fernet keys, the first of which encrypts."""
        if self.encryption_key is None:
            return []
        return values.fernet_keys(self.encryption_key.get_secret_value())

    @property
    def temp_dir(self) -> Path:
        """Where work in progress is written; the cleanup task sweeps it."""
        return self.data_dir / "tmp"

    def public(self) -> dict[str, Any]:
        """Settings that are safe to show: no secrets, no credentials in URLs."""
        shown: dict[str, Any] = {}
        for name, value in self.model_dump(mode="json").items():
            if name in SECRET_FIELDS:
                shown[name] = "set" if getattr(self, name) else None
            elif name in ("database_url", "redis_url"):
                shown[name] = strip_password(value)
            else:
                shown[name] = value
        return shown


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a check across fields: its message starts with the variable
        return f"configuration error: {message}"
    field = str(first["loc"][0])
    variable = field.upper()
    value = os.environ.get(variable)
    if field in SECRET_FIELDS or value is None:
        return f"configuration error: {variable}: {message}"
    return f"configuration error: {variable}={strip_password(value)!r}: {message}"


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings, raising ConfigurationError naming the bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigurationError(_describe(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return load_settings()


def settings_or_exit() -> Settings:
    """Return the settings or stop the process with one clear line on stderr (exit status 2)."""
    try:
        return get_settings()
    except ConfigurationError as error:
        sys.stderr.write(f"{error}\n")
        sys.stderr.flush()
        raise SystemExit(2) from None
