"""Structured logs: JSON or text, request and task context, secrets redacted from every record."""

from __future__ import annotations

import functools
import logging
import logging.config
import re
import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from core.base.settings import SECRET_FIELDS

if TYPE_CHECKING:
    from core.base.settings import Settings

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("task_id", default=None)
task_name_var: ContextVar[str | None] = ContextVar("task_name", default=None)

REDACTED = "[REDACTED]"
# Longer text is cut to this many characters before it is redacted: a log line stays bounded in
# size and in the time its redaction takes, however large the value (a request path, a body).
MAX_REDACTED_CHARS = 16 * 1024
TRUNCATED = "...[truncated]"
# Short texts come back on every line (a method, a request path, a request line): their redaction
# is remembered, keyed by the text and the secrets known then (issue 29).
MAX_REMEMBERED_CHARS = 256
MIN_CUT_PREFIX = 4
_SENSITIVE = (
    r"access_token|refresh_token|id_token|client_secret|token|api_key|apikey|key|secret|"
    r"password|passwd|signature|sig|code_verifier|assertion|private_key"
)
# Every pattern runs in linear time: its alternatives are disjoint and every repetition is
# possessive, so no input (runs of backslashes, quotes, nested key=) makes the engine backtrack.
_HEADER_NAME = r"['\"]?+(?:authorization|x-admin-token|set-cookie|cookie)['\"]?+"
_JSON_NAME = rf"['\"](?:{_SENSITIVE}|cookies?)['\"]"
# Each pattern with its needles: lower-case strings of which every match contains one (in ASCII
# text, where `(?i)` is plain ASCII case-folding). A text holding none of a pattern's needles cannot
# match it, so the pattern is not run: most log lines hold no needle at all.
PATTERNS: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    # Authorization: Bearer xyz / Basic xyz, in headers, dict reprs and plain text.
    (
        re.compile(r"(?i)\b(bearer|basic)\s++[A-Za-z0-9._~+/=-]++"),
        rf"\1 {REDACTED}",
        ("bearer", "basic"),
    ),
    # Authorization: ..., Cookie: ... as a header line, quoted ('...' or "...", closed or not) or
    # bare up to a quote or the end of the line.
    (
        re.compile(
            rf"(?i)({_HEADER_NAME}[ \t]*+[:=][ \t]*+)"
            r"(?:(\")[^\"\n]*+\"?+|(')[^'\n]*+'?+|[^'\"\n]++)"
        ),
        "\\1\\2\\3" + REDACTED + "\\2\\3",
        ("authorization", "x-admin-token", "cookie"),  # set-cookie holds cookie
    ),
    # Personal API tokens and session cookies (core/people) wherever they appear in text.
    (
        re.compile(r"(?i)\baula_(?:session=[^;\s'\"]++|[A-Za-z0-9_-]{20,}+)"),
        f"aula_{REDACTED}",
        ("aula_",),
    ),
    # ?access_token=...&key=... in URLs and form bodies.
    (
        re.compile(rf"(?i)([?&;](?:{_SENSITIVE}|code)=)[^&#\s'\"]++"),
        rf"\1{REDACTED}",
        ("?", "&", ";"),
    ),
    # "refresh_token": "..." in JSON and reprs, escaped quotes included; an unclosed string is
    # redacted to the end of its line.
    (
        re.compile(
            rf"(?i)({_JSON_NAME}\s*+:\s*+)"
            r"(?:(\")(?:[^\"\\\n]|\\.)*+\\?+\"?+|(')(?:[^'\\\n]|\\.)*+\\?+'?+)"
        ),
        "\\1\\2\\3" + REDACTED + "\\2\\3",
        ("'", '"'),
    ),
)
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_known_secrets: set[str] = set()
# The same values, longest first (a secret that holds another is removed whole); rebuilt on each
# registration, so a log line reads it without taking the lock or sorting.
_secrets_by_length: tuple[str, ...] = ()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Redact this exact value wherever it appears in a log line from now on."""
    global _secrets_by_length
    if value and len(value) >= 6:
        with _secrets_lock:
            _known_secrets.add(value)
            _secrets_by_length = tuple(sorted(_known_secrets, key=len, reverse=True))


def setting_secrets(settings: Settings) -> list[str]:
    """The values of every secret setting (SECRET_FIELDS): each whole and, for a SecretStr, each
    comma-separated part (several admin tokens, several Flower users)."""
    values: list[str] = []
    for name in sorted(SECRET_FIELDS):
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            whole = value.get_secret_value()
            values += [whole, *whole.split(",")]
        elif isinstance(value, list):  # webhook URLs: their paths often hold a token
            values += [str(item) for item in value]
    return values


def register_setting_secrets(settings: Settings) -> None:
    """Redact every secret setting's value from log lines from now on."""
    for value in setting_secrets(settings):
        register_secret(value)


def redact(text: str) -> str:
    """Remove secrets from a string: known values, bearer tokens, cookies, secret query params.

    Text longer than MAX_REDACTED_CHARS is cut first (marked with TRUNCATED); a known secret cut
    in two at that point is removed as well. Linear in the length of the text.
    """
    secrets = _secrets_by_length
    if len(text) <= MAX_REMEMBERED_CHARS:
        return _redact_remembered(text, secrets)
    return _redact(text, secrets)


@functools.lru_cache(maxsize=4096)
def _redact_remembered(text: str, secrets: tuple[str, ...]) -> str:
    # The answer depends on the text and the secrets known at the time, the cache's whole key:
    # a secret registered later is a new key, never a stale answer.
    return _redact(text, secrets)


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    cut = len(text) > MAX_REDACTED_CHARS
    if cut:
        text = text[:MAX_REDACTED_CHARS]
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if cut:
        text = _drop_cut_secret(text, secrets)
    # Outside ASCII, `(?i)` folds more than str.lower() does (the Kelvin sign matches k): every
    # pattern runs there, needles or not.
    folded = text.lower() if text.isascii() else None
    for pattern, replacement, needles in PATTERNS:
        if folded is None or any(map(folded.__contains__, needles)):
            text = pattern.sub(replacement, text)
    return text + TRUNCATED if cut else text


def _drop_cut_secret(text: str, secrets: tuple[str, ...]) -> str:
    # The cut may have left the first characters of a known secret at the very end (three or
    # fewer tell next to nothing, and matching them would shred ordinary text).
    for secret in secrets:
        for length in range(len(secret) - 1, MIN_CUT_PREFIX - 1, -1):
            if text.endswith(secret[:length]):
                return text[:-length] + REDACTED
    return text


_SENSITIVE_KEY = re.compile(
    rf"(?i)^(?:{_SENSITIVE}|authorization|cookies?|set-cookie|x-admin-token)$"
)


@functools.lru_cache(maxsize=1024)
def _is_sensitive_key(key: str) -> bool:
    # Cached: the same few field names come back on every line (bounded for keys from data).
    return _SENSITIVE_KEY.match(key) is not None


def redact_value(key: str, value: Any, depth: int = 0) -> Any:
    """Redact a structured value: secret-named keys wholesale, strings by pattern, recursively."""
    if isinstance(key, str) and _is_sensitive_key(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if depth > 5:
        return value
    if isinstance(value, dict):
        return {k: redact_value(k, v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value("", v, depth + 1) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Applies `redact` to the message, the extra fields and any traceback of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        fields = record.__dict__
        for key in fields.keys() - _STANDARD:  # the extra fields, found in one set operation
            fields[key] = redact_value(key, fields[key])
        return True


class ContextFilter(logging.Filter):
    """Adds request_id, task_id and task_name from the current context to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (
            ("request_id", request_id_var),
            ("task_id", task_id_var),
            ("task_name", task_name_var),
        ):
            if getattr(record, name, None) is None:
                value = var.get()
                if value is not None:
                    setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """Human lines: time, level, logger, context ids, message and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = record.__dict__
        extras = sorted(key for key in fields.keys() - _STANDARD if not key.startswith("_"))
        if extras:
            line += " " + " ".join(f"{key}={fields[key]}" for key in extras)
        return line


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that filters and formats a record before it takes the handler's lock.

    Only the write of the finished line is serialised. Under gunicorn's threads the plain handler
    formatted inside its lock, and a thread switched out mid-format (or waiting for the GIL after
    its write) kept every other request's log line waiting (issue 29: a third of a loaded worker's
    samples were threads queued on this lock). Lines, their order per thread and errors (reported
    by `handleError`, as by StreamHandler) are the same.
    """

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and format here, then write the line under the lock."""
        kept: Any = self.filter(record)
        if not kept:
            return False
        if isinstance(kept, logging.LogRecord):  # Python 3.12+: a filter may replace the record
            record = kept
        try:
            line = self.format(record) + self.terminator
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return True
        with self.lock:  # type: ignore[union-attr]
            try:
                self.stream.write(line)
                self.flush()  # StreamHandler's own (a stream without flush is fine)
            except RecursionError:
                raise
            except Exception:
                self.handleError(record)
        return True


def dict_config(log_format: str = "text", level: str = "INFO") -> dict[str, Any]:
    """A logging.dictConfig for web (gunicorn included), worker and beat alike."""
    if log_format == "json":
        formatter: dict[str, Any] = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,
        }
    else:
        formatter = {
            "()": "core.base.logging.TextFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "core.base.logging.ContextFilter"},
            "redact": {"()": "core.base.logging.RedactingFilter"},
        },
        "formatters": {"main": formatter},
        "handlers": {
            "stderr": {
                "class": "core.base.logging.LineHandler",
                "stream": "ext://sys.stderr",
                "formatter": "main",
                "filters": ["context", "redact"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            "werkzeug": {"level": "WARNING", "handlers": [], "propagate": True},
            "urllib3": {"level": "WARNING", "handlers": [], "propagate": True},
            "alembic.runtime.plugins": {"level": "WARNING", "handlers": [], "propagate": True},
            # billiard's pool logs ("Process ... exited with signal 15") to this logger and turns
            # its propagation off: without a handler of ours its lines would bypass the format.
            "multiprocessing": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
        },
    }


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    """Install Aula's handlers on the root logger (idempotent)."""
    logging.config.dictConfig(dict_config(log_format, level))
    logging.captureWarnings(True)


def configure_process_logging(settings: Settings) -> None:
    """A process's logging from its settings: format, level and every secret setting redacted."""
    configure_logging(settings.log_format, settings.log_level)
    register_setting_secrets(settings)
