"""Logs: secrets redacted everywhere in a record, JSON lines with their context fields."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from core.base.logging import (
    REDACTED,
    dict_config,
    redact,
    register_secret,
    register_setting_secrets,
    request_id_var,
    setting_secrets,
    task_id_var,
    task_name_var,
)
from core.base.settings import SECRET_FIELDS, Settings, load_settings

Configure = Callable[..., io.StringIO]


@pytest.fixture
def capture() -> Iterator[Configure]:
    """Install Aula's dictConfig with its handler writing to a StringIO; restore root after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def configure(log_format: str = "json", level: str = "DEBUG") -> io.StringIO:
        stream = io.StringIO()
        config = dict_config(log_format, level)
        config["handlers"]["stderr"]["stream"] = stream
        logging.config.dictConfig(config)
        return stream

    yield configure
    root.handlers[:] = handlers
    root.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.DEF-123_456~x", "abc.DEF-123_456~x"),
        ("authorization: bearer lowercase-token-1", "lowercase-token-1"),
        ("headers={'Authorization': 'Basic dXNlcjpwYXNzd29yZA=='}", "dXNlcjpwYXNzd29yZA"),
        ("sent Bearer ya29.a0AfH6SMB-free-text", "ya29.a0AfH6SMB-free-text"),
        ("X-Admin-Token: admin-header-value", "admin-header-value"),
        ("Cookie: sid=cookie-sid-123; csrftoken=cookie-csrf-456", "cookie-sid-123"),
        ("Cookie: sid=cookie-sid-123; csrftoken=cookie-csrf-456", "cookie-csrf-456"),
        ("{'Cookie': 'SAPISID=dict-cookie-789'}", "dict-cookie-789"),
        ("Set-Cookie: session=set-cookie-abc; Path=/; HttpOnly", "set-cookie-abc"),
        ("GET https://oauth2.example/cb?access_token=url-at-123&x=1", "url-at-123"),
        ("POST /token?grant_type=refresh_token&refresh_token=url-rt-456", "url-rt-456"),
        ("https://x.example/t?client_id=pub&client_secret=url-cs-789", "url-cs-789"),
        ("https://www.googleapis.com/drive/v3/files?key=api-key-000&alt=media", "api-key-000"),
        ('{"refresh_token": "1//json-rt-value", "expires_in": 3599}', "1//json-rt-value"),
        ('{"access_token":"json-at-value","token_type":"Bearer"}', "json-at-value"),
        ("{'client_secret': 'repr-cs-value'}", "repr-cs-value"),
        ('{"client_secret": "escaped\\"quote-secret"}', "quote-secret"),
        # Upper-case names: the needles that let a line skip a pattern are found case-blind.
        ("AUTHORIZATION: BASIC dXBwZXI6Y2FzZQ==", "dXBwZXI6Y2FzZQ"),
        ("X-ADMIN-TOKEN=UPPER-ADMIN-VALUE", "UPPER-ADMIN-VALUE"),
        ("GET /CB?CODE=UPPER-CODE-1 HTTP/1.1", "UPPER-CODE-1"),
        # Outside ASCII, (?i) folds more than str.lower() (long s, Kelvin sign): still redacted.
        ("Ba\u017fic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
        ('{"pa\u017fsword": "long-s-password"}', "long-s-password"),
        ("/x?\u212aey=kelvin-key-value", "kelvin-key-value"),
    ],
)
def test_redact_removes_secrets(text: str, secret: str) -> None:
    cleaned = redact(text)

    assert secret not in cleaned
    assert REDACTED in cleaned


def test_a_secret_registered_later_is_redacted_from_then_on() -> None:
    before = redact("late-registered-secret-7071 in a line")
    register_secret("late-registered-secret-7071")

    assert before == "late-registered-secret-7071 in a line"
    assert redact("late-registered-secret-7071 in a line") == f"{REDACTED} in a line"


def test_redact_keeps_what_is_not_secret() -> None:
    plain = "GET /api/tasks?limit=5&state=PENDING 200 in 3.2 ms; client_id=public-id"

    assert redact(plain) == plain
    assert "expires_in" in redact('{"refresh_token": "x-y-z", "expires_in": 3599}')
    assert "3599" in redact('{"refresh_token": "x-y-z", "expires_in": 3599}')


def test_registered_secret_values_are_redacted_anywhere() -> None:
    register_secret("registered-Secret-value-4242")

    cleaned = redact("failed with registered-Secret-value-4242 in the middle")

    assert "registered-Secret-value-4242" not in cleaned
    assert cleaned == f"failed with {REDACTED} in the middle"


def test_every_secret_setting_is_redacted_once_the_settings_are_registered() -> None:
    # web and worker both call register_setting_secrets (through configure_process_logging).
    values = {
        "admin_token": "first-admin-token-0123456789ab,second-admin-token-0123456789ab",
        "encryption_key": Fernet.generate_key().decode(),
        "flower_basic_auth": "flower:flower-pass-in-settings",
        "webhook_secret": "webhook-signing-secret-in-settings",
        "webhook_urls": "https://hooks.example/T000/B000/token-in-the-path-abc",
        "google_client_secret": "GOCSPX-client-secret-in-settings",
        "media_link_secret": "media-link-secret-in-settings-0123",
    }
    assert set(values) == SECRET_FIELDS  # a new secret setting gets a value here too
    settings = load_settings(**values)
    bare = [part for value in values.values() for part in value.split(",")]

    register_setting_secrets(settings)
    line = redact("values: " + " | ".join(bare))

    assert set(bare) <= set(setting_secrets(settings))
    assert not [value for value in bare if value in line], line
    assert line.count(REDACTED) == len(bare)


def test_every_secret_typed_setting_is_in_the_one_secret_list() -> None:
    secret_typed = {
        name
        for name, field in Settings.model_fields.items()
        if SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
    }
    assert secret_typed and secret_typed <= SECRET_FIELDS


def test_very_short_values_are_not_registered() -> None:
    # Registering "abc" would shred every log line that happens to contain it.
    register_secret("q7z")
    register_secret(None)

    assert redact("q7z stays") == "q7z stays"


def test_filter_scrubs_message_args_and_extra_fields(capture: Configure) -> None:
    stream = capture("json")
    log = logging.getLogger("aula.test.redact")

    log.info(
        "calling %s with %s",
        "https://x.example/?access_token=arg-token-111",
        {"Authorization": "Bearer arg-bearer-222"},
        extra={"url": "https://x.example/?refresh_token=extra-rt-333", "note": "Bearer extra-444"},
    )

    raw = stream.getvalue()
    for secret in ("arg-token-111", "arg-bearer-222", "extra-rt-333", "extra-444"):
        assert secret not in raw
    (line,) = json_lines(stream)
    assert line["message"].startswith("calling https://x.example/?access_token=")
    assert REDACTED in line["url"]
    assert line["note"] == f"Bearer {REDACTED}"


def test_filter_scrubs_exception_tracebacks(capture: Configure) -> None:
    stream = capture("json")
    log = logging.getLogger("aula.test.redact")

    try:
        raise RuntimeError("refresh failed: Bearer exc-bearer-999 ?client_secret=exc-cs-1")
    except RuntimeError:
        log.exception("token refresh failed")

    raw = stream.getvalue()
    assert "exc-bearer-999" not in raw
    assert "exc-cs-1" not in raw
    (line,) = json_lines(stream)
    assert "Traceback" in line["exc_info"]
    assert "RuntimeError" in line["exc_info"]


def test_text_format_scrubs_too(capture: Configure) -> None:
    stream = capture("text")
    log = logging.getLogger("aula.test.redact")

    try:
        raise ValueError("Cookie: sid=text-cookie-555")
    except ValueError:
        log.exception("GET %s", "/cb?code=oauth-code-666", extra={"h": "Bearer text-777"})

    raw = stream.getvalue()
    for secret in ("text-cookie-555", "oauth-code-666", "text-777"):
        assert secret not in raw
    assert "Traceback" in raw
    assert "ValueError" in raw
    assert "aula.test.redact" in raw


def test_filter_scrubs_structured_extra_fields(capture: Configure) -> None:
    stream = capture("json")

    logging.getLogger("aula.test.redact").info(
        "upstream call", extra={"headers": {"Authorization": "Bearer dict-extra-888"}}
    )

    assert "dict-extra-888" not in stream.getvalue()


def test_json_lines_carry_the_contract_fields(capture: Configure) -> None:
    stream = capture("json")

    logging.getLogger("aula.test.json").warning("hello %s", "world", extra={"queue": "default"})

    (line,) = json_lines(stream)
    assert line["message"] == "hello world"
    assert line["level"] == "WARNING"
    assert line["logger"] == "aula.test.json"
    assert datetime.fromisoformat(str(line["timestamp"])).utcoffset() is not None
    assert line["queue"] == "default"
    assert "request_id" not in line and "task_id" not in line


def test_billiards_pool_messages_are_json_lines_too(capture: Configure) -> None:
    from billiard import util

    stream = capture("json")
    util.get_logger()  # billiard turns this logger's propagation off
    util.error("Process %r pid:%r exited with %r", "ForkPoolWorker-1", 42, "signal 15 (SIGTERM)")

    (line,) = json_lines(stream)
    assert line["logger"] == "multiprocessing" and line["level"] == "ERROR"
    assert "exited with 'signal 15 (SIGTERM)'" in line["message"]


def test_json_lines_carry_request_and_task_context(capture: Configure) -> None:
    stream = capture("json")
    tokens = (
        request_id_var.set("req-abc-123"),
        task_id_var.set("5d0c7a2e-task"),
        task_name_var.set("maintenance.cleanup"),
    )
    try:
        logging.getLogger("aula.test.json").info("in a task")
    finally:
        for var, token in zip((request_id_var, task_id_var, task_name_var), tokens, strict=True):
            var.reset(token)
    logging.getLogger("aula.test.json").info("outside")

    inside, outside = json_lines(stream)
    assert inside["request_id"] == "req-abc-123"
    assert inside["task_id"] == "5d0c7a2e-task"
    assert inside["task_name"] == "maintenance.cleanup"
    assert "task_id" not in outside and "request_id" not in outside


def test_explicit_context_in_extra_is_kept(capture: Configure) -> None:
    stream = capture("json")
    token = request_id_var.set("from-context")
    try:
        logging.getLogger("aula.test.json").info("x", extra={"request_id": "from-extra"})
    finally:
        request_id_var.reset(token)

    assert json_lines(stream)[0]["request_id"] == "from-extra"


def test_text_lines_show_context_fields(capture: Configure) -> None:
    stream = capture("text")
    token = request_id_var.set("text-req-1")
    try:
        logging.getLogger("aula.test.text").info("hello")
    finally:
        request_id_var.reset(token)

    line = stream.getvalue().strip()
    assert " INFO aula.test.text: hello" in line
    assert "request_id=text-req-1" in line


def test_the_level_filters_lines(capture: Configure) -> None:
    stream = capture("json", "WARNING")
    log = logging.getLogger("aula.test.level")

    log.info("dropped")
    log.error("kept")

    assert [line["message"] for line in json_lines(stream)] == ["kept"]


def test_oauth_secrets_are_redacted_by_name():
    from core.base.logging import redact

    line = (
        '/api/google/oauth/callback?code=4/0abc {"code_verifier": "v3rifier",'
        ' "private_key": "-----BEGIN", "assertion": "eyJhbGciOi"} grant=x&assertion=eyJ'
    )
    cleaned = redact(line)
    for secret in ("4/0abc", "v3rifier", "-----BEGIN", "eyJhbGciOi", "eyJ"):
        assert secret not in cleaned
