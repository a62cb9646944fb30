"""The access and hardening settings: defaults, parsing, and the one-line errors."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from core.base.errors import ConfigurationError
from core.base.settings import Settings, load_settings
from tests.core.test_settings import clean_env

# No Aula variable from the environment, no .env in reach.
pytestmark = pytest.mark.usefixtures(clean_env.__name__)


def _settings(**values: object) -> Settings:
    base: dict[str, object] = {"encryption_key": None, "admin_token": None}
    return load_settings(**{**base, **values})


def test_defaults_leave_reads_open_and_limit_mutations() -> None:
    settings = _settings()

    assert settings.require_auth_for_reads is False
    assert settings.media_url_ttl_s == 4 * 3600
    assert settings.force_https is False
    assert settings.trusted_proxies == []
    assert settings.rate_limit_mutations == "600/minute"
    assert settings.rate_limit_auth_failures == "10/minute"
    shown = settings.public()
    assert shown["require_auth_for_reads"] is False and shown["trusted_proxies"] == []


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("10/second;100/hour", "10/second;100/hour"), (" 5 per minute ", "5 per minute"),
     ("", ""), ("0", "")],
)  # fmt: skip
def test_rate_limits_parse_and_empty_or_zero_disables(value: str, parsed: str) -> None:
    assert _settings(rate_limit_mutations=value).rate_limit_mutations == parsed


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"require_auth_for_reads": True}, "REQUIRE_AUTH_FOR_READS"),
        ({"media_url_ttl_s": 10}, "MEDIA_URL_TTL_S"),
        ({"media_url_ttl_s": "four hours"}, "MEDIA_URL_TTL_S"),
        ({"trusted_proxies": -1}, "TRUSTED_PROXIES"),
        ({"force_https": "maybe"}, "FORCE_HTTPS"),
        ({"rate_limit_mutations": "lots"}, "RATE_LIMIT_MUTATIONS"),
        ({"rate_limit_auth_failures": "10/fortnight"}, "RATE_LIMIT_AUTH_FAILURES"),
    ],
)
def test_bad_values_stop_with_one_line_naming_the_variable(
    values: dict[str, object], variable: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _settings(**values)
    line = str(caught.value)
    assert line.startswith(f"configuration error: {variable}") and "\n" not in line


def test_reads_behind_the_token_with_a_token_is_fine() -> None:
    settings = _settings(
        require_auth_for_reads=True,
        admin_token="a-token-of-some-length-0123",
        encryption_key=Fernet.generate_key().decode(),
    )

    assert settings.require_auth_for_reads is True
